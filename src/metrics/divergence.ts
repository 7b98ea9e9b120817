/**
 * Divergence of a model's conditionals from the real ones on the probe set X (docs/theory.md
 * "Quantities reported per generation", second item).
 *
 * Per probe context x (a row of p0 and of p̂):
 *   tv(x)        = ½ Σ_v |p̂(v|x) − p0(v|x)|
 *   lost(x)      = Σ_{v: p̂(v|x) = 0} p0(v|x)                       the real mass p̂ gives nothing
 *   kl(x)        = Σ_{v: p0(v|x) > 0} p0(v|x) · ln(p0(v|x) / p̂(v|x))   KL(p0 ‖ p̂), nats: +∞ when lost(x) > 0
 *   klSupport(x) = KL(p0' ‖ p̂'), where p0' and p̂' are p0 and p̂ restricted to p̂'s support
 *                  U = {v: p̂(v|x) > 0} and renormalised there (p0' = p0·1_U / Σ_U p0, p̂' likewise).
 *                  A true divergence: never negative, 0 iff p0 and p̂ are proportional on U. It says
 *                  how far p̂ is from p0 where p̂ puts mass; lost(x) says how much of p0 lies outside.
 *                  When Σ_U p0 = 0 (p̂ misses all of p0's support, lost = 1) it is 0 by convention.
 *                  Rounding can leave a tiny negative sum (−1e-17) where the exact value is 0: it is
 *                  clamped at 0, the only value the definition allows there.
 *
 * Aggregation — the documented choice: docs/theory.md writes Σ_x π(x)·(…). With probes that cover only
 * part of the positions (Σπ < 1, and Σπ changes with K), that raw sum mixes "how far" with "how much
 * the probes cover". The headline fields `tv`, `kl`, `klSupport`, `lostMass` are therefore the
 * **π-weighted means** Σ_x π(x)·f(x) / Σ_x π(x): tv and lostMass lie in [0, 1] and do not depend on
 * K's coverage. The literal sums are returned too, in `raw`, with their weight Σπ (`weightTotal`).
 *
 * Undefined rows: a context whose p0 row sums to 0 (c_D(x) = 0, e.g. a probe taken from H that D
 * never shows) has no emp_D, so it is skipped (left out of the sums and of weightTotal) and counted
 * in `skipped`; its per-context entries are NaN.
 *
 * "p̂ = 0" means exactly 0 (in the array's own precision: a Float32 row that underflowed is 0).
 * All arithmetic is float64, whatever the array type of p̂.
 */
import { CollapseError } from '../errors.js';
import { isTyped } from '../util/typed.js';

export interface DivergencePerContext {
  tv: Float64Array;
  kl: Float64Array;
  klSupport: Float64Array;
  lostMass: Float64Array;
}

export interface DivergenceResult {
  /** π-weighted mean of ½ Σ_v |p̂ − p0| over the probes: in [0, 1] for normalised rows. */
  tv: number;
  /** π-weighted mean of KL(p0 ‖ p̂), nats: +∞ when any used probe loses mass. */
  kl: number;
  /** π-weighted mean of KL between p0 and p̂ restricted and renormalised to p̂'s support, nats (≥ 0). */
  klSupport: number;
  /** π-weighted mean of Σ_{p̂=0} p0: the real mass the model gives no probability. */
  lostMass: number;
  /** Σ π over the probes that were used (rows with Σ p0 > 0). */
  weightTotal: number;
  /** The literal docs/theory.md sums Σ_x π(x)·f(x) (= the means × weightTotal). */
  raw: { tv: number; kl: number; klSupport: number; lostMass: number };
  /** Probe rows left out because their p0 row is all zeros (undefined emp_D). */
  skipped: number;
  /** Per-probe values (NaN on skipped rows). */
  perContext: DivergencePerContext;
}

/**
 * TV, KL(p0 ‖ p̂) and lost mass between real rows `p0` and model rows `phat` on K probes.
 * `p0` and `phat` are K × V row-major, `weights` has K entries π(x) ≥ 0. When every used weight is 0
 * (or no row is usable) the means are NaN.
 */
export function divergence(
  p0: Float64Array,
  phat: Float32Array | Float64Array,
  weights: Float64Array,
  V: number,
): DivergenceResult {
  if (!(isTyped(p0, 'Float64Array'))) {
    throw new CollapseError('E_BAD_ARGUMENT', 'divergence: p0 must be a Float64Array');
  }
  if (!(isTyped(phat, 'Float32Array')) && !(isTyped(phat, 'Float64Array'))) {
    throw new CollapseError('E_BAD_ARGUMENT', 'divergence: phat must be a Float32Array or Float64Array');
  }
  if (!(isTyped(weights, 'Float64Array'))) {
    throw new CollapseError('E_BAD_ARGUMENT', 'divergence: weights must be a Float64Array');
  }
  if (typeof V !== 'number' || !Number.isInteger(V) || V < 1) {
    throw new CollapseError('E_BAD_ARGUMENT', `divergence: V must be a positive integer (got ${String(V)})`);
  }
  const K = weights.length;
  if (p0.length !== K * V || phat.length !== K * V) {
    throw new CollapseError(
      'E_BAD_ARGUMENT',
      `divergence: expected p0 and phat of ${K} × ${V} = ${K * V} values (got ${p0.length} and ${phat.length})`,
    );
  }

  const acc = new DivergenceSums(K);
  for (let x = 0; x < K; x++) acc.row(x, weights[x]!, p0, x * V, phat, x * V, V);
  return acc.result();
}

/**
 * divergence() with the model rows produced block by block: `rowsOf(a, b)` gives the rows of
 * probes a..b-1 (row-major, (b − a) × V), and only one block of them is held at a time (a dense
 * K × V float64 array is 113 MB for K = 1000 on Brown). Every row goes through the very same
 * arithmetic and the sums run in probe order, so the result equals divergence(p0, all rows, …)
 * bit for bit (test/metrics: divergence.test.ts).
 */
export async function divergenceStreamed(
  p0: Float64Array | SparseRows,
  weights: Float64Array,
  V: number,
  rowsOf: (a: number, b: number) => Promise<Float32Array | Float64Array>,
  block = 64,
): Promise<DivergenceResult> {
  const K = weights.length;
  const sparse = !isTyped(p0, 'Float64Array');
  if (!(isTyped(weights, 'Float64Array')) || (sparse ? (p0 as SparseRows).V !== V || (p0 as SparseRows).start.length !== K + 1 : (p0 as Float64Array).length !== K * V)) {
    throw new CollapseError('E_BAD_ARGUMENT', `divergence: expected p0 of ${K} × ${V} values and Float64Array weights`);
  }
  // A sparse p0 row is written into a dense scratch row first, so every row goes through the
  // same arithmetic as in divergence() (the zeros of p0 are +0 either way).
  const scratch = sparse ? new Float64Array(V) : null;
  const acc = new DivergenceSums(K);
  for (let a = 0; a < K; a += block) {
    const b = Math.min(K, a + block);
    const phat = await rowsOf(a, b);
    if (phat.length !== (b - a) * V) {
      throw new CollapseError('E_BAD_ARGUMENT', `divergence: rows ${a}..${b - 1}: expected ${(b - a) * V} values, got ${phat.length}`);
    }
    for (let x = a; x < b; x++) {
      if (scratch) {
        const s = p0 as SparseRows;
        scratch.fill(0);
        for (let i = s.start[x]!; i < s.start[x + 1]!; i++) scratch[s.ids[i]!] = s.values[i]!;
        acc.row(x, weights[x]!, scratch, 0, phat, (x - a) * V, V);
      } else acc.row(x, weights[x]!, p0 as Float64Array, x * V, phat, (x - a) * V, V);
    }
  }
  return acc.result();
}

/**
 * K rows over V ids kept sparsely: row x's nonzero entries are ids[start[x] .. start[x+1]) (ascending)
 * with values[…]. The real rows p0 = emp_D are mostly zeros (113 MB dense for K = 1000 on Brown).
 */
export interface SparseRows {
  V: number;
  start: Float64Array;
  ids: Uint32Array;
  values: Float64Array;
}

/** The sparse form of K × V row-major rows (every entry that is not 0 is kept, NaN included). */
export function sparseRows(dense: Float64Array, V: number): SparseRows {
  const K = V > 0 ? dense.length / V : 0;
  if (!Number.isInteger(K)) throw new CollapseError('E_BAD_ARGUMENT', `sparseRows: ${dense.length} values are not rows of ${V}`);
  let nnz = 0;
  for (let i = 0; i < dense.length; i++) if (dense[i] !== 0) nnz++;
  const start = new Float64Array(K + 1);
  const ids = new Uint32Array(nnz);
  const values = new Float64Array(nnz);
  let k = 0;
  for (let x = 0; x < K; x++) {
    for (let v = 0; v < V; v++) {
      const a = dense[x * V + v]!;
      if (a !== 0) {
        ids[k] = v;
        values[k++] = a;
      }
    }
    start[x + 1] = k;
  }
  return { V, start, ids, values };
}

/** The per-probe values and the running π-weighted sums, fed one row at a time in probe order. */
class DivergenceSums {
  readonly tvX: Float64Array;
  readonly klX: Float64Array;
  readonly klsX: Float64Array;
  readonly lostX: Float64Array;
  wTotal = 0;
  tvSum = 0;
  klSum = 0;
  klsSum = 0;
  lostSum = 0;
  skipped = 0;

  constructor(K: number) {
    this.tvX = new Float64Array(K);
    this.klX = new Float64Array(K);
    this.klsX = new Float64Array(K);
    this.lostX = new Float64Array(K);
  }

  /** Probe x with weight w: p0's row at p0[b0 ..], p̂'s at phat[b1 ..]. */
  row(x: number, w: number, p0: Float64Array, b0: number, phat: Float32Array | Float64Array, b1: number, V: number): void {
    if (!(w >= 0) || !Number.isFinite(w)) {
      throw new CollapseError('E_BAD_ARGUMENT', `divergence: weight ${x} is ${w}; weights must be finite and ≥ 0`);
    }
    let absDiff = 0;
    let kl = 0;
    let lost = 0;
    let p0Sum = 0;
    // Σ_U p0 and Σ_U p̂ over p̂'s support U, for the restricted KL.
    let m0 = 0;
    let m1 = 0;
    for (let v = 0; v < V; v++) {
      const a = p0[b0 + v]!;
      const b = phat[b1 + v]!;
      if (!(a >= 0) || !(b >= 0)) {
        // Catches negatives and NaN in either row.
        throw new CollapseError(
          'E_BAD_ARGUMENT',
          `divergence: row ${x}, token ${v}: probabilities must be ≥ 0 (p0 = ${a}, phat = ${b})`,
        );
      }
      p0Sum += a;
      absDiff += Math.abs(b - a);
      if (b > 0) {
        m0 += a;
        m1 += b;
      }
      if (a > 0) {
        if (b > 0) kl += a * Math.log(a / b);
        else lost += a;
      }
    }
    if (p0Sum === 0) {
      this.skipped++;
      this.tvX[x] = NaN;
      this.klX[x] = NaN;
      this.klsX[x] = NaN;
      this.lostX[x] = NaN;
      return;
    }
    // Second pass: KL(p0' ‖ p̂') on U with both rows renormalised there.
    let kls = 0;
    if (m0 > 0) {
      for (let v = 0; v < V; v++) {
        const a = p0[b0 + v]!;
        const b = phat[b1 + v]!;
        if (a > 0 && b > 0) {
          const a1 = a / m0;
          kls += a1 * Math.log(a1 / (b / m1));
        }
      }
    }
    const tv = 0.5 * absDiff;
    this.tvX[x] = tv;
    this.klX[x] = lost > 0 ? Infinity : kl;
    this.klsX[x] = Math.max(0, kls);
    this.lostX[x] = lost;
    this.wTotal += w;
    this.tvSum += w * tv;
    this.klSum += w * this.klX[x]!;
    this.klsSum += w * this.klsX[x]!;
    this.lostSum += w * lost;
  }

  result(): DivergenceResult {
    const wTotal = this.wTotal;
    return {
      tv: this.tvSum / wTotal,
      kl: this.klSum / wTotal,
      klSupport: this.klsSum / wTotal,
      lostMass: this.lostSum / wTotal,
      weightTotal: wTotal,
      raw: { tv: this.tvSum, kl: this.klSum, klSupport: this.klsSum, lostMass: this.lostSum },
      skipped: this.skipped,
      perContext: { tv: this.tvX, kl: this.klX, klSupport: this.klsX, lostMass: this.lostX },
    };
  }
}
