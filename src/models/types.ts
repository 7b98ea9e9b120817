/**
 * The one language-model interface of collapse-lab, implemented by the n-gram model and (later)
 * the transformer. Paradigms, metrics and the runner only talk to models through it.
 */

/** TokenCorpus lives with the corpora (src/corpus/token-corpus.ts); re-exported here for existing imports. */
export type { TokenCorpus } from '../corpus/token-corpus.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';

export interface EvaluateResult {
  /** Sum of natural-log probabilities over every position (EOS included). -Infinity if any is 0. */
  logLikelihood: number;
  /** Number of scored positions (tokens + one EOS per sequence). */
  positions: number;
  /** exp(-logLikelihood / positions). Infinity when a position has probability 0. */
  perplexity: number;
  /** Positions whose probability is exactly 0 (possible under MLE). */
  zeroProbability: number;
  /** Per-position natural-log probabilities, in corpus order, when asked for. */
  logProbs?: Float64Array;
}

export interface SampleOptions {
  /** Number of sequences to draw (exclusive with `tokens`). */
  sequences?: number;
  /** Draw whole sequences until at least this many positions (tokens + EOS) are held. */
  tokens?: number;
  /** Longest sequence, in tokens without BOS/EOS; longer ones are cut there. */
  maxLength: number;
  /** Run seed: sequence i depends only on (seed, i), whatever the thread count. */
  seed: number;
  temperature?: number;
  topK?: number;
  topP?: number;
}

export interface SampleResult extends TokenCorpus {
  /** Sequences cut at maxLength before EOS was drawn. */
  truncated: number;
}

export interface LanguageModel {
  readonly vocabSize: number;
  fit(corpus: TokenCorpus, options?: { signal?: AbortSignal }): Promise<void>;
  evaluate(corpus: TokenCorpus, options?: { perPosition?: boolean }): Promise<EvaluateResult>;
  sample(options: SampleOptions): Promise<SampleResult>;
  /** Dense rows p̂(·|x), one per context, row-major contexts × vocabSize. */
  conditional(contexts: Uint32Array, options?: { float64?: boolean }): Promise<Float32Array | Float64Array>;
  save(path: string): Promise<void>;
}
