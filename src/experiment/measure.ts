/**
 * One generation's record: the quantities of docs/theory.md's "Quantities reported per generation"
 * from T_n, the model's score on H and its probe rows, and S_n — whatever the model kind.
 */
import { corpusPositions, provenanceShares, type Corpus } from '../corpus/index.js';
import { divergence, divergenceStreamed, diversityAsync, supportStatsAsync, tailRetentionAsync, type NativeNgramSupport, type ProbeSet, type SparseRows } from '../metrics/index.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';
import type { ParadigmName } from '../paradigms/index.js';
import type { MetricsRecord } from './run-folder.js';

export async function measure(
  paradigm: ParadigmName,
  generation: number,
  train: Corpus,
  ev: { perplexity: number; zeroProbability: number; positions: number; covered: number | null },
  rows: Float32Array | Float64Array | ((a: number, b: number) => Promise<Float64Array>),
  p0: Float64Array | SparseRows,
  probes: ProbeSet,
  S: TokenCorpus,
  D: Corpus,
  supportD: NativeNgramSupport,
  threads: number,
): Promise<MetricsRecord> {
  // The corpus statistics run natively, off the JS thread, while the divergence is summed here.
  const pending = Promise.all([supportStatsAsync(S, supportD, { threads }), tailRetentionAsync(S, D), diversityAsync(S, { threads })]);
  const shares = provenanceShares(train);
  const V = 'ids' in p0 ? p0.V : p0.length / probes.weights.length;
  // Rows given as a function are made block by block while the divergence is summed, never all at once.
  const div = typeof rows === 'function' ? await divergenceStreamed(p0, probes.weights, V, rows) : divergence(p0 as Float64Array, rows, probes.weights, V);
  const finite = (x: number | null) => (x !== null && Number.isFinite(x) ? x : null);
  const [sup, tail, dv] = await pending;
  const byOrder = (n: number) => sup.find((s) => s.order === n)!;
  return {
    paradigm,
    generation,
    trainTokens: corpusPositions(train),
    trainSequences: train.offsets.length - 1,
    realShare: shares.real,
    lastGenerationShare: shares.byGeneration.get(generation - 1) ?? 0,
    generationShares: Array.from({ length: generation }, (_, k) => shares.byGeneration.get(k) ?? 0),
    perplexity: finite(ev.perplexity),
    perplexityCovered: finite(ev.covered),
    zeroProbability: ev.zeroProbability,
    zeroProbabilityShare: ev.positions > 0 ? ev.zeroProbability / ev.positions : 0,
    tv: div.tv,
    kl: finite(div.kl),
    klSupport: div.klSupport,
    lostMass: div.lostMass,
    probeWeight: div.weightTotal,
    tvSum: div.raw.tv,
    klSupportSum: div.raw.klSupport,
    lostMassSum: div.raw.lostMass,
    probesSkipped: div.skipped,
    sampleTokens: corpusPositions(S),
    sampleSequences: S.offsets.length - 1,
    truncated: (S as { truncated?: number }).truncated ?? 0,
    distinct1: byOrder(1).sample,
    distinct2: byOrder(2).sample,
    distinct3: byOrder(3).sample,
    coverage1: byOrder(1).coverage,
    coverage2: byOrder(2).coverage,
    coverage3: byOrder(3).coverage,
    tailRetention: tail.share,
    unigramEntropy: dv.unigramEntropy,
    distinctRatio1: dv.distinct1,
    distinctRatio2: dv.distinct2,
    distinctRatio3: dv.distinct3,
    meanLength: dv.meanLength,
    repeatedShare: dv.repeatedShare,
  };
}

/**
 * exp(−mean log p̂) over the positions with p̂ > 0 (log p̂ > −∞); null when there are none. Summed in
 * corpus order, so the figure is deterministic.
 */
export function coveredPerplexity(logProbs: Float64Array): number | null {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < logProbs.length; i++) {
    const lp = logProbs[i]!;
    if (lp > -Infinity) {
      sum += lp;
      n++;
    }
  }
  return n === 0 ? null : Math.exp(-sum / n);
}
