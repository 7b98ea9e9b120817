/**
 * Loads the native addon and declares its raw surface. This is the only file that knows the
 * addon's shape; everything else goes through the typed wrappers (NGramModel, …).
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CollapseError } from './errors.js';

export interface NativeNGramInfo {
  fitted: boolean;
  order: number;
  smoothing: 0 | 1 | 2;
  k: number;
  vocabSize: number;
  bos: number;
  eos: number;
  threads: number;
  ngrams?: number[];
  discounts?: [number, number, number][];
  discountFallback?: boolean[];
  positions?: number;
  sequences?: number;
  bytes?: number;
}

export interface NativeEvalResult {
  logLikelihood: number;
  positions: number;
  zeroProbability: number;
}

/** What both native models take and give for sampling. */
export interface NativeSampleRequest {
  sequences?: number;
  tokens?: number;
  maxLength: number;
  seed: number;
  temperature?: number;
  topK?: number;
  topP?: number;
}
export interface NativeSampleResult {
  tokens: Uint32Array;
  offsets: Uint32Array;
  truncated: number;
}

export interface NativeNGram {
  fit(tokens: Uint32Array, offsets: Uint32Array): Promise<void>;
  evaluate(tokens: Uint32Array, offsets: Uint32Array, perPosition: false): Promise<NativeEvalResult>;
  evaluate(tokens: Uint32Array, offsets: Uint32Array, perPosition: true): { promise: Promise<NativeEvalResult>; logProbs: Float64Array };
  sample(options: NativeSampleRequest): Promise<NativeSampleResult>;
  conditional(contexts: Uint32Array, width: number, float64: boolean): { promise: Promise<void>; rows: Float32Array | Float64Array };
  counts(contexts: Uint32Array, width: number): { promise: Promise<void>; rows: Float64Array; totals: Float64Array };
  serialize(): Promise<Buffer>;
  load(data: Buffer): Promise<void>;
  setThreads(threads: number): void;
  info(): NativeNGramInfo;
}

/**
 * An opaque handle to a reference n-gram support held by the engine (native/stats): a Node-API
 * External; only supportCompare reads it. Freed when garbage-collected.
 */
export type NativeSupportHandle = { readonly __brand: 'NativeSupportHandle' };

/** Corpus statistics of native/stats (raw surface; wrapped by src/metrics/native-metrics.ts). */
export interface NativeStats {
  /** Distinct BOS-padded n-grams of each order of a reference corpus. `orders`: distinct, 1–16. */
  supportBuild(
    tokens: Uint32Array,
    offsets: Uint32Array,
    orders: Uint32Array,
    bos: number,
    eos: number,
    threads?: number,
  ): Promise<{ handle: NativeSupportHandle; sizes: Float64Array; positions: number; bytes: number }>;
  /** Per order of the handle: [order, sample distinct, reference distinct, both] × orders. */
  supportCompare(tokens: Uint32Array, offsets: Uint32Array, handle: NativeSupportHandle, threads?: number): Promise<Float64Array>;
  /** Integer parts of diversity(): token types (ids ascending, counts), inside 2/3-gram counts, repeats. */
  diversity(
    tokens: Uint32Array,
    offsets: Uint32Array,
    threads?: number,
  ): Promise<{
    ids: Uint32Array;
    counts: Float64Array;
    distinct2: number;
    total2: number;
    distinct3: number;
    total3: number;
    repeated: number;
  }>;
  /** tailRetention() without the final ratio. */
  tailRetention(
    sampleTokens: Uint32Array,
    referenceTokens: Uint32Array,
    quantile: number,
    exclude: Uint32Array,
  ): Promise<{ tail: Uint32Array; tailTypes: number; retained: number; types: number; maxTailCount: number; tieCut: boolean }>;
}

/** Raw surface of the GPT-Neo engine (native/transformer; wrapped by src/models/transformer.ts). */
export interface NativeTransformerOptions {
  vocabSize: number;
  contextLength: number;
  hidden: number;
  layers: number;
  heads: number;
  window: number;
  /** 0: 4 × hidden. */
  intermediate: number;
  /** One entry per layer: true = local attention. */
  local: boolean[];
  bos: number;
  eos: number;
  threads: number;
}

export interface NativeTransformerInfo extends Omit<NativeTransformerOptions, 'threads'> {
  threads: number;
  parameters: number;
  avx2: boolean;
  /** The kernel path this process runs: 'avx512', 'avx2' or 'generic' (AVX-512 gives AVX2's bits). */
  isa: 'avx512' | 'avx2' | 'generic';
}

export interface NativeTrainStep {
  /** 1-based optimizer step. */
  step: number;
  totalSteps: number;
  epoch: number;
  /** Mean cross-entropy (nats/token) of this step's batch, before the update. */
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** Tokens (input positions) seen so far. */
  tokens: number;
}

export interface NativeTransformer {
  init(seed: number): Promise<void>;
  train(
    tokens: Uint32Array,
    offsets: Uint32Array,
    options: {
      epochs?: number;
      steps?: number;
      batchSize: number;
      seqLen: number;
      lr: number;
      /** 0 constant, 1 cosine. */
      schedule: number;
      warmup: number;
      weightDecay: number;
      clip: number;
      seed: number;
    },
    onStep?: (step: NativeTrainStep) => void,
  ): Promise<{ steps: number; lastLoss: number; cancelled: boolean }>;
  /** Stops a running train() after its current step (it then resolves with cancelled: true). */
  cancel(): void;
  evaluate(
    tokens: Uint32Array,
    offsets: Uint32Array,
    stride: number,
    perPosition: boolean,
  ): { promise: Promise<{ logLikelihood: number; positions: number }>; logProbs?: Float64Array };
  sample(options: NativeSampleRequest): Promise<NativeSampleResult>;
  /** Prefix i is prefixes[starts[i] .. starts[i+1]); rows is n × vocabSize. */
  conditional(prefixes: Uint32Array, starts: Uint32Array): { promise: Promise<void>; rows: Float32Array };
  /** One forward + backward (no update); targets may hold 0xFFFFFFFF (ignored). Gradients stay in the model. */
  forwardBackward(inputs: Uint32Array, targets: Uint32Array, B: number, T: number): Promise<number>;
  /** The gradients of the last forwardBackward(), named as getParams(). */
  getGrads(): { name: string; shape: number[]; data: Float32Array }[];
  /** One AdamW step with the kept gradients; step 1 (default) resets the moments. Resolves with the gradient norm. */
  adamwStep(options: { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; clip?: number; step?: number }): Promise<number>;
  /** Mean cross-entropy over non-ignored targets. */
  loss(inputs: Uint32Array, targets: Uint32Array, B: number, T: number): Promise<number>;
  getParams(): { name: string; shape: number[]; data: Float32Array }[];
  setParams(tensors: { name: string; data: Float32Array }[]): void;
  setThreads(threads: number): void;
  info(): NativeTransformerInfo;
}

export interface NativeAccountingStep {
  probes: number;
  valid: number;
  vanished: number;
  epsL1: number;
  deltaL1: number;
  sigmaL1: number;
  EL1: number;
  realShare: number;
  headE: number;
  headEps: number;
  headDelta: number;
  tailE: number;
  tailEps: number;
  tailDelta: number;
  residual: number;
  predictedL1: number;
  deviationL1: number;
  coefEps: number[];
  coefDelta: number[];
  coefSigma: number[];
}

export interface NativeAccounting {
  step(
    n: number,
    model: NativeNGram,
    sampleTokens: Uint32Array,
    sampleOffsets: Uint32Array,
    trainTokens: Uint32Array | null,
    trainOffsets: Uint32Array | null,
    real: boolean,
    synthetic: Uint32Array,
    threads: number,
  ): Promise<NativeAccountingStep>;
  bytes(): number;
}

export interface NativeAddon {
  NGram: new (options: {
    order: number;
    smoothing: number;
    k: number;
    vocabSize: number;
    bos: number;
    eos: number;
    threads: number;
  }) => NativeNGram;
  /** Sparse next-token counts at fixed contexts (native/theory/context_counts.hh). */
  contextCounts(
    tokens: Uint32Array,
    offsets: Uint32Array,
    contexts: Uint32Array,
    width: number,
    vocabSize: number,
    bos: number,
    eos: number,
  ): Promise<{ rowPtr: Uint32Array; cols: Uint32Array; vals: Float64Array; totals: Float64Array }>;
  /** Corpus statistics for the metrics (native/stats). */
  stats: NativeStats;
  /** The GPT-Neo engine (native/transformer). */
  Transformer: new (options: NativeTransformerOptions) => NativeTransformer;
  /** Best seconds of one (M,K)·(N,K)ᵀ forward matmul over `reps` runs (benchmarks; blocks the JS thread). */
  /** isa: the kernel path ('auto', the widest the CPU has, by default). */
  transformerMatmulSeconds(M: number, N: number, K: number, threads: number, reps: number, isa?: 'auto' | 'avx512' | 'avx2' | 'generic'): number;
  /** The per-generation error accounting (native/theory/accounting.hh). */
  Accounting: new (
    options: {
      contexts: Uint32Array;
      width: number;
      weights: Float64Array;
      vocabSize: number;
      generations: number;
      accumulating: boolean;
      rate: number;
      bos: number;
      eos: number;
    },
    realTokens: Uint32Array,
    realOffsets: Uint32Array,
  ) => NativeAccounting;
  abiVersion: number;
  cuda: boolean;
}

let cached: NativeAddon | undefined;

/** Finds the package root (the folder holding package.json) from this file, in src/ or dist/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'sources.json'))) return dir;
    dir = dirname(dir);
  }
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

export function loadNative(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot();
  const candidates = [
    process.env.COLLAPSE_NATIVE_PATH,
    join(root, 'build', 'Release', 'collapse_native.node'),
    join(root, 'build', 'Debug', 'collapse_native.node'),
  ].filter((p): p is string => !!p);
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const p of candidates) {
    if (!existsSync(p)) continue;
    try {
      cached = require(p) as NativeAddon;
      return cached;
    } catch (err) {
      errors.push(`${p}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const why = errors.length
    ? `it failed to load (${errors.join('; ')}); it may have been built for another Node version`
    : `no build found under ${join(root, 'build')}`;
  throw new CollapseError(
    'E_NATIVE_LOAD',
    `collapse-lab's native addon is not available: ${why}. Fix: run \`npm run build:native\` in ${root} ` +
      '(needs a C++17 compiler, make, python3 and cmake or node-gyp).',
  );
}
