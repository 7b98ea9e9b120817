/**
 * The training-set paradigms of docs/theory.md ("Paradigms"), as data: each paradigm is one object
 * that says how T_0 and T_{n+1} are built from the real corpus D, the synthetic sets S_k and seeds,
 * how many positions each generation samples (|S_n|), which sources make up C_n for the error
 * accounting, and its rate r for the equal-shares formula. Nothing about a paradigm lives elsewhere:
 * a fifth paradigm is one more entry of PARADIGM_TABLE (and its name in PARADIGMS).
 *
 * Sizes are in positions (tokens + one EOS per sequence); whole sequences are kept together.
 */
import { appendSynthetic, concatCorpora, corpusPositions, deriveSeed, subsampleSequences, type Corpus } from '../corpus/index.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';

export const PARADIGMS = ['replace', 'accumulate', 'accumulate-subsample', 'replace-with-real'] as const;
export type ParadigmName = (typeof PARADIGMS)[number];

export interface ParadigmParams {
  /** N: the training-set size in positions. */
  trainTokens: number;
  /** r for accumulate-subsample: |S_k| = r·N. */
  rate: number;
  /** r for plain accumulate: |S_k| = r·N (docs/theory.md's default 1). */
  accumulateRate: number;
  /** α for replace-with-real: a fraction α of N drawn afresh from D each generation. */
  realFraction: number;
  seed: number;
}

/** What a paradigm carries from one generation to the next. */
export interface ParadigmState {
  name: ParadigmName;
  generation: number;
  /** T_n: the training set of this generation. */
  train: Corpus;
  /** C_n for the accumulate paradigms (D ∪ S_0 ∪ … ∪ S_{n−1}); undefined otherwise. */
  pool?: Corpus;
}

/**
 * Which sources make up C_n, and whether T_n = C_n. `realDraw`: the real source is the part of T_n
 * drawn from D this generation (Replace-with-real), not D itself.
 */
export interface Composition {
  real: boolean;
  synthetic: number[];
  trainIsPool: boolean;
  realDraw: boolean;
}

export interface Paradigm {
  name: ParadigmName;
  /** T_0 (and C_0). */
  initial(real: Corpus, p: ParadigmParams): ParadigmState;
  /** T_{n+1} from T_n's state, the real corpus D and S_n (sampled by M_n). */
  next(state: ParadigmState, real: Corpus, sample: TokenCorpus, p: ParadigmParams): ParadigmState;
  /** |S_n|: how many positions generation n's model samples. */
  sampleSize(p: ParadigmParams): number;
  /** C_n's sources for the error accounting (docs/theory.md). */
  composition(n: number): Composition;
  /** r of the equal-shares formula (accumulate paradigms), else null. */
  rate(p: ParadigmParams): number | null;
  /** The most positions T_n and the kept pool hold over `generations` (the run's memory estimate). */
  peakSizes(p: ParadigmParams, generations: number): { train: number; pool: number };
}

const range = (k: number) => Array.from({ length: k }, (_, i) => i);
const noPool = (p: ParadigmParams) => ({ train: p.trainTokens, pool: p.trainTokens });
/** D plus every sample but the last generation's (which trains nothing). */
const pooled = (size: number, p: ParadigmParams, generations: number) => p.trainTokens + (generations - 1) * size;
const synthetic = (sample: TokenCorpus, n: number) => appendSynthetic(emptyLike(), sample, n);
const scaled = (r: number, p: ParadigmParams) => Math.max(1, Math.round(r * p.trainTokens));

const replace: Paradigm = {
  name: 'replace',
  initial: (real) => ({ name: 'replace', generation: 0, train: real }),
  next: (state, _real, sample) => ({ name: state.name, generation: state.generation + 1, train: synthetic(sample, state.generation) }),
  sampleSize: (p) => p.trainTokens,
  composition: (n) =>
    n === 0 ? { real: true, synthetic: [], trainIsPool: true, realDraw: false } : { real: false, synthetic: [n - 1], trainIsPool: true, realDraw: false },
  rate: () => null,
  peakSizes: noPool,
};

const accumulate: Paradigm = {
  name: 'accumulate',
  initial: (real) => ({ name: 'accumulate', generation: 0, train: real, pool: real }),
  next: (state, _real, sample) => {
    const pool = concatCorpora([state.pool!, synthetic(sample, state.generation)]);
    return { name: state.name, generation: state.generation + 1, train: pool, pool };
  },
  sampleSize: (p) => scaled(p.accumulateRate, p),
  composition: (n) => ({ real: true, synthetic: range(n), trainIsPool: true, realDraw: false }),
  rate: (p) => p.accumulateRate,
  peakSizes(p, generations) {
    const pool = pooled(accumulate.sampleSize(p), p, generations);
    return { train: pool, pool };
  },
};

const accumulateSubsample: Paradigm = {
  name: 'accumulate-subsample',
  initial: (real, p) => {
    const name = 'accumulate-subsample';
    const train = corpusPositions(real) <= p.trainTokens ? real : subsampleSequences(real, p.trainTokens, deriveSeed(p.seed, 'subsample', name, 0));
    return { name, generation: 0, train, pool: real };
  },
  next: (state, _real, sample, p) => {
    const n = state.generation;
    const pool = concatCorpora([state.pool!, synthetic(sample, n)]);
    const train = subsampleSequences(pool, p.trainTokens, deriveSeed(p.seed, 'subsample', state.name, n + 1));
    return { name: state.name, generation: n + 1, train, pool };
  },
  sampleSize: (p) => scaled(p.rate, p),
  composition: (n) => ({ real: true, synthetic: range(n), trainIsPool: false, realDraw: false }),
  rate: (p) => p.rate,
  peakSizes: (p, generations) => ({ train: p.trainTokens, pool: pooled(accumulateSubsample.sampleSize(p), p, generations) }),
};

const replaceWithReal: Paradigm = {
  name: 'replace-with-real',
  initial: (real) => ({ name: 'replace-with-real', generation: 0, train: real }),
  next: (state, real, sample, p) => {
    const n = state.generation;
    const s = synthetic(sample, n);
    const realPart = subsampleSequences(real, Math.round(p.realFraction * p.trainTokens), deriveSeed(p.seed, 'real-draw', state.name, n + 1));
    return { name: state.name, generation: n + 1, train: concatCorpora([realPart, s]) };
  },
  sampleSize: (p) => scaled(1 - p.realFraction, p),
  composition: (n) =>
    n === 0 ? { real: true, synthetic: [], trainIsPool: true, realDraw: false } : { real: true, synthetic: [n - 1], trainIsPool: true, realDraw: true },
  rate: () => null,
  peakSizes: noPool,
};

/** Every paradigm, by name. */
export const PARADIGM_TABLE: Readonly<Record<ParadigmName, Paradigm>> = {
  replace,
  accumulate,
  'accumulate-subsample': accumulateSubsample,
  'replace-with-real': replaceWithReal,
};

export function isParadigm(s: string): s is ParadigmName {
  return (PARADIGMS as readonly string[]).includes(s);
}

export function paradigm(name: ParadigmName): Paradigm {
  return PARADIGM_TABLE[name];
}

/** T_0 (and C_0). */
export function initialState(name: ParadigmName, real: Corpus, p: ParadigmParams): ParadigmState {
  return PARADIGM_TABLE[name].initial(real, p);
}

/** How many positions generation n's model samples: |S_n|. */
export function sampleSize(name: ParadigmName, p: ParadigmParams): number {
  return PARADIGM_TABLE[name].sampleSize(p);
}

/** T_{n+1} from T_n's state, the real corpus D and S_n (sampled by M_n). */
export function nextState(state: ParadigmState, real: Corpus, sample: TokenCorpus, p: ParadigmParams): ParadigmState {
  return PARADIGM_TABLE[state.name].next(state, real, sample, p);
}

/** C_n's sources under a paradigm (see Composition). */
export function composition(name: ParadigmName, n: number): Composition {
  return PARADIGM_TABLE[name].composition(n);
}

function emptyLike(): Corpus {
  return { tokens: new Uint32Array(0), offsets: Uint32Array.of(0), provenance: new Int32Array(0) };
}
