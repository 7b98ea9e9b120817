/**
 * The Main Theorem in numbers (docs/theory.md, "The decomposition behind the Main Theorem").
 *
 * For an n-gram run, on the probe contexts X, generation by generation:
 *   ε_n = p̂_n − emp_{T_n}        (learning error)
 *   δ_n = emp_{S_n} − p̂_n        (sampling error)
 *   σ_n = emp_{T_n} − emp_{C_n}  (subsampling error; 0 when T_n = C_n)
 *   w_{n,j}(x) = c_j(x) / c_{C_n}(x)   the share of x's positions in C_n from source j (D or S_k)
 * and the closed form rebuilt from those measured errors only:
 *   E_0 = σ_0 + ε_0,   E_n = Σ_{k∈C_n} w_{n,k}·(E_k + δ_k) + σ_n + ε_n,
 * whose residual max |p̂_n − (p0 + E_n)| checks the bookkeeping (it sits at float64 rounding).
 *
 * C_n per paradigm: Replace C_n = T_n (D at n = 0, S_{n−1} after); Accumulate C_n = T_n = D ∪ S_0 ∪ … ∪
 * S_{n−1}; Accumulate-Subsample C_n = D ∪ S_0 ∪ … ∪ S_{n−1} ⊇ T_n; Replace-with-real C_n = T_n = R_n ∪
 * S_{n−1}, where R_n is the part of T_n drawn afresh from D. Its real source is R_n, not D: the shares
 * are those of T_n's actual sources, and σ_n := (c_{R_n}(x,·) − c_{R_n}(x)·p0)/c_{T_n}(x) is the
 * draw's departure from p0 weighted by its share (so E_n = w_S·(E_{n−1} + δ_{n−1}) + σ_n + ε_n).
 *
 * Order 1: width 0, the single empty context (K = 1, contexts empty).
 *
 * Memory: Σ_k c_{S_k}(x)·(E_k + δ_k) is kept as one running K×V float64 array per paradigm (and the
 * equal-shares sum as another), the counts as sparse rows; p̂_n rows are fetched in chunks. No row
 * of an earlier generation is kept.
 */
import { CollapseError, fromNative } from '../errors.js';
import { REAL, selectSequences, type Corpus } from '../corpus/index.js';
import { loadNative, type NativeAccounting } from '../native.js';
import type { NGramModel } from '../models/ngram.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';
import { composition, type ParadigmName } from '../paradigms/index.js';
import type { AccountingChecks } from './checks.js';
export { AccountingCheck, checksPassed, type AccountingChecks } from './checks.js';

/** Sparse next-token counts at a set of contexts: CSR rows, one per context. */
export interface SparseRows {
  rowPtr: Uint32Array;
  cols: Uint32Array;
  vals: Float64Array;
  /** c(x) per row. */
  totals: Float64Array;
}

/**
 * Counts c_T(x, v) of a corpus at the given contexts (rows of `width` ids, left-padded with BOS as
 * docs/theory.md writes them), in one native pass off the JS thread.
 */
export async function contextCounts(corpus: TokenCorpus, contexts: Uint32Array, width: number, vocabSize: number, bos = 1, eos = 2): Promise<SparseRows> {
  try {
    return await loadNative().contextCounts(corpus.tokens, corpus.offsets, contexts, width, vocabSize, bos, eos);
  } catch (err) {
    fromNative(err);
  }
}

export interface TheoryRecord {
  /** |X| and the probes still in the accounting (not vanished, not unseen). */
  probes: number;
  valid: number;
  /** Probes dropped so far: their context vanished from some T_k (c_{T_k}(x) = 0). Sticky. */
  vanished: number;
  /** Probes that D never shows (c_D(x) = 0: taken from H): p0 is undefined there, never in the accounting. */
  unseen: number;
  /** Σπ over the valid probes (the denominator of every mean below), and over those S_n contains (δ's). */
  weight: number;
  deltaWeight: number;
  /** The raw π-weighted sums Σ_x π(x)·f(x) behind the means (mean = sum / weight; δ: / deltaWeight). */
  sums: { eps: number; delta: number; sigma: number; E: number; realShare: number };
  /** max |ε_n(v|x)| over the valid probes: exactly 0 for an MLE model. */
  epsMax: number;
  /** π-weighted mean L1 norms Σ_v |·| over the valid probes (δ: over those S_n contains). */
  epsL1: number;
  deltaL1: number;
  sigmaL1: number;
  /** ‖E_n‖ = ‖p̂_n − p0‖ (L1), the actual drift. */
  EL1: number;
  /** π-weighted mean real share w_{n,D}(x) of C_n. */
  realShare: number;
  /** Mean signed error on the tokens p0 ranks in its top decile (head) and bottom decile (tail). */
  head: { E: number; eps: number; delta: number; sigma: number };
  tail: { E: number; eps: number; delta: number; sigma: number };
  /** max |p̂_n − (p0 + E_n)| with E_n rebuilt from the measured ε, δ, σ and shares. */
  residual: number;
  /** Accumulate paradigms: docs/theory.md's equal-shares prediction with the measured errors. */
  equalShares: { rate: number; predictedL1: number; deviationL1: number } | null;
  /** π-weighted mean coefficient of ε_k, δ_k, σ_k (k = 0..n) in the unrolled E_n. */
  coefficients: { eps: number[]; delta: number[]; sigma: number[] };
  /** Checks that can fail (see checks.ts); added by the runner. */
  checks?: AccountingChecks;
}

export interface TheoryOptions {
  paradigm: ParadigmName;
  contexts: Uint32Array;
  weights: Float64Array;
  width: number;
  vocabSize: number;
  generations: number;
  /** Counts of D at the probes (p0 = emp_D). */
  realCounts: SparseRows;
  /** r of the equal-shares formula (accumulate paradigms), else null. */
  rate: number | null;
  bos?: number;
  eos?: number;
  /** Rows of p̂_n fetched per native call (memory ∝ chunk × V). */
  chunk?: number;
}

/** Which sources make up C_n: the paradigm's own (src/paradigms), re-exported for the accounting. */
export { composition } from '../paradigms/index.js';

/** The sequences of `train` whose provenance is real: Replace-with-real's fresh draw R_n from D. */
export function realPartOf(train: Corpus): Corpus {
  const idx: number[] = [];
  for (let i = 0; i < train.provenance.length; i++) if (train.provenance[i] === REAL) idx.push(i);
  return selectSequences(train, idx);
}

/**
 * p̂ rows of an n-gram model at probe contexts of `width` ids, in float64. Width 0 (order 1) is the
 * single empty context: the model is asked at [BOS], a context an order-1 model ignores.
 */
export async function modelRows(model: NGramModel, contexts: Uint32Array, width: number, bos = 1): Promise<Float64Array> {
  if (width === 0) return (await model.conditional(Uint32Array.of(bos), { width: 1, float64: true })) as Float64Array;
  return (await model.conditional(contexts, { width, float64: true })) as Float64Array;
}

export class TheoryTracker {
  readonly K: number;
  readonly V: number;
  private readonly o: TheoryOptions;
  private readonly valid: Uint8Array;
  private readonly unseen: Uint8Array;
  /** Σ_{k∈C_n} c_{S_k}(x)·(E_k + δ_k)(x, ·), K × V. */
  private readonly A: Float64Array;
  /** Equal-shares running sum Σ_{k<n} (ε_k + δ_k + σ_k)/(1 + (k+1)r), K × V (accumulate paradigms). */
  private readonly Q: Float64Array | null;
  /** Same recursion on the coefficients: K × (3G) (ε_0..ε_{G−1}, δ_0.., σ_0..). */
  private readonly Acoef: Float64Array;
  private readonly sampleCounts: SparseRows[] = [];
  private readonly headIds: Uint32Array[];
  private readonly tailIds: Uint32Array[];
  private readonly accumulating: boolean;

  constructor(options: TheoryOptions) {
    this.o = options;
    this.K = options.weights.length;
    this.V = options.vocabSize;
    if (options.contexts.length !== this.K * options.width || (options.width === 0 && this.K !== 1)) throw new CollapseError('E_BAD_ARGUMENT', 'theory: contexts and weights disagree on K');
    const bytes = this.K * this.V * 8 * (options.rate === null ? 1 : 2);
    if (bytes > 4 * 2 ** 30) {
      throw new CollapseError('E_BAD_CONFIG', `theory: ${this.K} probes × |V| ${this.V} needs ${(bytes / 2 ** 30).toFixed(1)} GiB; lower --probes`);
    }
    this.valid = new Uint8Array(this.K);
    this.unseen = new Uint8Array(this.K);
    for (let x = 0; x < this.K; x++) {
      this.valid[x] = options.realCounts.totals[x]! > 0 ? 1 : 0;
      this.unseen[x] = this.valid[x] ? 0 : 1;
    }
    this.A = new Float64Array(this.K * this.V);
    this.Q = options.rate === null ? null : new Float64Array(this.K * this.V);
    this.Acoef = new Float64Array(this.K * 3 * options.generations);
    this.accumulating = options.paradigm === 'accumulate' || options.paradigm === 'accumulate-subsample';
    // Deciles of p0's support per probe: ids ranked by p0 descending (ties by id).
    this.headIds = [];
    this.tailIds = [];
    const r = options.realCounts;
    for (let x = 0; x < this.K; x++) {
      const ids: [number, number][] = [];
      for (let i = r.rowPtr[x]!; i < r.rowPtr[x + 1]!; i++) ids.push([r.cols[i]!, r.vals[i]!]);
      ids.sort((a, b) => b[1] - a[1] || a[0] - b[0]);
      const m = Math.ceil(ids.length / 10);
      this.headIds.push(Uint32Array.from(ids.slice(0, m).map((p) => p[0])));
      this.tailIds.push(Uint32Array.from(ids.slice(ids.length - m).map((p) => p[0])));
    }
  }

  /**
   * Generation n: `model` was fitted on T_n and sampled S_n.
   */
  async step(n: number, model: NGramModel, train: Corpus, sample: TokenCorpus): Promise<TheoryRecord> {
    const { contexts, width, weights, realCounts } = this.o;
    const K = this.K;
    const V = this.V;
    const G = this.o.generations;
    const bos = this.o.bos ?? 1;
    const eos = this.o.eos ?? 2;
    const comp = composition(this.o.paradigm, n);
    const S = await contextCounts(sample, contexts, width, V, bos, eos);
    const T = comp.trainIsPool ? null : await contextCounts(train, contexts, width, V, bos, eos);
    const R = comp.realDraw ? await contextCounts(realPartOf(train), contexts, width, V, bos, eos) : null;
    const sources: SparseRows[] = [...(comp.real ? [R ?? realCounts] : []), ...comp.synthetic.map((k) => this.sampleCounts[k]!)];
    const r = this.o.rate;
    const chunk = this.o.chunk ?? 128;

    // Dense scratch rows, cleared after each probe by walking the same sparse indices.
    const p0r = new Float64Array(V), tr = new Float64Array(V), cr = new Float64Array(V), sr = new Float64Array(V), rr = new Float64Array(V), sg = new Float64Array(V);
    const coefTmp = new Float64Array(3 * G);
    let wSum = 0, epsSum = 0, sigSum = 0, ESum = 0, delSum = 0, delW = 0, wD = 0, residual = 0;
    let predSum = 0, devSum = 0;
    const head = { E: 0, eps: 0, delta: 0, sigma: 0 }, tail = { E: 0, eps: 0, delta: 0, sigma: 0 };
    const coefMean = new Float64Array(3 * G);
    let vanished = 0, unseen = 0, epsMaxAll = 0;

    for (let c0 = 0; c0 < K; c0 += chunk) {
      const c1 = Math.min(K, c0 + chunk);
      const rows = await modelRows(model, contexts.subarray(c0 * width, c1 * width), width, bos);
      for (let x = c0; x < c1; x++) {
        if (this.unseen[x]) {
          unseen++;
          continue;
        }
        // Counts of C_n and T_n at x.
        let cC = 0;
        for (const src of sources) cC += src.totals[x]!;
        const cT = T ? T.totals[x]! : cC;
        if (this.valid[x] && (cT === 0 || cC === 0)) this.valid[x] = 0;
        if (!this.valid[x]) {
          vanished++;
          continue;
        }
        const cS = S.totals[x]!;
        const cD = realCounts.totals[x]!;
        const cR = R ? R.totals[x]! : 0;
        const pi = weights[x]!;
        const ph = rows.subarray((x - c0) * V, (x - c0 + 1) * V);
        const A = this.A.subarray(x * V, (x + 1) * V);
        const Q = this.Q ? this.Q.subarray(x * V, (x + 1) * V) : null;
        // Raw counts in the scratch rows; probabilities are formed below as count × (1/c(x)), the
        // same floating-point operation the engine uses, so MLE's ε is exactly 0 on seen contexts.
        scatter(realCounts, x, p0r);
        for (const src of sources) scatter(src, x, cr);
        if (T) scatter(T, x, tr);
        if (cS > 0) scatter(S, x, sr);
        if (R) scatter(R, x, rr);
        const tc = T ? tr : cr;
        const invD = 1 / cD, invT = 1 / cT, invS = cS > 0 ? 1 / cS : 0;
        const invC = 1 / cC;
        let eps1 = 0, sig1 = 0, E1 = 0, del1 = 0, pred1 = 0, dev1 = 0, res = 0, epsMax = 0;
        const r1 = r === null ? 0 : 1 / (1 + (n + 1) * r);
        for (let v = 0; v < V; v++) {
          const p = ph[v]!;
          const t = tc[v]! * invT;
          const eps = p - t;
          const sig = R ? (rr[v]! - cR * (p0r[v]! * invD)) * invC : t - cr[v]! * invC;
          sg[v] = sig;
          const del = cS > 0 ? sr[v]! * invS - p : 0;
          const E = p - p0r[v]! * invD;
          const Ecf = A[v]! * invC + sig + eps;
          const d = Math.abs(E - Ecf);
          if (d > res) res = d;
          if (Math.abs(eps) > epsMax) epsMax = Math.abs(eps);
          eps1 += Math.abs(eps);
          sig1 += Math.abs(sig);
          E1 += Math.abs(E);
          del1 += Math.abs(del);
          // Next generation's accumulator: c_{S_n}(x)·(E_n + δ_n), added (accumulate) or replacing (replace, replace-with-real).
          const B = cS * (Ecf + del);
          A[v] = this.accumulating ? A[v]! + B : B;
          if (Q) {
            const Eeq = eps + sig + r! * Q[v]!;
            pred1 += Math.abs(Eeq);
            dev1 += Math.abs(Eeq - E);
            Q[v] = Q[v]! + (eps + del + sig) * r1;
          }
        }
        // Head / tail deciles of p0.
        const scales = { p0: invD, t: invT, s: invS };
        const hs = signedMeans(this.headIds[x]!, ph, p0r, tc, sr, sg, scales, cS > 0);
        const ts = signedMeans(this.tailIds[x]!, ph, p0r, tc, sr, sg, scales, cS > 0);
        clear(realCounts, x, p0r);
        for (const src of sources) clear(src, x, cr);
        if (T) clear(T, x, tr);
        if (cS > 0) clear(S, x, sr);
        if (R) clear(R, x, rr);

        // Coefficients: coef(E_n) = Σ_k w_{n,k}(coef(E_k) + e_{δ_k}) + e_{ε_n} + e_{σ_n}.
        const Ac = this.Acoef.subarray(x * 3 * G, (x + 1) * 3 * G);
        for (let j = 0; j < 3 * G; j++) coefTmp[j] = Ac[j]! * invC;
        coefTmp[n] = coefTmp[n]! + 1; // ε_n
        coefTmp[2 * G + n] = coefTmp[2 * G + n]! + 1; // σ_n
        for (let j = 0; j < 3 * G; j++) {
          coefMean[j] = coefMean[j]! + pi * coefTmp[j]!;
          const b = cS * (coefTmp[j]! + (j === G + n ? 1 : 0));
          Ac[j] = this.accumulating ? Ac[j]! + b : b;
        }

        wSum += pi;
        epsSum += pi * eps1;
        sigSum += pi * sig1;
        ESum += pi * E1;
        if (cS > 0) {
          delSum += pi * del1;
          delW += pi;
        }
        wD += pi * (comp.real ? (R ? cR : cD) / cC : 0);
        if (res > residual) residual = res;
        if (epsMax > epsMaxAll) epsMaxAll = epsMax;
        predSum += pi * pred1;
        devSum += pi * dev1;
        head.E += pi * hs.E;
        head.eps += pi * hs.eps;
        tail.E += pi * ts.E;
        tail.eps += pi * ts.eps;
        head.sigma += pi * hs.sigma;
        tail.sigma += pi * ts.sigma;
        if (cS > 0) {
          head.delta += pi * hs.delta;
          tail.delta += pi * ts.delta;
        }
      }
    }
    this.sampleCounts[n] = S;
    const m = (x: number, w: number) => (w > 0 ? x / w : 0);
    const coefs = (off: number, len: number) => Array.from(coefMean.subarray(off, off + len), (c) => m(c, wSum));
    return {
      probes: K,
      valid: K - vanished - unseen,
      vanished,
      unseen,
      weight: wSum,
      deltaWeight: delW,
      sums: { eps: epsSum, delta: delSum, sigma: sigSum, E: ESum, realShare: wD },
      epsMax: epsMaxAll,
      epsL1: m(epsSum, wSum),
      deltaL1: m(delSum, delW),
      sigmaL1: m(sigSum, wSum),
      EL1: m(ESum, wSum),
      realShare: m(wD, wSum),
      head: { E: m(head.E, wSum), eps: m(head.eps, wSum), delta: m(head.delta, delW), sigma: m(head.sigma, wSum) },
      tail: { E: m(tail.E, wSum), eps: m(tail.eps, wSum), delta: m(tail.delta, delW), sigma: m(tail.sigma, wSum) },
      residual,
      equalShares: r === null ? null : { rate: r, predictedL1: m(predSum, wSum), deviationL1: m(devSum, wSum) },
      coefficients: { eps: coefs(0, n + 1), delta: coefs(G, n), sigma: coefs(2 * G, n + 1) },
    };
  }
}

/** Adds row x's counts into a dense scratch row. */
function scatter(rows: SparseRows, x: number, dense: Float64Array): void {
  for (let i = rows.rowPtr[x]!; i < rows.rowPtr[x + 1]!; i++) {
    const v = rows.cols[i]!;
    dense[v] = dense[v]! + rows.vals[i]!;
  }
}

function clear(rows: SparseRows, x: number, dense: Float64Array): void {
  for (let i = rows.rowPtr[x]!; i < rows.rowPtr[x + 1]!; i++) dense[rows.cols[i]!] = 0;
}

function signedMeans(
  ids: Uint32Array,
  ph: Float64Array,
  p0: Float64Array,
  t: Float64Array,
  s: Float64Array,
  sg: Float64Array,
  k: { p0: number; t: number; s: number },
  hasS: boolean,
) {
  let E = 0, eps = 0, delta = 0, sigma = 0;
  for (const v of ids) {
    E += ph[v]! - p0[v]! * k.p0;
    eps += ph[v]! - t[v]! * k.t;
    if (hasS) delta += s[v]! * k.s - ph[v]!;
    sigma += sg[v]!;
  }
  const n = ids.length || 1;
  return { E: E / n, eps: eps / n, delta: delta / n, sigma: sigma / n };
}

/**
 * The same accounting as TheoryTracker, run natively (native/theory/accounting.cc): off the JS
 * thread, in parallel over probes, with bit-identical records. The runner uses this one; the
 * TypeScript class above is the readable reference the tests compare it with.
 */
export class NativeTheoryTracker {
  readonly K: number;
  private readonly o: Omit<TheoryOptions, 'realCounts'>;
  private readonly acc: NativeAccounting;
  private pending: Promise<unknown> = Promise.resolve();

  constructor(options: Omit<TheoryOptions, 'realCounts'> & { real: TokenCorpus; threads?: number }) {
    this.o = options;
    this.K = options.weights.length;
    const { Accounting } = loadNative();
    const bytes = this.K * options.vocabSize * 8 * (options.rate === null ? 1 : 2);
    if (bytes > 4 * 2 ** 30) {
      throw new CollapseError('E_BAD_CONFIG', `theory: ${this.K} probes × |V| ${options.vocabSize} needs ${(bytes / 2 ** 30).toFixed(1)} GiB; lower --probes`);
    }
    try {
      this.acc = new Accounting(
        {
          contexts: options.contexts,
          width: options.width,
          weights: options.weights,
          vocabSize: options.vocabSize,
          generations: options.generations,
          accumulating: options.paradigm === 'accumulate' || options.paradigm === 'accumulate-subsample',
          rate: options.rate ?? -1,
          bos: options.bos ?? 1,
          eos: options.eos ?? 2,
        },
        options.real.tokens,
        options.real.offsets,
      );
    } catch (err) {
      fromNative(err);
    }
  }

  /** Bytes held by the running sums (K × V per sum). */
  get bytes(): number {
    return this.acc.bytes();
  }

  async step(n: number, model: NGramModel, train: Corpus, sample: TokenCorpus, threads = 1): Promise<TheoryRecord> {
    const comp = composition(this.o.paradigm, n);
    const real = comp.realDraw ? realPartOf(train) : null;
    const run = async (): Promise<TheoryRecord> => {
      let r;
      try {
        r = await this.acc.step(
          n,
          model.nativeHandle,
          sample.tokens,
          sample.offsets,
          comp.trainIsPool ? null : train.tokens,
          comp.trainIsPool ? null : train.offsets,
          comp.real,
          Uint32Array.from(comp.synthetic),
          threads,
          real ? real.tokens : null,
          real ? real.offsets : null,
        );
      } catch (err) {
        fromNative(err);
      }
      return {
        probes: r.probes,
        valid: r.valid,
        vanished: r.vanished,
        unseen: r.unseen,
        weight: r.weight,
        deltaWeight: r.deltaWeight,
        sums: { eps: r.epsSum, delta: r.deltaSum, sigma: r.sigmaSum, E: r.ESum, realShare: r.realShareSum },
        epsMax: r.epsMax,
        epsL1: r.epsL1,
        deltaL1: r.deltaL1,
        sigmaL1: r.sigmaL1,
        EL1: r.EL1,
        realShare: r.realShare,
        head: { E: r.headE, eps: r.headEps, delta: r.headDelta, sigma: r.headSigma },
        tail: { E: r.tailE, eps: r.tailEps, delta: r.tailDelta, sigma: r.tailSigma },
        residual: r.residual,
        equalShares: this.o.rate === null ? null : { rate: this.o.rate, predictedL1: r.predictedL1, deviationL1: r.deviationL1 },
        coefficients: { eps: r.coefEps, delta: r.coefDelta, sigma: r.coefSigma },
      };
    };
    // One step at a time: the native state advances generation by generation.
    const p = this.pending.then(run, run);
    this.pending = p.catch(() => undefined);
    return p;
  }
}
