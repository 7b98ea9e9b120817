/**
 * Checks of the error accounting that can fail (unlike the closed-form residual, which is zero by
 * construction because p̂_n cancels out of it and so only checks the bookkeeping of the sums).
 *
 * Per generation n, on the probe contexts X:
 *   engineCounts   the engine's own training counts c_{T_n}(x, v) (NGramModel.counts: what the
 *                  model was fitted on) equal a recount of T_n's provenance-tagged sequences;
 *   mleEpsilonZero an MLE model has ε_n(v|x) = 0 exactly on every probe in the accounting
 *                  (null for smoothed models, where ε ≠ 0 is expected);
 *   sourceCounts   the counts of C_n's sources (D — or, for Replace-with-real, the part R_n of T_n
 *                  drawn from D — and each S_k, counted when it was sampled) add up to a recount
 *                  of C_n itself: the paradigm built C_n from exactly the sources the accounting uses.
 * Counts are integers held exactly in float64, so `ok` means equality, and maxDiff is 0 when ok.
 */
import type { Corpus } from '../corpus/index.js';
import type { NGramModel } from '../models/ngram.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';
import type { ParadigmName } from '../paradigms/index.js';
import { composition, contextCounts, realPartOf, type SparseRows } from './index.js';

export interface AccountingChecks {
  engineCounts: { ok: boolean; maxDiff: number };
  mleEpsilonZero: { ok: boolean; epsMax: number } | null;
  sourceCounts: { ok: boolean; maxDiff: number };
}

export interface CheckOptions {
  paradigm: ParadigmName;
  contexts: Uint32Array;
  width: number;
  vocabSize: number;
  real: TokenCorpus;
  mle: boolean;
  bos?: number;
  eos?: number;
}

export class AccountingCheck {
  private readonly o: CheckOptions;
  private realCounts: SparseRows | null = null;
  private readonly sampleCounts: SparseRows[] = [];
  private readonly K: number;

  constructor(options: CheckOptions) {
    this.o = options;
    this.K = options.width === 0 ? 1 : options.contexts.length / options.width;
  }

  private count(c: TokenCorpus): Promise<SparseRows> {
    const { contexts, width, vocabSize } = this.o;
    return contextCounts(c, contexts, width, vocabSize, this.o.bos ?? 1, this.o.eos ?? 2);
  }

  /**
   * Generation n: `model` was fitted on `train` (T_n) and sampled `sample` (S_n); `pool` is C_n
   * (T_n itself except for Accumulate-Subsample); `epsMax` is the accounting's max |ε_n|.
   */
  async step(n: number, model: NGramModel, train: Corpus, pool: Corpus, sample: TokenCorpus, epsMax: number): Promise<AccountingChecks> {
    const { contexts, width } = this.o;
    const V = this.o.vocabSize;
    const K = this.K;
    this.realCounts ??= await this.count(this.o.real);
    const recountT = await this.count(train);
    const recountC = pool === train ? recountT : await this.count(pool);
    const comp = composition(this.o.paradigm, n);
    const sources: SparseRows[] = [];
    if (comp.real) sources.push(comp.realDraw ? await this.count(realPartOf(train)) : this.realCounts);
    for (const k of comp.synthetic) sources.push(this.sampleCounts[k]!);
    this.sampleCounts[n] = await this.count(sample);

    const dense = new Float64Array(V);
    // Engine counts, fetched in chunks of rows (memory ∝ chunk × V).
    let engineDiff = 0;
    const chunk = 64;
    for (let c0 = 0; c0 < K; c0 += chunk) {
      const c1 = Math.min(K, c0 + chunk);
      const { rows } = width === 0
        ? await model.counts(Uint32Array.of(this.o.bos ?? 1), { width: 1 })
        : await model.counts(contexts.subarray(c0 * width, c1 * width), { width });
      for (let x = c0; x < c1; x++) {
        const row = rows.subarray((x - c0) * V, (x - c0 + 1) * V);
        dense.set(row);
        subtract(recountT, x, dense);
        engineDiff = Math.max(engineDiff, maxAbs(dense));
      }
    }
    let sourceDiff = 0;
    for (let x = 0; x < K; x++) {
      dense.fill(0);
      for (const s of sources) add(s, x, dense, 1);
      subtract(recountC, x, dense);
      sourceDiff = Math.max(sourceDiff, maxAbs(dense));
    }
    return {
      engineCounts: { ok: engineDiff === 0, maxDiff: engineDiff },
      mleEpsilonZero: this.o.mle ? { ok: epsMax === 0, epsMax } : null,
      sourceCounts: { ok: sourceDiff === 0, maxDiff: sourceDiff },
    };
  }
}

function add(rows: SparseRows, x: number, dense: Float64Array, sign: number): void {
  for (let i = rows.rowPtr[x]!; i < rows.rowPtr[x + 1]!; i++) dense[rows.cols[i]!] = dense[rows.cols[i]!]! + sign * rows.vals[i]!;
}

function subtract(rows: SparseRows, x: number, dense: Float64Array): void {
  add(rows, x, dense, -1);
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!);
    if (v > m) m = v;
  }
  return m;
}

/** True when every check that applies passed. */
export function checksPassed(c: AccountingChecks): boolean {
  return c.engineCounts.ok && c.sourceCounts.ok && (c.mleEpsilonZero === null || c.mleEpsilonZero.ok);
}
