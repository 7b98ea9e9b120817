/**
 * Memory budget: estimates of the peak memory a native call will allocate, and the limit they are
 * checked against before anything is allocated, so that what cannot fit ends in a CollapseError
 * (E_MEMORY_LIMIT, naming the estimate and the limit) instead of the OOM killer.
 *
 * The limit: the `memoryLimit` option (models, runExperiment), else the COLLAPSE_MEMORY_LIMIT
 * environment variable, else 80 % of the machine's memory (the cgroup limit where one is set).
 * Sizes are bytes or a number with a binary suffix: 512M, 8G, 1.5T (K/M/G/T = 2^10/20/30/40).
 *
 * The estimates are upper-ish bounds read off the engine's allocations (native/ngram/model.cc,
 * native/transformer/*.cc, native/addon's input copies): they count every array the call creates
 * at its largest, and assume the worst case where the size depends on the data (every n-gram
 * distinct). test/robustness/memory.test.ts checks them against the measured peak RSS growth.
 */
import { constrainedMemory, env } from 'node:process';
import { totalmem } from 'node:os';
import { CollapseError } from '../errors.js';

/** Share of the machine's memory that the default limit allows. */
export const DEFAULT_MEMORY_SHARE = 0.8;

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Parses a size: a byte count or "8G", "512M", "1.5T", "64KiB", "2GB" (binary units). */
export function parseByteSize(value: unknown, source = 'memory limit'): number {
  let bytes: number;
  if (typeof value === 'number') bytes = value;
  else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$/.exec(value);
    if (!m) throw new CollapseError('E_BAD_ARGUMENT', `${source} must be a byte count or a size such as 8G or 512M, got ${JSON.stringify(value)}`);
    bytes = Number(m[1]) * UNITS[m[2]!.toUpperCase()]!;
  } else {
    throw new CollapseError('E_BAD_ARGUMENT', `${source} must be a byte count or a size such as 8G or 512M, got ${typeof value}`);
  }
  if (!Number.isFinite(bytes) || bytes < 1) throw new CollapseError('E_BAD_ARGUMENT', `${source} must be a positive size, got ${String(value)}`);
  return Math.floor(bytes);
}

/** The machine's memory as this process may use it: the cgroup limit when lower than RAM. */
export function machineMemory(): number {
  const total = totalmem();
  let c = 0;
  try {
    c = constrainedMemory?.() ?? 0;
  } catch {
    c = 0;
  }
  return c > 0 && c < total ? c : total;
}

/** The limit in bytes: `option`, else $COLLAPSE_MEMORY_LIMIT, else 80 % of machineMemory(). */
export function memoryLimit(option?: number | string): number {
  if (option !== undefined) return parseByteSize(option, 'memoryLimit');
  const e = env.COLLAPSE_MEMORY_LIMIT;
  if (e !== undefined && e !== '') return parseByteSize(e, 'COLLAPSE_MEMORY_LIMIT');
  return Math.floor(machineMemory() * DEFAULT_MEMORY_SHARE);
}

/** "3.2 GiB" */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toPrecision(3)} ${units[i]}`;
}

/**
 * Throws E_MEMORY_LIMIT when `estimate` exceeds `limit`: "<what> needs about X (estimate), more
 * than the memory limit Y; <hint>; or raise the limit (memoryLimit, --memory-limit, COLLAPSE_MEMORY_LIMIT)".
 */
export function checkMemory(what: string, estimate: number, limit: number, hint?: string): void {
  if (!(estimate > limit)) return;
  throw new CollapseError(
    'E_MEMORY_LIMIT',
    `${what} needs about ${formatBytes(estimate)} of memory (estimate), more than the memory limit of ${formatBytes(limit)}` +
      `${hint ? `; ${hint}` : ''}; or raise the limit (option memoryLimit, --memory-limit or COLLAPSE_MEMORY_LIMIT)`,
  );
}

// ---------------------------------------------------------------------------------------------
// n-gram engine (native/ngram/model.cc)

/**
 * Peak bytes of fitting an order-K model with vocabulary V on a corpus of `tokens` tokens in
 * `sequences` sequences. Level 1 is dense over V (parent/word/count/suffix, prob/cum, gamma,
 * childBegin, the bucket starts and BOS flags: measured 61 B per id). Each higher level holds at
 * most one node per position R = tokens + sequences, and the counting passes hold keys, orders and
 * ids per position at once, plus the addon's copy of the corpus: 48 B per position and 48 B per
 * position and level above 1. Measured (test/robustness/memory.test.ts): 1.1× the peak for a
 * dense 2·10⁷-id vocabulary, 2.7× and 4.7× for random text at orders 3 and 6 (whose high levels
 * stay small), 1.3× for a whole 5-gram run on Brown (three paradigms, three generations).
 */
export function ngramFitBytes(o: { order: number; vocabSize: number }, tokens: number, sequences: number): number {
  const R = tokens + sequences;
  return 68 * o.vocabSize + 48 * R + 48 * Math.max(0, o.order - 1) * R + (4 << 20);
}

// ---------------------------------------------------------------------------------------------
// transformer engine (native/transformer/model.cc, train.cc, infer.cc)

export interface TransformerShape {
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  contextLength: number;
  intermediate: number;
}

/** Parameters in the engine's block (wte tied to lm_head; the layout of model.cc). */
export function transformerParamCount(c: TransformerShape): number {
  const C = c.hidden;
  const I = c.intermediate;
  const perLayer = 2 * C + 4 * C * C + C + 2 * C + I * C + I + C * I + C;
  return c.vocabSize * C + c.contextLength * C + c.layers * perLayer + 2 * C;
}

/** Floats of the activation block for a (B, T) batch (model.cc bindActs). */
function activationFloats(c: TransformerShape, B: number, T: number, backward: boolean): number {
  const BT = B * T;
  const C = c.hidden;
  const I = c.intermediate;
  const L = c.layers;
  const chunk = Math.max(1, Math.min(BT, Math.max(256, Math.floor(2 ** 21 / c.vocabSize))));
  let n = BT * C + L * BT * (C + 2) + L * BT * 3 * C + L * BT * C + L * BT * c.heads + L * BT * C + L * BT * (C + 2);
  n += 2 * L * BT * I + L * BT * C + BT * (C + 2) + BT + chunk * c.vocabSize;
  if (backward) n += 3 * BT * C + BT * 3 * C + BT * I;
  return n;
}

export type TransformerPhase =
  | { kind: 'construct' }
  | { kind: 'train'; batchSize: number; seqLen: number; tokens: number; sequences: number }
  | { kind: 'evaluate'; tokens: number; sequences: number }
  | { kind: 'conditional'; rows: number }
  | { kind: 'sample'; maxLength: number; threads: number };

/**
 * Peak bytes of the engine for one phase: parameters and gradients (8 B per parameter, allocated
 * at construction), plus for training the AdamW moments (8 B), both packed copies of wte for the
 * lm_head (8·V·C B), the activations of a batch, the token stream and the addon's corpus copy;
 * for scoring the forward activations of a batch of ≤ 8192 tokens and the packed lm_head; for
 * sampling the packed weights and the KV caches (≤ 512 MiB) and per-slot logits.
 */
export function transformerBytes(c: TransformerShape, phase: TransformerPhase): number {
  const P = transformerParamCount(c);
  const base = 8 * P + (4 << 20);
  // Kernel scratch and packing slack of one call (thread-local buffers, padded panels).
  const scratch = 16 * 2 ** 20;
  const VC = c.vocabSize * c.hidden;
  switch (phase.kind) {
    case 'construct':
      return base;
    case 'train':
      return (
        base +
        scratch +
        8 * P +
        8 * VC +
        4 * activationFloats(c, phase.batchSize, phase.seqLen, true) +
        4 * (phase.tokens + 2 * phase.sequences + 1) +
        4 * (phase.tokens + phase.sequences + 1) +
        12 * phase.batchSize * phase.seqLen +
        4 * Math.ceil((phase.tokens + 2 * phase.sequences) / Math.max(1, phase.seqLen))
      );
    case 'evaluate': {
      const T = Math.min(c.contextLength, 8192);
      const B = Math.max(1, Math.min(64, Math.floor(8192 / T)));
      // The addon's corpus copy, the windows (32 B each, at most one per position) and per-position log-probs.
      const perPos = 4 + 32 + 8;
      return base + scratch + 4 * VC + 4 * activationFloats(c, B, T, false) + perPos * (phase.tokens + phase.sequences) + 4 * B * T * 3;
    }
    case 'conditional': {
      const T = Math.min(c.contextLength, 8192);
      const B = Math.max(1, Math.min(64, Math.floor(8192 / T), phase.rows));
      return base + scratch + 4 * activationFloats(c, B, T, false) + 4 * B * c.vocabSize + 4 * phase.rows * c.vocabSize;
    }
    case 'sample': {
      const lanes = Math.max(1, phase.threads);
      // Packed weights (about one more copy of the parameters); the KV caches: ≤ 512 MiB in all,
      // but at least one slot (layers × 2 × maxLength × hidden floats) per lane; 64 slots of
      // logits and state per lane.
      const kv = Math.max(512 * 2 ** 20, lanes * 4 * c.layers * 2 * phase.maxLength * c.hidden);
      return base + 4 * P + 4 * VC + kv + lanes * 64 * 4 * (c.vocabSize + 6 * c.hidden + c.intermediate);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// a whole experiment (src/experiment/runner.ts)

export interface RunShape {
  /** n-gram: paradigms run concurrently; transformer: one after another. */
  model: { kind: 'ngram'; order: number } | ({ kind: 'transformer'; batchSize: number; seqLen: number; maxLength: number; threads: number } & TransformerShape);
  vocabSize: number;
  /** Per paradigm: the most positions T_n holds, and the most its pool (every kept sample) holds. */
  paradigms: { train: number; pool: number }[];
  probes: number;
  theory: boolean;
}

/**
 * Peak bytes of a run: per paradigm (all at once for n-grams) its token pools (T_n, the pool, S_n
 * and the copies handed to the engine: 16 B per position), the model's fit/train peak, its probe
 * rows (K × V; 64 × V for an n-gram, made block by block) and, with --theory, the accounting's K × V rows; plus the reference rows p0 (K × V
 * doubles) shared by all, and a fixed 256 MiB for Node, the corpus and the metrics.
 */
export function runBytes(r: RunShape): number {
  const KV = r.probes * r.vocabSize;
  const perParadigm = r.paradigms.map((p) => {
    let b = 16 * (p.train + p.pool) + (r.theory ? 8 * KV : 0);
    // The probe rows p̂_n(·|x) are float64 (exact divergences); an n-gram's are made and summed 64
    // probes at a time (metrics/divergence.ts divergenceStreamed).
    if (r.model.kind === 'ngram') b += ngramFitBytes({ order: r.model.order, vocabSize: r.vocabSize }, p.train, 0) + 8 * Math.min(r.probes, 64) * r.vocabSize;
    else {
      const m = r.model;
      b += Math.max(
        transformerBytes(m, { kind: 'train', batchSize: m.batchSize, seqLen: m.seqLen, tokens: p.train, sequences: 0 }),
        transformerBytes(m, { kind: 'sample', maxLength: m.maxLength, threads: m.threads }),
      );
      b += 12 * KV + 4 * r.probes * r.vocabSize;
    }
    return b;
  });
  const models = r.model.kind === 'ngram' ? perParadigm.reduce((a, b) => a + b, 0) : Math.max(0, ...perParadigm);
  return models + 8 * KV + 256 * 2 ** 20;
}
