import { describe, expect, it } from '@jest/globals';
import { divergence, divergenceStreamed, sparseRows } from '../../src/metrics/index.js';
import { rng } from './helpers.js';

const f64 = (a: number[]): Float64Array => Float64Array.from(a);

describe('divergence: hand-computed values', () => {
  // V = 3, K = 2, π = (0.3, 0.1).
  //   x0: p0 = (½, ½, 0),      p̂ = (¼, ¾, 0)
  //   x1: p0 = (¼, ¼, ½),      p̂ = (¾, 0, ¼)        ← p̂ puts 0 on a token p0 has
  const p0 = f64([0.5, 0.5, 0, 0.25, 0.25, 0.5]);
  const phat = f64([0.25, 0.75, 0, 0.75, 0, 0.25]);
  const w = f64([0.3, 0.1]);

  // tv(x0) = ½(¼ + ¼ + 0) = ¼
  // tv(x1) = ½(½ + ¼ + ¼) = ½
  // kl(x0) = ½ ln(½/¼) + ½ ln(½/¾) = ½ ln 2 + ½ ln(2/3) = ½ ln(4/3)
  // kl(x1) = +∞: p̂(1|x1) = 0 while p0(1|x1) = ¼
  // klSupport(x0) = kl(x0) (p̂'s support {0, 1} holds all of p0 and of p̂: nothing to renormalise)
  // klSupport(x1): U = {0, 2}, p0' = (¼, ½)/¾ = (⅓, ⅔), p̂' = (¾, ¼)/1:
  //   ⅓ ln(⅓/¾) + ⅔ ln(⅔/¼) = ⅓ ln(4/9) + ⅔ ln(8/3)
  // lost(x0) = 0; lost(x1) = p0(1|x1) = ¼
  const tv0 = 0.25;
  const tv1 = 0.5;
  const kl0 = 0.5 * Math.log(4 / 3);
  const kls1 = (1 / 3) * Math.log(4 / 9) + (2 / 3) * Math.log(8 / 3);
  // Weighted means, Σπ = 0.4:
  //   tv   = (0.3·¼ + 0.1·½) / 0.4 = 0.125 / 0.4 = 0.3125
  //   lost = (0.3·0 + 0.1·¼) / 0.4 = 0.025 / 0.4 = 0.0625
  //   kl   = (0.3·kl0 + 0.1·kl1) / 0.4

  it('weighted means, raw sums, per-context values', () => {
    const d = divergence(p0, phat, w, 3);
    expect(d.weightTotal).toBeCloseTo(0.4, 15);
    expect(d.tv).toBeCloseTo(0.3125, 14);
    expect(d.lostMass).toBeCloseTo(0.0625, 14);
    expect(d.kl).toBe(Infinity);
    expect(d.klSupport).toBeCloseTo((0.3 * kl0 + 0.1 * kls1) / 0.4, 14);
    expect(d.raw.tv).toBeCloseTo(0.125, 14);
    expect(d.raw.lostMass).toBeCloseTo(0.025, 14);
    expect(d.raw.klSupport).toBeCloseTo(0.3 * kl0 + 0.1 * kls1, 14);
    expect(Array.from(d.perContext.tv)).toEqual([tv0, tv1]);
    expect(d.perContext.kl[0]).toBeCloseTo(kl0, 15);
    expect(d.perContext.kl[1]).toBe(Infinity);
    expect(d.perContext.klSupport[0]).toBeCloseTo(kl0, 15);
    expect(d.perContext.klSupport[1]).toBeCloseTo(kls1, 15);
    expect(Array.from(d.perContext.lostMass)).toEqual([0, 0.25]);
    expect(d.skipped).toBe(0);
  });

  it('Float32 model rows give the same result (all values exact in float32)', () => {
    const d64 = divergence(p0, phat, w, 3);
    const d32 = divergence(p0, Float32Array.from(phat), w, 3);
    expect(d32.tv).toBe(d64.tv);
    expect(d32.kl).toBe(d64.kl);
    expect(d32.lostMass).toBe(d64.lostMass);
  });

  it('lost mass makes KL infinite; the support-restricted KL stays a divergence (the old sum over p̂ > 0 read −½ ln 2 here)', () => {
    // p0 = (½, ½), p̂ = (1, 0): tv = ½(½ + ½) = ½; KL = ∞; lost = ½; on U = {0}: p0' = p̂' = (1) → 0.
    const d = divergence(f64([0.5, 0.5]), f64([1, 0]), f64([1]), 2);
    expect(d.tv).toBe(0.5);
    expect(d.kl).toBe(Infinity);
    expect(d.klSupport).toBe(0);
    expect(d.lostMass).toBe(0.5);
    // p0 = (½, ¼, ¼), p̂ = (¼, ¾, 0): U = {0, 1}, p0' = (⅔, ⅓): ⅔ ln(⅔/¼) + ⅓ ln(⅓/¾).
    const e = divergence(f64([0.5, 0.25, 0.25]), f64([0.25, 0.75, 0]), f64([1]), 3);
    expect(e.klSupport).toBeCloseTo((2 / 3) * Math.log(8 / 3) + (1 / 3) * Math.log(4 / 9), 15);
    expect(e.klSupport).toBeGreaterThan(0);
  });

  it('a model that puts zero everywhere p0 lives loses all mass', () => {
    // p0 = (1, 0), p̂ = (0, 1): tv = 1, KL = ∞, klSupport = 0 (Σ_U p0 = 0: the convention), lost = 1.
    const d = divergence(f64([1, 0]), f64([0, 1]), f64([0.5]), 2);
    expect(d).toMatchObject({ tv: 1, kl: Infinity, klSupport: 0, lostMass: 1, weightTotal: 0.5 });
  });

  it('skips probe rows whose p0 is all zero (emp_D undefined) and leaves them out of Σπ', () => {
    // Row 1 is undefined; only row 0 (π = 0.2) counts: tv = ½(|0.5−1| + |0.5−0|) = ½.
    const d = divergence(f64([1, 0, 0, 0]), f64([0.5, 0.5, 0.3, 0.7]), f64([0.2, 0.6]), 2);
    expect(d.skipped).toBe(1);
    expect(d.weightTotal).toBe(0.2);
    expect(d.tv).toBe(0.5);
    expect(d.kl).toBeCloseTo(Math.log(2), 15); // 1·ln(1/0.5)
    expect(d.klSupport).toBeCloseTo(Math.log(2), 15);
    expect(Number.isNaN(d.perContext.tv[1])).toBe(true);
  });

  it('rejects mismatched shapes, negative or NaN probabilities and bad weights', () => {
    const code = (f: () => unknown): unknown => {
      try {
        f();
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return undefined;
    };
    expect(code(() => divergence(f64([1, 0]), f64([1]), f64([1]), 2))).toBe('E_BAD_ARGUMENT');
    expect(code(() => divergence(f64([1, 0]), f64([1.5, -0.5]), f64([1]), 2))).toBe('E_BAD_ARGUMENT');
    expect(code(() => divergence(f64([1, 0]), f64([NaN, 0]), f64([1]), 2))).toBe('E_BAD_ARGUMENT');
    expect(code(() => divergence(f64([1, 0]), f64([1, 0]), f64([-1]), 2))).toBe('E_BAD_ARGUMENT');
    expect(code(() => divergence(f64([1, 0]), f64([1, 0]), f64([1]), 0))).toBe('E_BAD_ARGUMENT');
  });
});

describe('divergence: invariants on random distributions', () => {
  /** K random distributions over V tokens; `zeros` sets that share of entries to 0 first. */
  const randomRows = (r: () => number, K: number, V: number, zeros: number): Float64Array => {
    const a = new Float64Array(K * V);
    for (let x = 0; x < K; x++) {
      let s = 0;
      for (let v = 0; v < V; v++) {
        const u = r() < zeros ? 0 : r() ** 3;
        a[x * V + v] = u;
        s += u;
      }
      if (s === 0) {
        a[x * V] = 1;
        s = 1;
      }
      for (let v = 0; v < V; v++) a[x * V + v]! /= s;
    }
    return a;
  };

  it('TV ∈ [0, 1], lost ∈ [0, 1], KL ≥ 0 when p̂ > 0 everywhere, and Pinsker tv ≤ √(kl/2)', () => {
    const r = rng(123);
    for (let trial = 0; trial < 20; trial++) {
      const K = 1 + Math.floor(r() * 8);
      const V = 2 + Math.floor(r() * 40);
      const p0 = randomRows(r, K, V, 0.4);
      const w = Float64Array.from({ length: K }, () => r());
      // p̂ with zeros: TV and lost mass stay in [0, 1].
      const sparse = divergence(p0, randomRows(r, K, V, 0.4), w, V);
      expect(sparse.tv).toBeGreaterThanOrEqual(0);
      expect(sparse.tv).toBeLessThanOrEqual(1 + 1e-12);
      expect(sparse.lostMass).toBeGreaterThanOrEqual(0);
      expect(sparse.lostMass).toBeLessThanOrEqual(1 + 1e-12);
      // The support-restricted KL is never negative, and equals the closed form
      // (1/m0) Σ_U p0 ln(p0/p̂) + ln(m1/m0), m0 = Σ_U p0, m1 = Σ_U p̂ (a second computation).
      expect(sparse.klSupport).toBeGreaterThanOrEqual(0);
      for (let x = 0; x < K; x++) {
        expect(sparse.perContext.klSupport[x]!).toBeGreaterThanOrEqual(0);
        if (sparse.perContext.lostMass[x]! > 0) expect(sparse.perContext.kl[x]).toBe(Infinity);
      }
      {
        const ph = randomRows(r, K, V, 0.4);
        const d = divergence(p0, ph, w, V);
        for (let x = 0; x < K; x++) {
          let m0 = 0, m1 = 0, t = 0;
          for (let v = 0; v < V; v++) {
            const a = p0[x * V + v]!, b = ph[x * V + v]!;
            if (b > 0) {
              m0 += a;
              m1 += b;
              if (a > 0) t += a * Math.log(a / b);
            }
          }
          const want = m0 > 0 ? Math.max(0, t / m0 + Math.log(m1 / m0)) : 0;
          expect(d.perContext.klSupport[x]).toBeCloseTo(want, 12);
        }
      }
      // Strictly positive p̂: KL(p0‖p̂) ≥ 0, no lost mass, and Pinsker per context.
      const dense = randomRows(r, K, V, 0).map((x) => x + 1e-3);
      for (let x = 0; x < K; x++) {
        let s = 0;
        for (let v = 0; v < V; v++) s += dense[x * V + v]!;
        for (let v = 0; v < V; v++) dense[x * V + v]! /= s;
      }
      const d = divergence(p0, dense, w, V);
      expect(d.kl).toBeGreaterThanOrEqual(0);
      expect(d.lostMass).toBe(0);
      for (let x = 0; x < K; x++) {
        expect(d.perContext.kl[x]!).toBeGreaterThanOrEqual(-1e-15);
        expect(d.perContext.tv[x]!).toBeLessThanOrEqual(Math.sqrt(d.perContext.kl[x]! / 2) + 1e-12);
      }
    }
  });

  it('TV = KL = lost = 0 when p̂ = p0 (float64 exactly; float32 up to rounding)', () => {
    const r = rng(9);
    const K = 6;
    const V = 25;
    const p0 = randomRows(r, K, V, 0.3);
    const w = Float64Array.from({ length: K }, () => r());
    const d = divergence(p0, p0.slice(), w, V);
    expect(d.tv).toBe(0);
    expect(d.kl).toBe(0);
    expect(d.klSupport).toBe(0);
    expect(d.lostMass).toBe(0);
    const d32 = divergence(p0, Float32Array.from(p0), w, V);
    expect(d32.tv).toBeLessThan(1e-6);
    expect(Math.abs(d32.kl)).toBeLessThan(1e-6);
    // Float32 rounding never turns a positive p0 entry ≥ 1e-30 into 0 here, so no lost mass.
    expect(d32.lostMass).toBe(0);
  });

  it('the mean is invariant to scaling all weights, raw scales with them', () => {
    const r = rng(5);
    const p0 = randomRows(r, 4, 10, 0.2);
    const ph = randomRows(r, 4, 10, 0.2);
    const w = f64([0.1, 0.2, 0.05, 0.3]);
    const a = divergence(p0, ph, w, 10);
    const b = divergence(p0, ph, w.map((x) => x * 2), 10);
    expect(b.tv).toBeCloseTo(a.tv, 14);
    expect(b.kl).toBeCloseTo(a.kl, 14);
    expect(b.raw.tv).toBeCloseTo(2 * a.raw.tv, 14);
  });
});

describe('divergenceStreamed: the rows block by block, p0 dense or sparse', () => {
  // Random rows with exact zeros on both sides (lost mass, restricted KL), an all-zero p0 row (a
  // skipped probe) and a zero weight: every field, per-probe values included, must equal the dense
  // divergence() bit for bit, for any block size, for float32 rows, and with p0 kept sparse.
  const K = 37;
  const V = 29;
  const r = rng(99);
  const p0 = new Float64Array(K * V);
  const phat = new Float64Array(K * V);
  const w = new Float64Array(K);
  for (let x = 0; x < K; x++) {
    let s0 = 0;
    let s1 = 0;
    for (let v = 0; v < V; v++) {
      p0[x * V + v] = x === 5 || r() < 0.3 ? 0 : r();
      phat[x * V + v] = r() < 0.2 ? 0 : r() ** 3;
      s0 += p0[x * V + v]!;
      s1 += phat[x * V + v]!;
    }
    for (let v = 0; v < V; v++) {
      if (s0 > 0) p0[x * V + v]! /= s0;
      phat[x * V + v]! /= s1;
    }
    w[x] = x === 7 ? 0 : r();
  }
  const same = (a: unknown, b: unknown) => expect(a).toEqual(b); // numbers compared with Object.is (NaN equal)

  it.each([1, 5, 16, 37, 64])('block %i', async (block) => {
    const sp = sparseRows(p0, V);
    expect(sp.ids.length).toBe(p0.filter((a) => a !== 0).length);
    for (const rows of [phat, Float32Array.from(phat)]) {
      const dense = divergence(p0, rows, w, V);
      expect(dense.skipped).toBe(1);
      expect(Number.isFinite(dense.kl)).toBe(false); // some probe loses mass
      for (const ref of [p0, sp]) {
        const calls: [number, number][] = [];
        const streamed = await divergenceStreamed(ref, w, V, async (a, b) => {
          calls.push([a, b]);
          return rows.slice(a * V, b * V);
        }, block);
        same(streamed, dense);
        expect(calls.length).toBe(Math.ceil(K / block));
        expect(calls.at(-1)![1]).toBe(K);
      }
    }
  });

  it('refuses a block of the wrong size', async () => {
    await expect(divergenceStreamed(p0, w, V, async (a, b) => phat.slice(a * V, b * V - 1), 8)).rejects.toMatchObject({ code: 'E_BAD_ARGUMENT' });
  });
});
