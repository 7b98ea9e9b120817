/**
 * NGramModel: the n-gram language model (MLE, add-k, interpolated modified Kneser–Ney) on the
 * native engine. See native/ngram/model.hh for the estimators and docs/theory.md for the conventions.
 */
import { checkThreads } from '../util/check.js';
import { availableParallelism, totalmem } from 'node:os';
import { constants as bufferConstants } from 'node:buffer';
import { CollapseError, fromNative } from '../errors.js';
import { loadNative, type NativeNGram, type NativeNGramInfo } from '../native.js';
import { writeFileAtomic } from '../util/fs.js';
import { readRegularFile } from '../util/paths.js';
import { CallQueue, snapshot } from './queue.js';
import { checkMemory, memoryLimit, ngramFitBytes } from '../util/memory.js';
import type { EvaluateResult, LanguageModel, SampleOptions, SampleResult, TokenCorpus } from './types.js';
import { bad, checkCorpus, checkInt, checkNumber, checkSampleOptions, describe, isU32 } from './validate.js';

export type Smoothing = 'kneser-ney' | 'mle' | 'add-k';
const SMOOTHING_IDS: Record<Smoothing, number> = { mle: 0, 'add-k': 1, 'kneser-ney': 2 };
const SMOOTHING_NAMES: Smoothing[] = ['mle', 'add-k', 'kneser-ney'];

export interface NGramOptions {
  /** Longest n-gram, 1..12 (3 = trigram). */
  order: number;
  /** Estimator. Default 'kneser-ney'. */
  smoothing?: Smoothing;
  /** Add-k constant (> 0), for smoothing 'add-k'. Default 1. */
  k?: number;
  /** Vocabulary size V: token ids are 0..V-1. */
  vocabSize: number;
  /** BOS / EOS ids. Default 1 and 2 (collapse-lab's own vocabularies). */
  bos?: number;
  eos?: number;
  /** Threads for scoring, sampling and conditionals. Default: all cores. Results never depend on it. */
  threads?: number;
  /**
   * Refuse (E_MEMORY_LIMIT) a fit whose estimated peak memory exceeds this: bytes or "8G".
   * Default: $COLLAPSE_MEMORY_LIMIT, else 80 % of the machine's memory (src/util/memory.ts).
   */
  memoryLimit?: number | string;
}

export interface NGramInfo {
  order: number;
  smoothing: Smoothing;
  k: number;
  vocabSize: number;
  bos: number;
  eos: number;
  threads: number;
  fitted: boolean;
  /** Distinct seen n-grams per order 1..K. */
  ngrams?: number[];
  /** Kneser–Ney discounts [D1, D2, D3+] per order 1..K. */
  discounts?: [number, number, number][];
  /** Per order: true when counts-of-counts could not give valid discounts and 0.5/1/1.5 were used. */
  discountFallback?: boolean[];
  positions?: number;
  sequences?: number;
  /** Resident bytes of the model's arrays. */
  bytes?: number;
}

export class NGramModel implements LanguageModel {
  #native: NativeNGram;
  /** fit() is exclusive; reads wait only for earlier fits (see queue.ts). */
  #queue = new CallQueue();
  #memoryLimit: number;
  /**
   * The corpus of the last successful fit (the arrays the engine read, by reference) and a checksum
   * of their content then: a fit on that corpus followed by more sequences (the Accumulate
   * paradigm's T_{n+1} = T_n + S_n) counts the new sequences only and merges counts (the engine's
   * extend(), bit-identical to the refit). The checksum catches arrays changed in place since.
   */
  #trained: { tokens: Uint32Array; offsets: Uint32Array; sum: number } | null = null;

  constructor(options: NGramOptions) {
    if (typeof options !== 'object' || options === null) bad('NGramModel expects an options object');
    const order = checkInt('order', options.order, 1, 12);
    const smoothing = options.smoothing ?? 'kneser-ney';
    if (typeof smoothing !== 'string' || !Object.hasOwn(SMOOTHING_IDS, smoothing)) bad(`smoothing must be one of kneser-ney, mle, add-k; got ${describe(smoothing)}`);
    const k = options.k === undefined ? 1 : checkNumber('k', options.k, (x) => x > 0 && Number.isFinite(x), 'a finite number > 0');
    const vocabSize = checkInt('vocabSize', options.vocabSize, 3, 0x7fffffff);
    const bos = options.bos === undefined ? 1 : checkInt('bos', options.bos, 0, vocabSize - 1);
    const eos = options.eos === undefined ? 2 : checkInt('eos', options.eos, 0, vocabSize - 1);
    if (bos === eos) bad('bos and eos must be different ids for an n-gram model');
    const threads = options.threads === undefined ? availableParallelism() : checkThreads(options.threads);
    this.#memoryLimit = memoryLimit(options.memoryLimit);
    const { NGram } = loadNative();
    try {
      this.#native = new NGram({ order, smoothing: SMOOTHING_IDS[smoothing], k, vocabSize, bos, eos, threads });
    } catch (err) {
      fromNative(err);
    }
  }

  get vocabSize(): number {
    return this.#native.info().vocabSize;
  }
  get order(): number {
    return this.#native.info().order;
  }

  /** Options, and after fit/load the model's statistics. */
  info(): NGramInfo {
    const i: NativeNGramInfo = this.#native.info();
    return { ...i, smoothing: SMOOTHING_NAMES[i.smoothing] ?? 'kneser-ney' };
  }

  /** @internal The native object, for other native components (the error accounting). */
  get nativeHandle(): NativeNGram {
    return this.#native;
  }

  set threads(t: number) {
    this.#native.setThreads(checkThreads(t));
  }

  /** Counts and estimates the model from a corpus (off the JS thread). */
  async fit(corpus: TokenCorpus, options: { signal?: AbortSignal } = {}): Promise<void> {
    const c = checkCorpus(corpus);
    throwIfAborted(options.signal);
    const { order, vocabSize } = this.info();
    const sequences = Math.max(0, c.offsets.length - 1);
    checkMemory(
      `fitting an order-${order} n-gram model (vocabulary ${vocabSize}) on ${c.tokens.length} tokens`,
      ngramFitBytes({ order, vocabSize }, c.tokens.length, sequences),
      this.#memoryLimit,
      'lower the order or the vocabulary size, or fit on less data',
    );
    const copy = this.#queue.mustWait(true);
    const tokens = snapshot(c.tokens, copy);
    const offsets = snapshot(c.offsets, copy);
    await this.#queue.run(true, async () => {
      throwIfAborted(options.signal);
      const prev = this.#trained;
      this.#trained = null;
      const rest = prev && this.#native.info().fitted ? extension(prev, tokens, offsets) : null;
      const trained = { tokens, offsets, sum: checksum(tokens, offsets) };
      try {
        if (rest) await this.#native.extend(rest.tokens, rest.offsets);
        else await this.#native.fit(tokens, offsets);
      } catch (err) {
        fromNative(err);
      }
      this.#trained = trained;
    });
  }

  /** Log-likelihood and perplexity of every position (EOS included) of a corpus. */
  async evaluate(corpus: TokenCorpus, options: { perPosition?: boolean } = {}): Promise<EvaluateResult> {
    const c0 = checkCorpus(corpus);
    const copy = this.#queue.mustWait(false);
    const c = { tokens: snapshot(c0.tokens, copy), offsets: snapshot(c0.offsets, copy) };
    return this.#queue.run(false, async () => {
      try {
        let r;
        let logProbs: Float64Array | undefined;
        if (options.perPosition) {
          const pending = this.#native.evaluate(c.tokens, c.offsets, true);
          r = await pending.promise;
          logProbs = pending.logProbs;
        } else {
          r = await this.#native.evaluate(c.tokens, c.offsets, false);
        }
        const perplexity = r.positions === 0 ? NaN : Math.exp(-r.logLikelihood / r.positions);
        return { logLikelihood: r.logLikelihood, positions: r.positions, perplexity, zeroProbability: r.zeroProbability, ...(logProbs ? { logProbs } : {}) };
      } catch (err) {
        fromNative(err);
      }
    });
  }

  /** Draws whole sequences (BOS → EOS, cut at maxLength). */
  async sample(options: SampleOptions): Promise<SampleResult> {
    const request = checkSampleOptions(options, 0xfffffff0);
    return this.#queue.run(false, async () => {
      try {
        return await this.#native.sample(request);
      } catch (err) {
        fromNative(err);
      }
    });
  }

  /**
   * Dense rows p̂(·|x) for a batch of contexts: `contexts` holds rows of `width` ids (default
   * order − 1, left-padded with BOS as docs/theory.md writes them); returns rows × vocabSize.
   */
  async conditional(contexts: Uint32Array, options: { width?: number; float64?: boolean } = {}): Promise<Float32Array | Float64Array> {
    if (!isU32(contexts)) bad(`contexts must be a Uint32Array, got ${describe(contexts)}`);
    const width = options.width === undefined ? Math.max(1, this.order - 1) : checkInt('width', options.width, 1, 4096);
    if (contexts.length % width !== 0) bad(`contexts.length (${contexts.length}) must be a multiple of the context width (${width})`);
    const ctx = snapshot(contexts, this.#queue.mustWait(false));
    return this.#queue.run(false, async () => {
      try {
        const pending = this.#native.conditional(ctx, width, options.float64 === true);
        await pending.promise;
        return pending.rows;
      } catch (err) {
        fromNative(err);
      }
    });
  }

  /**
   * Raw training counts c(x, v) at each full context (no backoff) and c(x): the empirical
   * distribution emp_T(v|x) = c(x,v)/c(x) of the corpus the model was fitted on.
   */
  async counts(contexts: Uint32Array, options: { width?: number } = {}): Promise<{ rows: Float64Array; totals: Float64Array }> {
    if (!isU32(contexts)) bad(`contexts must be a Uint32Array, got ${describe(contexts)}`);
    const width = options.width === undefined ? Math.max(1, this.order - 1) : checkInt('width', options.width, 1, 4096);
    if (contexts.length % width !== 0) bad(`contexts.length (${contexts.length}) must be a multiple of the context width (${width})`);
    const ctx = snapshot(contexts, this.#queue.mustWait(false));
    return this.#queue.run(false, async () => {
      try {
        const pending = this.#native.counts(ctx, width);
        await pending.promise;
        return { rows: pending.rows, totals: pending.totals };
      } catch (err) {
        fromNative(err);
      }
    });
  }

  /** Writes the model to one file, atomically. */
  async save(path: string): Promise<void> {
    if (typeof path !== 'string' || path.length === 0) bad('save expects a file path');
    let bytes: Buffer;
    try {
      bytes = await this.#queue.run(false, () => this.#native.serialize());
    } catch (err) {
      fromNative(err);
    }
    await writeFileAtomic(path, bytes);
  }

  /** Reads a model written by save(). */
  static async load(path: string, options: { threads?: number } = {}): Promise<NGramModel> {
    if (typeof path !== 'string' || path.length === 0) bad('load expects a file path');
    // A regular file only (a FIFO or /dev/zero would block or never end), no larger than memory.
    const data = await readRegularFile(path, {
      code: 'E_BAD_MODEL_FILE',
      what: 'model file',
      maxBytes: Math.min(bufferConstants.MAX_LENGTH, totalmem()),
    });
    const m = new NGramModel({ order: 1, vocabSize: 3, ...(options.threads ? { threads: options.threads } : {}) });
    try {
      await m.#native.load(data);
    } catch (err) {
      fromNative(err);
    }
    return m;
  }
}

/**
 * A 53-bit checksum of a corpus's arrays (two multiplicative 32-bit lanes over tokens and offsets):
 * it only has to notice arrays changed in place between two fits, not resist collisions on purpose.
 */
function checksum(tokens: Uint32Array, offsets: Uint32Array): number {
  let a = 0x9e3779b9 | 0;
  let b = 0x85ebca6b | 0;
  for (const arr of [tokens, offsets]) {
    const n = arr.length;
    for (let i = 0; i < n; i++) {
      const x = arr[i]!;
      a = Math.imul(a ^ x, 0x01000193);
      b = Math.imul((b + x) | 0, 0x5bd1e995) ^ (b >>> 15);
    }
    a = Math.imul(a ^ n, 0x01000193);
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

/**
 * When (tokens, offsets) is the previously fitted corpus followed by at least one more sequence,
 * and that corpus is unchanged since: the new sequences as a corpus of their own; else null.
 */
function extension(prev: { tokens: Uint32Array; offsets: Uint32Array; sum: number }, tokens: Uint32Array, offsets: Uint32Array): { tokens: Uint32Array; offsets: Uint32Array } | null {
  const nt = prev.tokens.length;
  const ns = prev.offsets.length;
  if (offsets.length <= ns || tokens.length < nt) return null;
  const bytes = (a: Uint32Array, n: number) => Buffer.from(a.buffer, a.byteOffset, n * 4);
  if (!bytes(offsets, ns).equals(bytes(prev.offsets, ns)) || !bytes(tokens, nt).equals(bytes(prev.tokens, nt))) return null;
  if (checksum(prev.tokens, prev.offsets) !== prev.sum) return null;
  const rest = offsets.slice(ns - 1);
  for (let i = 0; i < rest.length; i++) rest[i] = rest[i]! - nt;
  return { tokens: tokens.subarray(nt), offsets: rest };
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CollapseError('E_ABORTED', 'aborted');
}
