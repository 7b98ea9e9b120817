/**
 * Native-backed, asynchronous forms of the hot metrics: the same quantities as the pure-TS
 * functions of support.ts and diversity.ts (which stay the reference implementations), computed
 * by the engine (native/stats) on the libuv thread pool, so the JS thread stays free.
 *
 * Exactness: every count (distinct n-grams, overlaps, types, repeats, tail sizes) is the same
 * integer as the TS reference; the ratios (coverage, distinct-n, mean length, shares) and the
 * entropy are computed here in TypeScript from those integers by the same IEEE operations in the
 * same order as the reference, so each result is bit-for-bit equal to it (test/metrics/native.test.ts).
 *
 * The engine reads the corpora's typed arrays in place while a call runs: do not write to them
 * until its promise settles. All functions reject with a CollapseError (E_NATIVE_LOAD when the
 * addon is not built, plus the codes of the TS versions).
 */
import { checkThreads } from '../util/check.js';
import { CollapseError, fromNative } from '../errors.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';
import { type NativeSupportHandle, loadNative } from '../native.js';
import { DEFAULT_BOS, DEFAULT_EOS, checkCorpus, checkInt, checkTokenId, sequenceCount } from './corpus-view.js';
import type { DiversityStats } from './diversity.js';
import {
  checkSameSupportOptions,
  resolveOrders,
  MAX_NGRAM_ORDER,
  type SupportOptions,
  type SupportOrderStats,
  type TailRetention,
  type TailRetentionOptions,
} from './support.js';

export interface NativeMetricsOptions {
  /** Engine threads for one call (default: the machine's cores). Results never depend on it. */
  threads?: number;
}

/**
 * The distinct n-grams of a reference corpus, per order, held by the engine: build it once for D
 * with `ngramSupportAsync` and pass it to `supportStatsAsync` every generation. Its memory is
 * freed when it is garbage-collected.
 */
export interface NativeNgramSupport {
  readonly kind: 'native-ngram-support';
  readonly orders: readonly number[];
  readonly bos: number;
  readonly eos: number;
  /** Positions of the corpus (= n-grams of each order). */
  readonly positions: number;
  /** sizes[i]: distinct n-grams of order orders[i]. */
  readonly sizes: readonly number[];
  /** Engine memory held, bytes (approximate). */
  readonly bytes: number;
  /** The engine's handle (internal: only supportStatsAsync reads it). */
  readonly handle: NativeSupportHandle;
}

function threadsOf(options: NativeMetricsOptions): number | undefined {
  return options.threads === undefined ? undefined : checkThreads(options.threads);
}

function isNativeSupport(x: unknown): x is NativeNgramSupport {
  return typeof x === 'object' && x !== null && (x as { kind?: unknown }).kind === 'native-ngram-support';
}

/** `ngramSupport` in the engine: the distinct n-grams of every order of `corpus` (default 1–3). */
export async function ngramSupportAsync(
  corpus: TokenCorpus,
  options: SupportOptions & NativeMetricsOptions = {},
): Promise<NativeNgramSupport> {
  checkCorpus(corpus, 'ngramSupportAsync');
  const orders = resolveOrders(options.orders);
  const bos = checkTokenId(options.bos ?? DEFAULT_BOS, 'bos');
  const eos = checkTokenId(options.eos ?? DEFAULT_EOS, 'eos');
  const threads = threadsOf(options);
  const native = loadNative();
  try {
    const r = await native.stats.supportBuild(corpus.tokens, corpus.offsets, Uint32Array.from(orders), bos, eos, threads);
    return {
      kind: 'native-ngram-support',
      orders,
      bos,
      eos,
      positions: r.positions,
      sizes: Array.from(r.sizes),
      bytes: r.bytes,
      handle: r.handle,
    };
  } catch (err) {
    return fromNative(err);
  }
}

/**
 * `supportStats` in the engine: distinct n-grams of `sample`, of `reference` and of both, per
 * order. `reference` may be a corpus or a prebuilt `ngramSupportAsync(D)`; in the latter case its
 * orders, bos and eos are used, and options that contradict them are an E_BAD_ARGUMENT.
 * Equal to `supportStats(sample, reference, options)`, field by field.
 */
export async function supportStatsAsync(
  sample: TokenCorpus,
  reference: TokenCorpus | NativeNgramSupport,
  options: SupportOptions & NativeMetricsOptions = {},
): Promise<SupportOrderStats[]> {
  checkCorpus(sample, 'supportStatsAsync sample');
  let ref: NativeNgramSupport;
  if (isNativeSupport(reference)) {
    ref = reference;
    checkSameSupportOptions(ref, options, 'supportStatsAsync');
  } else {
    ref = await ngramSupportAsync(reference, options);
  }
  const native = loadNative();
  let raw: Float64Array;
  try {
    raw = await native.stats.supportCompare(sample.tokens, sample.offsets, ref.handle, threadsOf(options));
  } catch (err) {
    return fromNative(err);
  }
  return ref.orders.map((order, t) => {
    const sampleDistinct = raw[4 * t + 1]!;
    const referenceDistinct = raw[4 * t + 2]!;
    const both = raw[4 * t + 3]!;
    return {
      order,
      sample: sampleDistinct,
      reference: referenceDistinct,
      both,
      novel: sampleDistinct - both,
      coverage: referenceDistinct === 0 ? 0 : both / referenceDistinct,
    };
  });
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** `diversity` in the engine; equal to `diversity(sample)`, field by field. */
export async function diversityAsync(sample: TokenCorpus, options: NativeMetricsOptions = {}): Promise<DiversityStats> {
  checkCorpus(sample, 'diversityAsync');
  const native = loadNative();
  let r: Awaited<ReturnType<typeof native.stats.diversity>>;
  try {
    r = await native.stats.diversity(sample.tokens, sample.offsets, threadsOf(options));
  } catch (err) {
    return fromNative(err);
  }
  const nseq = sequenceCount(sample);
  const ntok = sample.tokens.length;
  // The entropy exactly as diversity() sums it: types in ascending id order.
  const { counts } = r;
  let entropy = 0;
  for (let i = 0; i < counts.length; i++) {
    const f = counts[i]! / ntok;
    entropy -= f * Math.log(f);
  }
  return {
    unigramEntropy: entropy === 0 ? 0 : entropy,
    distinct1: ratio(counts.length, ntok),
    distinct2: ratio(r.distinct2, r.total2),
    distinct3: ratio(r.distinct3, r.total3),
    meanLength: ratio(ntok, nseq),
    repeatedShare: ratio(r.repeated, nseq),
    sequences: nseq,
    tokens: ntok,
    repeated: r.repeated,
  };
}

/** `tailRetention` in the engine; equal to `tailRetention(sample, reference, options)`. */
export async function tailRetentionAsync(
  sample: TokenCorpus,
  reference: TokenCorpus,
  options: TailRetentionOptions = {},
): Promise<TailRetention> {
  checkCorpus(sample, 'tailRetention sample');
  checkCorpus(reference, 'tailRetention reference');
  const q = options.quantile ?? 0.25;
  if (typeof q !== 'number' || !(q > 0 && q <= 1)) {
    throw new CollapseError('E_BAD_ARGUMENT', `tailRetention: quantile must be in (0, 1] (got ${String(q)})`);
  }
  // Only uint32 values can equal a token id; any other value excludes nothing (as in the TS Set).
  const exclude = Uint32Array.from(
    Array.from(options.exclude ?? []).filter((v) => Number.isInteger(v) && v >= 0 && v <= 0xffffffff),
  );
  const native = loadNative();
  try {
    const r = await native.stats.tailRetention(sample.tokens, reference.tokens, q, exclude);
    return {
      share: r.retained / r.tailTypes,
      tailTypes: r.tailTypes,
      retained: r.retained,
      types: r.types,
      maxTailCount: r.maxTailCount,
      tieCut: r.tieCut,
      tail: r.tail,
    };
  } catch (err) {
    return fromNative(err);
  }
}
