/**
 * Training a GPT-2-style byte-level BPE tokenizer on a corpus, deterministically.
 *
 * The result is an ordinary Hugging Face `tokenizer.json` (ByteLevel pre-tokenizer and decoder,
 * BPE model with `vocab` and `merges`), wrapped as an HfTokenizer: a collapse-lab checkpoint can
 * carry it, and transformers / tokenizers load it as they load GPT-2's.
 *
 * Algorithm (Sennrich et al.; as GPT-2 and HF's BpeTrainer):
 *   1. Pre-tokenize every text with GPT-2's pattern
 *        's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *      and count the pieces. Each piece is a sequence of its UTF-8 bytes.
 *   2. The initial vocabulary is all 256 bytes, written with GPT-2's bytes→unicode map
 *      (space = "Ġ", newline = "Ċ", ...): ids 0–255 in byte-value order, so every text encodes.
 *   3. Repeatedly merge the most frequent adjacent pair of symbols (frequency = summed counts of
 *      the pieces it occurs in, each occurrence counted; overlapping occurrences such as "a a a"
 *      are merged left to right). The new symbol gets the next id (256, 257, ...), unless its
 *      string is already a token (two merge paths can spell the same string), in which case the
 *      merge is recorded and the existing id reused.
 *      **Ties**: among pairs of equal frequency, the pair with the smaller left id wins, then the
 *      smaller right id. Ids are assigned in creation order, so the result depends only on the
 *      piece counts: the same corpus always gives the same tokenizer, whatever the text order.
 *   4. Stop when the vocabulary (special tokens included) reaches `vocabSize`, or when the best
 *      pair occurs fewer than `minFrequency` times (then the vocabulary is smaller than asked).
 *   5. Special tokens (default `<|endoftext|>`, serving as BOS and EOS as in GPT-2) take the last
 *      ids, after all merges.
 */
import { CollapseError } from '../errors.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';
import type { Vocabulary } from '../corpus/vocabulary.js';
import { ENDOFTEXT, HfTokenizer } from './hf.js';

/** GPT-2's pre-tokenization pattern (the one HF's ByteLevel pre-tokenizer uses). */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/** GPT-2's bytes_to_unicode: the printable character that stands for each byte. */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const out = new Array<string>(256);
  for (const b of bs) out[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (out[b] === undefined) out[b] = String.fromCodePoint(256 + n++);
  }
  return out;
}

export interface TrainBpeOptions {
  /** Total vocabulary size, the 256 bytes and the special tokens included. */
  vocabSize: number;
  /** Pairs seen fewer times are never merged. Default 2. */
  minFrequency?: number;
  /** Special tokens, appended after the merges. Default ['<|endoftext|>']. */
  specialTokens?: string[];
  /** BOS / EOS token (default: the first special token). */
  bos?: string;
  eos?: string;
}

/** Largest vocabulary the trainer builds (pair keys pack two ids into one double). */
const MAX_VOCAB = 1 << 21;

/** Binary max-heap of [count, left, right]: higher count first, then smaller left, smaller right. */
class PairHeap {
  private c: number[] = [];
  private a: number[] = [];
  private b: number[] = [];
  get size(): number {
    return this.c.length;
  }
  private before(i: number, j: number): boolean {
    const ci = this.c[i] as number;
    const cj = this.c[j] as number;
    if (ci !== cj) return ci > cj;
    const ai = this.a[i] as number;
    const aj = this.a[j] as number;
    if (ai !== aj) return ai < aj;
    return (this.b[i] as number) < (this.b[j] as number);
  }
  private swap(i: number, j: number): void {
    for (const arr of [this.c, this.a, this.b]) {
      const t = arr[i] as number;
      arr[i] = arr[j] as number;
      arr[j] = t;
    }
  }
  push(count: number, left: number, right: number): void {
    this.c.push(count);
    this.a.push(left);
    this.b.push(right);
    let i = this.c.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }
  pop(): [number, number, number] | undefined {
    const n = this.c.length;
    if (n === 0) return undefined;
    const top: [number, number, number] = [this.c[0] as number, this.a[0] as number, this.b[0] as number];
    this.swap(0, n - 1);
    this.c.pop();
    this.a.pop();
    this.b.pop();
    let i = 0;
    const m = n - 1;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < m && this.before(l, best)) best = l;
      if (r < m && this.before(r, best)) best = r;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return top;
  }
}

/** Counts GPT-2 pre-tokenization pieces of the texts. */
export function countPieces(texts: Iterable<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const text of texts) {
    if (typeof text !== 'string') throw new CollapseError('E_BAD_ARGUMENT', 'trainByteLevelBpe: texts must be strings');
    for (const m of text.matchAll(GPT2_PATTERN)) {
      const p = m[0];
      counts.set(p, (counts.get(p) ?? 0) + 1);
    }
  }
  return counts;
}

/** The tokenizer.json object of a byte-level BPE trained on `texts` (see the module comment). */
export function trainByteLevelBpeJson(texts: Iterable<string> | ReadonlyMap<string, number>, options: TrainBpeOptions): Record<string, unknown> {
  const specials = options.specialTokens ?? [ENDOFTEXT];
  const minFrequency = options.minFrequency ?? 2;
  const target = options.vocabSize;
  if (!Array.isArray(specials) || specials.some((s) => typeof s !== 'string' || s.length === 0) || new Set(specials).size !== specials.length) {
    throw new CollapseError('E_BAD_ARGUMENT', 'specialTokens must be distinct non-empty strings');
  }
  if (!Number.isSafeInteger(target) || target < 256 + specials.length || target > MAX_VOCAB) {
    throw new CollapseError(
      'E_BAD_ARGUMENT',
      `vocabSize must be an integer in [${256 + specials.length}, ${MAX_VOCAB}] (256 bytes + ${specials.length} special tokens at least), got ${String(target)}`,
    );
  }
  if (!Number.isSafeInteger(minFrequency) || minFrequency < 1) {
    throw new CollapseError('E_BAD_ARGUMENT', `minFrequency must be an integer ≥ 1, got ${String(options.minFrequency)}`);
  }

  const b2u = bytesToUnicode();
  const tokens: string[] = b2u.slice(); // id → token string
  const tokenIds = new Map<string, number>(tokens.map((t, i) => [t, i]));
  for (const s of specials) {
    if (tokenIds.has(s)) throw new CollapseError('E_BAD_ARGUMENT', `special token ${JSON.stringify(s)} collides with a byte symbol`);
  }

  // Pieces as id arrays, with their counts. Sorted so that the state never depends on text order.
  const pieceCounts = texts instanceof Map ? (texts as ReadonlyMap<string, number>) : countPieces(texts as Iterable<string>);
  const enc = new TextEncoder();
  const keys = Array.from(pieceCounts.keys()).sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const words: Int32Array[] = [];
  const freq: number[] = [];
  for (const k of keys) {
    const bytes = enc.encode(k);
    if (bytes.length < 1) continue;
    words.push(Int32Array.from(bytes));
    freq.push(pieceCounts.get(k) as number);
  }

  const KEY = MAX_VOCAB;
  const pairCount = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  for (let w = 0; w < words.length; w++) {
    const s = words[w] as Int32Array;
    const f = freq[w] as number;
    for (let i = 0; i + 1 < s.length; i++) {
      const key = (s[i] as number) * KEY + (s[i + 1] as number);
      pairCount.set(key, (pairCount.get(key) ?? 0) + f);
      let set = where.get(key);
      if (!set) where.set(key, (set = new Set()));
      set.add(w);
    }
  }
  const heap = new PairHeap();
  for (const [key, c] of pairCount) heap.push(c, Math.floor(key / KEY), key % KEY);

  const merges: string[] = [];
  const room = target - specials.length;
  while (tokens.length < room) {
    const top = heap.pop();
    if (!top) break;
    const [c, a, b] = top;
    const key = a * KEY + b;
    if (pairCount.get(key) !== c) continue; // stale entry
    if (c < minFrequency) break;
    const str = (tokens[a] as string) + (tokens[b] as string);
    let id = tokenIds.get(str);
    if (id === undefined) {
      id = tokens.length;
      tokens.push(str);
      tokenIds.set(str, id);
    }
    merges.push(`${tokens[a] as string} ${tokens[b] as string}`);
    const changed = new Set<number>();
    const bump = (k: number, delta: number, w: number): void => {
      pairCount.set(k, (pairCount.get(k) ?? 0) + delta);
      changed.add(k);
      if (delta > 0) {
        let set = where.get(k);
        if (!set) where.set(k, (set = new Set()));
        set.add(w);
      }
    };
    const affected = Array.from(where.get(key) ?? []).sort((x, y) => x - y);
    for (const w of affected) {
      const s = words[w] as Int32Array;
      const f = freq[w] as number;
      let has = false;
      for (let i = 0; i + 1 < s.length && !has; i++) has = s[i] === a && s[i + 1] === b;
      if (!has) continue;
      for (let i = 0; i + 1 < s.length; i++) bump((s[i] as number) * KEY + (s[i + 1] as number), -f, w);
      const next: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (i + 1 < s.length && s[i] === a && s[i + 1] === b) {
          next.push(id);
          i++;
        } else {
          next.push(s[i] as number);
        }
      }
      const ns = Int32Array.from(next);
      words[w] = ns;
      for (let i = 0; i + 1 < ns.length; i++) bump((ns[i] as number) * KEY + (ns[i + 1] as number), f, w);
    }
    where.delete(key);
    pairCount.delete(key);
    changed.delete(key);
    for (const k of changed) {
      const n = pairCount.get(k) as number;
      if (n > 0) heap.push(n, Math.floor(k / KEY), k % KEY);
      else pairCount.delete(k);
    }
  }

  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    vocab[t] = i;
  });
  const added = specials.map((content, i) => {
    const id = tokens.length + i;
    vocab[content] = id;
    return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true };
  });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges,
    },
  };
}

/** Trains a byte-level BPE on `texts` (or on piece counts from `countPieces`) and wraps it. */
export function trainByteLevelBpe(texts: Iterable<string> | ReadonlyMap<string, number>, options: TrainBpeOptions): HfTokenizer {
  const json = trainByteLevelBpeJson(texts, options);
  const first = (options.specialTokens ?? [ENDOFTEXT])[0] as string;
  return HfTokenizer.fromJSON(json, { bos: options.bos ?? first, eos: options.eos ?? first, kind: 'bpe', source: 'trained BPE' });
}

/**
 * The texts of a word-level corpus (for example a loaded corpus's train split): each sequence's
 * words joined by single spaces. Feed it to trainByteLevelBpe to learn a BPE on the real split.
 */
export function* corpusTexts(corpus: TokenCorpus, vocabulary: Vocabulary): Generator<string> {
  const { tokens, offsets } = corpus;
  for (let s = 0; s + 1 < offsets.length; s++) {
    const words = vocabulary.decode(tokens.subarray(offsets[s] as number, offsets[s + 1] as number));
    yield words.join(' ');
  }
}
