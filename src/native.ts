/**
 * Loads the native addon and declares its raw surface. This is the only file that knows the
 * addon's shape; everything else goes through the typed wrappers (NGramModel, …).
 */
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
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
  /** The model of the current training corpus followed by this one (bit-identical to the refit). */
  extend(tokens: Uint32Array, offsets: Uint32Array): Promise<void>;
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
  unseen: number;
  headSigma: number;
  tailSigma: number;
  weight: number;
  deltaWeight: number;
  epsSum: number;
  deltaSum: number;
  sigmaSum: number;
  ESum: number;
  realShareSum: number;
  epsMax: number;
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
    realPartTokens?: Uint32Array | null,
    realPartOffsets?: Uint32Array | null,
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
let cachedBinary: NativeBinary | undefined;

/** Which compiled addon this process loaded (see nativeBinary()). */
export interface NativeBinary {
  /** Absolute path of the .node file. */
  path: string;
  /**
   * 'prebuilt': the binary shipped in the npm package (prebuilds/<platform>-<arch>/);
   * 'source': compiled on this machine (build/Release or build/Debug);
   * 'override': the file named by COLLAPSE_NATIVE_PATH.
   */
  kind: 'prebuilt' | 'source' | 'override';
}

/** Finds the package root (the folder holding package.json) from this file, in src/ or dist/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'sources.json'))) return dir;
    dir = dirname(dir);
  }
  return dirname(dirname(fileURLToPath(import.meta.url)));
}

interface GypBuildTags {
  file: string;
}
interface GypBuild {
  parseTuple(name: string): { name: string } | undefined;
  matchTuple(platform: string, arch: string): (tuple: { name: string } | undefined) => tuple is { name: string };
  compareTuples(a: { name: string }, b: { name: string }): number;
  parseTags(file: string): GypBuildTags | undefined;
  matchTags(runtime: string, abi: string): (tags: GypBuildTags | undefined) => tags is GypBuildTags;
  compareTags(runtime: string): (a: GypBuildTags, b: GypBuildTags) => number;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * The prebuilt binary under `root`/prebuilds that fits this process (platform, arch, libc), or
 * undefined. The matching is node-gyp-build's (the prebuildify naming: prebuilds/linux-x64/
 * collapse-lab.glibc.node), so a musl system does not pick a glibc binary.
 */
export function findPrebuilt(root: string = packageRoot()): string | undefined {
  const dir = join(root, 'prebuilds');
  if (!existsSync(dir)) return undefined;
  const gyp = createRequire(import.meta.url)('node-gyp-build') as GypBuild;
  const tuple = listDir(dir)
    .map((n) => gyp.parseTuple(n))
    .filter(gyp.matchTuple(process.platform, process.arch))
    .sort(gyp.compareTuples)[0];
  if (!tuple) return undefined;
  const folder = join(dir, tuple.name);
  const winner = listDir(folder)
    .map((f) => gyp.parseTags(f))
    .filter(gyp.matchTags('node', process.versions.modules))
    .sort(gyp.compareTags('node'))[0];
  return winner ? join(folder, winner.file) : undefined;
}

/** Why no prebuilt was taken, in words, for the load error. */
function prebuiltsHere(root: string): string {
  const tuple = `${process.platform}-${process.arch}`;
  const have = listDir(join(root, 'prebuilds')).flatMap((t) => listDir(join(root, 'prebuilds', t)).map((f) => `${t}/${f}`));
  return have.length
    ? `none of the package's prebuilt binaries (${have.join(', ')}) fits this ${tuple} system`
    : `this copy of the package carries no prebuilt binary (the npm package has one for linux-x64 with glibc)`;
}

/**
 * Where the addon is looked for, in order. A build from source (build/Release) comes before the
 * prebuilt: it exists only when this machine compiled one — in a checkout of collapse-lab, or in an
 * installed package after `npm rebuild collapse-lab --build-from-source` (or when no prebuilt fit)
 * — and then it is the one asked for. In an ordinary install there is no build/ and the prebuilt
 * loads. This is node-gyp-build's order too.
 */
function candidates(root: string): NativeBinary[] {
  const list: NativeBinary[] = [];
  if (process.env.COLLAPSE_NATIVE_PATH) list.push({ path: process.env.COLLAPSE_NATIVE_PATH, kind: 'override' });
  list.push({ path: join(root, 'build', 'Release', 'collapse_native.node'), kind: 'source' });
  const prebuilt = findPrebuilt(root);
  if (prebuilt) list.push({ path: prebuilt, kind: 'prebuilt' });
  list.push({ path: join(root, 'build', 'Debug', 'collapse_native.node'), kind: 'source' });
  return list;
}

export function loadNative(): NativeAddon {
  if (cached) return cached;
  const root = packageRoot();
  const require = createRequire(import.meta.url);
  const errors: string[] = [];
  for (const c of candidates(root)) {
    if (!existsSync(c.path)) {
      if (c.kind === 'override') errors.push(`COLLAPSE_NATIVE_PATH=${c.path}: no such file`);
      continue;
    }
    try {
      cached = require(c.path) as NativeAddon;
      cachedBinary = c;
      return cached;
    } catch (err) {
      errors.push(`${c.path}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  const checkout = existsSync(join(root, 'src', 'native.ts'));
  const tuple = `${process.platform}-${process.arch}`;
  const why = errors.length
    ? `it failed to load (${errors.join('; ')})`
    : checkout
      ? `no build found under ${join(root, 'build')}`
      : `${prebuiltsHere(root)} and there is no build from source under ${join(root, 'build')}`;
  const tools = 'a C++17 compiler, make, python3 and CMake (Debian/Ubuntu: apt-get install -y build-essential cmake python3)';
  const fix = checkout
    ? `install ${tools}, then run \`npm run build:native\` in ${root}`
    : `install ${tools}, then run \`npm rebuild collapse-lab --build-from-source\` in your project`;
  throw new CollapseError('E_NATIVE_LOAD', `collapse-lab's native addon is not available: ${why}. Fix: ${fix}.`);
}

/** Which compiled addon was loaded (loading it first if needed): a prebuilt or a build from source. */
export function nativeBinary(): NativeBinary {
  loadNative();
  return { ...(cachedBinary as NativeBinary) };
}
