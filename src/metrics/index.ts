/**
 * collapse-lab metrics: the per-generation quantities of docs/theory.md ("Quantities reported per
 * generation") other than perplexity (computed by the model) and the error accounting (src/theory).
 * Pure TypeScript over typed arrays (the reference implementations); the `…Async` forms compute the
 * hot ones in the native engine, off the JS thread, with equal results (native-metrics.ts).
 */
export { positionCount, sequenceCount } from './corpus-view.js';
export {
  MAX_CONTEXT_WIDTH,
  probeContexts,
  empiricalRows,
  type ProbeOptions,
  type ProbeSet,
  type EmpiricalRows,
} from './probes.js';
export { divergence, divergenceStreamed, sparseRows, type SparseRows, type DivergenceResult, type DivergencePerContext } from './divergence.js';
export {
  MAX_NGRAM_ORDER,
  ngramSupport,
  supportStats,
  tailRetention,
  type NgramSupport,
  type SupportOptions,
  type SupportOrderStats,
  type TailRetention,
  type TailRetentionOptions,
} from './support.js';
export { diversity, countRepeatedSequences, type DiversityStats } from './diversity.js';
export {
  ngramSupportAsync,
  supportStatsAsync,
  diversityAsync,
  tailRetentionAsync,
  type NativeNgramSupport,
  type NativeMetricsOptions,
} from './native-metrics.js';
export {
  PackedTable,
  TupleTable,
  makeCountTable,
  packedIdLimit,
  type CountTable,
} from './tuple-table.js';
