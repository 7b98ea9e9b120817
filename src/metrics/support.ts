/**
 * Support and tails (docs/theory.md "Quantities reported per generation": distinct n-grams of orders
 * 1–3 of S_n against D; the share of D's rarest types that S_n still contains).
 *
 * n-grams — the documented definition: the n-grams of a corpus are those of an order-n model, one
 * per position (t1 … tm and EOS; BOS is never a target): the position's target preceded by its
 * n−1 previous tokens, the history left-padded with BOS exactly as contexts are (docs/theory.md).
 * For `BOS a b EOS`: order 1 → a, b, EOS; order 2 → (BOS a), (a b), (b EOS); order 3 →
 * (BOS BOS a), (BOS a b), (a b EOS). So EOS counts as a unigram type, BOS never does, and the
 * distinct order-n n-grams are exactly the (context, target) pairs an order-n model can see.
 * n-grams are counted in typed-array hash tables (tuple-table.ts): packed into one exact double
 * when the ids fit (order 3: ids < 2^17; order 2: < 2^26), otherwise keyed by the ids themselves,
 * so any vocabulary size and order work.
 */
import { CollapseError } from '../errors.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';
import {
  DEFAULT_BOS,
  DEFAULT_EOS,
  checkCorpus,
  checkInt,
  checkTokenId,
  fillPadded,
  positionCount,
  sequenceCount,
} from './corpus-view.js';
import { type CountTable, makeCountTable, maxOf } from './tuple-table.js';
import { indexOfId, typeCounts } from './type-counts.js';

/** Highest n-gram order accepted (a sanity bound). */
export const MAX_NGRAM_ORDER = 16;

export interface SupportOptions {
  /** n-gram orders to count (default [1, 2, 3]). */
  orders?: number[];
  /** BOS id for the left padding (default 1). */
  bos?: number;
  /** EOS id, the last target of each sequence (default 2). */
  eos?: number;
}

/**
 * The distinct n-grams of one corpus, per order: build it once for D with `ngramSupport` and pass
 * it to `supportStats` for every generation instead of re-counting D.
 */
export interface NgramSupport {
  readonly kind: 'ngram-support';
  readonly orders: readonly number[];
  readonly bos: number;
  readonly eos: number;
  /** tables[i]: distinct n-grams of order orders[i] (width = order), with their counts. */
  readonly tables: readonly CountTable[];
  /** Positions of the corpus (= n-grams of each order). */
  readonly positions: number;
}

export interface SupportOrderStats {
  order: number;
  /** Distinct order-n n-grams of the sample. */
  sample: number;
  /** Distinct order-n n-grams of the reference. */
  reference: number;
  /** Distinct order-n n-grams present in both. */
  both: number;
  /** sample − both: n-grams the reference never shows. */
  novel: number;
  /** both / reference: the share of the reference's support the sample still reaches (0 if empty). */
  coverage: number;
}

/** Throws unless `options` (where given) match those a prebuilt reference support was built with. */
export function checkSameSupportOptions(ref: { orders: readonly number[]; bos: number; eos: number }, options: SupportOptions, caller: string): void {
  const same =
    (options.orders === undefined || (options.orders.length === ref.orders.length && options.orders.every((o, i) => o === ref.orders[i]))) &&
    (options.bos === undefined || options.bos === ref.bos) &&
    (options.eos === undefined || options.eos === ref.eos);
  if (!same) {
    throw new CollapseError('E_BAD_ARGUMENT', `${caller}: options differ from those the reference support was built with`);
  }
}

/** The n-gram orders to count (default 1–3), checked: integers in range, no repeats. */
export function resolveOrders(orders: number[] | undefined): number[] {
  const list = orders ?? [1, 2, 3];
  if (!Array.isArray(list) || list.length === 0) {
    throw new CollapseError('E_BAD_ARGUMENT', 'orders must be a non-empty array of n-gram orders');
  }
  const seen = new Set<number>();
  for (const o of list) {
    checkInt('order', o, 1, MAX_NGRAM_ORDER);
    if (seen.has(o)) throw new CollapseError('E_BAD_ARGUMENT', `order ${o} is listed twice`);
    seen.add(o);
  }
  return list.slice();
}

/** Counts the distinct n-grams of every order in `orders` over the positions of `corpus`. */
export function ngramSupport(corpus: TokenCorpus, options: SupportOptions = {}): NgramSupport {
  const maxLen = checkCorpus(corpus, 'ngramSupport').maxLength;
  const orders = resolveOrders(options.orders);
  const bos = checkTokenId(options.bos ?? DEFAULT_BOS, 'bos');
  const eos = checkTokenId(options.eos ?? DEFAULT_EOS, 'eos');
  const positions = positionCount(corpus);
  const pad = orders.reduce((a, b) => Math.max(a, b), -Infinity) - 1;
  const maxId = Math.max(maxOf(corpus.tokens), bos, eos);
  // First sizes only (tables double as needed): distinct n-grams ≤ positions.
  const tables = orders.map((o) => makeCountTable(o, maxId, Math.min(positions, o === 1 ? 1 << 14 : 1 << 18)));
  const buf = new Uint32Array(pad + maxLen + 1);
  const nseq = sequenceCount(corpus);
  for (let i = 0; i < nseq; i++) {
    const m = fillPadded(corpus, i, buf, pad, bos, eos);
    for (let t = 0; t < orders.length; t++) {
      const table = tables[t]!;
      // The order-n n-gram of position j is buf[pad + j − (n−1) .. pad + j]: start = shift + j.
      const shift = pad - (orders[t]! - 1);
      for (let j = 0; j <= m; j++) table.add(buf, shift + j, 1);
    }
  }
  return { kind: 'ngram-support', orders, bos, eos, tables, positions };
}

function isNgramSupport(x: unknown): x is NgramSupport {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'ngram-support';
}

/**
 * Distinct n-grams of `sample`, of `reference` and of both, per order (default orders 1–3).
 * `reference` may be a corpus or a prebuilt `ngramSupport(D)`; in the latter case its orders,
 * bos and eos are used, and options that contradict them are an E_BAD_ARGUMENT.
 */
export function supportStats(
  sample: TokenCorpus,
  reference: TokenCorpus | NgramSupport,
  options: SupportOptions = {},
): SupportOrderStats[] {
  let ref: NgramSupport;
  if (isNgramSupport(reference)) {
    ref = reference;
    checkSameSupportOptions(ref, options, 'supportStats');
  } else {
    ref = ngramSupport(reference, options);
  }
  const smp = ngramSupport(sample, { orders: ref.orders.slice(), bos: ref.bos, eos: ref.eos });

  return ref.orders.map((order, t) => {
    const rt = ref.tables[t]!;
    const st = smp.tables[t]!;
    let both = 0;
    // Look every distinct sample n-gram up in the reference (the two tables may pack differently,
    // so go through the ids).
    const ids = new Uint32Array(order);
    for (let h = 0; h < st.handleLimit; h++) {
      if (!st.used(h)) continue;
      st.writeTuple(h, ids, 0);
      if (rt.find(ids, 0) >= 0) both++;
    }
    return {
      order,
      sample: st.size,
      reference: rt.size,
      both,
      novel: st.size - both,
      coverage: rt.size === 0 ? 0 : both / rt.size,
    };
  });
}

export interface TailRetentionOptions {
  /** Share of the reference's types that forms the tail (default 0.25: the lowest quartile). */
  quantile?: number;
  /** Ids never counted as types (e.g. [unk] to leave <unk> out). Default: none. */
  exclude?: ArrayLike<number>;
}

export interface TailRetention {
  /** retained / tailTypes: the share of the tail types that occur at least once in the sample. */
  share: number;
  /** Size of the tail: ceil(quantile × types). */
  tailTypes: number;
  /** Tail types found in the sample. */
  retained: number;
  /** Distinct token types of the reference (after `exclude`). */
  types: number;
  /** Highest reference count inside the tail. */
  maxTailCount: number;
  /** True when types with count maxTailCount were split between the tail and the rest. */
  tieCut: boolean;
  /** The tail ids, in tail order (count ascending, then id ascending). */
  tail: Uint32Array;
}

/**
 * The share of the reference's rarest token types that the sample still contains.
 *
 * Types are the distinct token ids of `reference.tokens` (BOS/EOS are not stored in a corpus, so
 * they are not types; `<unk>` is a type unless excluded). The tail — the documented tie rule — is
 * exactly ceil(quantile × types) types, taken in the order (count ascending, id ascending): so its
 * size never depends on ties, and ties at the boundary count are broken by id (lowest ids first).
 * The tail depends only on the reference, so for a fixed D it is the same set every generation.
 * `tieCut` tells whether the boundary split a group of equal counts.
 *
 * Throws E_CORPUS_EMPTY if the reference has no token types.
 */
export function tailRetention(
  sample: TokenCorpus,
  reference: TokenCorpus,
  options: TailRetentionOptions = {},
): TailRetention {
  checkCorpus(sample, 'tailRetention sample');
  checkCorpus(reference, 'tailRetention reference');
  const q = options.quantile ?? 0.25;
  if (typeof q !== 'number' || !(q > 0 && q <= 1)) {
    throw new CollapseError('E_BAD_ARGUMENT', `tailRetention: quantile must be in (0, 1] (got ${String(q)})`);
  }
  const excluded = new Set<number>(Array.from(options.exclude ?? []));

  const ref = typeCounts(reference.tokens);
  // Reference types after exclusion, as indices into ref.ids.
  const idx: number[] = [];
  for (let i = 0; i < ref.ids.length; i++) if (!excluded.has(ref.ids[i]!)) idx.push(i);
  const types = idx.length;
  if (types === 0) {
    throw new CollapseError('E_CORPUS_EMPTY', 'tailRetention: the reference has no token types');
  }
  // ref.ids are ascending, so a stable sort on count alone gives (count asc, id asc).
  idx.sort((a, b) => ref.counts[a]! - ref.counts[b]! || a - b);
  const tailTypes = Math.ceil(q * types);
  const tail = new Uint32Array(tailTypes);
  for (let r = 0; r < tailTypes; r++) tail[r] = ref.ids[idx[r]!]!;
  const maxTailCount = ref.counts[idx[tailTypes - 1]!]!;
  const tieCut = tailTypes < types && ref.counts[idx[tailTypes]!]! === maxTailCount;

  const smp = typeCounts(sample.tokens);
  let retained = 0;
  for (let r = 0; r < tailTypes; r++) if (indexOfId(smp.ids, tail[r]!) >= 0) retained++;
  return { share: retained / tailTypes, tailTypes, retained, types, maxTailCount, tieCut, tail };
}
