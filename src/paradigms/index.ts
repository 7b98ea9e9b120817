/**
 * The training-set paradigms of docs/theory.md ("Paradigms"), as pure functions of the real corpus D,
 * the synthetic sets S_k and seeds: given T_n's state and S_n, they build T_{n+1}. Sizes are in
 * positions (tokens + one EOS per sequence); whole sequences are kept together.
 */
import { appendSynthetic, concatCorpora, corpusPositions, deriveSeed, subsampleSequences, type Corpus } from '../corpus/index.js';
import type { TokenCorpus } from '../models/types.js';

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

export function isParadigm(s: string): s is ParadigmName {
  return (PARADIGMS as readonly string[]).includes(s);
}

/** T_0 (and C_0). */
export function initialState(name: ParadigmName, real: Corpus, p: ParadigmParams): ParadigmState {
  switch (name) {
    case 'replace':
    case 'replace-with-real':
      return { name, generation: 0, train: real };
    case 'accumulate':
      return { name, generation: 0, train: real, pool: real };
    case 'accumulate-subsample': {
      const train = corpusPositions(real) <= p.trainTokens ? real : subsampleSequences(real, p.trainTokens, deriveSeed(p.seed, 'subsample', name, 0));
      return { name, generation: 0, train, pool: real };
    }
  }
}

/** How many positions generation n's model samples: |S_n|. */
export function sampleSize(name: ParadigmName, p: ParadigmParams): number {
  switch (name) {
    case 'replace':
      return p.trainTokens;
    case 'accumulate':
      return Math.max(1, Math.round(p.accumulateRate * p.trainTokens));
    case 'accumulate-subsample':
      return Math.max(1, Math.round(p.rate * p.trainTokens));
    case 'replace-with-real':
      return Math.max(1, Math.round((1 - p.realFraction) * p.trainTokens));
  }
}

/** T_{n+1} from T_n's state, the real corpus D and S_n (sampled by M_n). */
export function nextState(state: ParadigmState, real: Corpus, sample: TokenCorpus, p: ParadigmParams): ParadigmState {
  const n = state.generation;
  const s = appendSynthetic(emptyLike(), sample, n);
  switch (state.name) {
    case 'replace':
      return { name: state.name, generation: n + 1, train: s };
    case 'accumulate': {
      const pool = concatCorpora([state.pool!, s]);
      return { name: state.name, generation: n + 1, train: pool, pool };
    }
    case 'accumulate-subsample': {
      const pool = concatCorpora([state.pool!, s]);
      const train = subsampleSequences(pool, p.trainTokens, deriveSeed(p.seed, 'subsample', state.name, n + 1));
      return { name: state.name, generation: n + 1, train, pool };
    }
    case 'replace-with-real': {
      const realPart = subsampleSequences(real, Math.round(p.realFraction * p.trainTokens), deriveSeed(p.seed, 'real-draw', state.name, n + 1));
      return { name: state.name, generation: n + 1, train: concatCorpora([realPart, s]) };
    }
  }
}

function emptyLike(): Corpus {
  return { tokens: new Uint32Array(0), offsets: Uint32Array.of(0), provenance: new Int32Array(0) };
}
