/**
 * Transformed sampling on trigram models (every context level, back-off included): temperature,
 * top-k and top-p draw exactly from the transformed conditional (chi-square with fixed seeds against
 * conditional() raised to 1/T), and as T -> 0 sampling becomes the argmax.
 */
import { NGramModel, type Smoothing } from '../src/index.js';
import { chiSquare, chiSquareCritical, rng, toCorpus } from './helpers/reference-ngram.js';

const BOS = 1, EOS = 2;
const V = 24;

/** A corpus with structure: each token usually follows from the previous two, else a Zipf draw. */
function markovCorpus(seed: number, nseq: number): { tokens: Uint32Array; offsets: Uint32Array } {
  const r = rng(seed);
  const zipf = (): number => {
    // ids 3..V-1 with weight 1/rank
    let z = 0;
    for (let k = 1; k <= V - 3; k++) z += 1 / k;
    let u = r() * z;
    for (let k = 1; k <= V - 3; k++) {
      u -= 1 / k;
      if (u < 0) return k + 2;
    }
    return V - 1;
  };
  const seqs: number[][] = [];
  for (let i = 0; i < nseq; i++) {
    const len = 2 + Math.floor(r() * 9);
    const s: number[] = [];
    for (let j = 0; j < len; j++) {
      const a = s[j - 1] ?? 0, b = s[j - 2] ?? 0;
      s.push(j > 0 && r() < 0.55 ? 3 + ((a * 7 + b * 3) % (V - 3)) : zipf());
    }
    seqs.push(s);
  }
  return toCorpus(seqs);
}

/**
 * Next-token counts after each 2-token context (BOS-padded) in a sample. A sequence of maxLength
 * tokens may have been cut there: its end is not an EOS the model drew, so it is not counted.
 */
function transitions(s: { tokens: Uint32Array; offsets: Uint32Array }, maxLength: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (let i = 0; i + 1 < s.offsets.length; i++) {
    const seq = s.tokens.subarray(s.offsets[i]!, s.offsets[i + 1]!);
    const full = [BOS, BOS, ...seq, ...(seq.length < maxLength ? [EOS] : [])];
    for (let j = 2; j < full.length; j++) {
      const key = `${full[j - 2]},${full[j - 1]}`;
      let row = out.get(key);
      if (!row) out.set(key, (row = new Array(V).fill(0)));
      row[full[j]!]!++;
    }
  }
  return out;
}

/** q ∝ p^(1/T), then top-k, then top-p (ties by id), renormalised. */
function transform(p: ArrayLike<number>, o: { temperature?: number; topK?: number; topP?: number }): number[] {
  const invT = 1 / (o.temperature ?? 1);
  const mx = Math.max(...Array.from(p));
  let q = Array.from(p, (x) => (x > 0 ? Math.exp((Math.log(x) - Math.log(mx)) * invT) : 0));
  const order = q.map((x, v) => [x, v] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  if (o.topK) {
    const keep = new Set(order.slice(0, o.topK).map(([, v]) => v));
    q = q.map((x, v) => (keep.has(v) ? x : 0));
  }
  if (o.topP !== undefined && o.topP < 1) {
    const z0 = q.reduce((a, b) => a + b, 0);
    const keep = new Set<number>();
    let acc = 0;
    for (const [, v] of order) {
      if (q[v]! === 0) continue;
      keep.add(v);
      acc += q[v]!;
      if (acc >= o.topP * z0) break;
    }
    q = q.map((x, v) => (keep.has(v) ? x : 0));
  }
  const z = q.reduce((a, b) => a + b, 0);
  return q.map((x) => x / z);
}

const SMOOTHINGS: Smoothing[] = ['kneser-ney', 'add-k', 'mle'];
const train = markovCorpus(5, 4000);

describe('transformed sampling at order 3 follows the transformed conditional', () => {
  const cases: { smoothing: Smoothing; opts: { temperature?: number; topK?: number; topP?: number } }[] = [];
  for (const smoothing of SMOOTHINGS) {
    cases.push({ smoothing, opts: { temperature: 0.6 } });
    cases.push({ smoothing, opts: { temperature: 1.8 } });
  }
  cases.push({ smoothing: 'kneser-ney', opts: { topK: 5 } });
  cases.push({ smoothing: 'kneser-ney', opts: { topK: 6, temperature: 0.7 } });
  cases.push({ smoothing: 'kneser-ney', opts: { topP: 0.8, temperature: 1.3 } });
  cases.push({ smoothing: 'add-k', opts: { topP: 0.7 } });
  test.each(cases)('$smoothing $opts (chi-square, fixed seed, the 6 most visited contexts)', async ({ smoothing, opts }) => {
    const m = new NGramModel({ order: 3, vocabSize: V, smoothing, k: 0.3, threads: 2 });
    await m.fit(train);
    const s = await m.sample({ sequences: 25000, maxLength: 12, seed: 4242, ...opts });
    const tr = transitions(s, 12);
    const top = [...tr.entries()].sort((a, b) => b[1].reduce((x, y) => x + y, 0) - a[1].reduce((x, y) => x + y, 0)).slice(0, 6);
    const ctx = Uint32Array.from(top.flatMap(([k]) => k.split(',').map(Number)));
    const rows = await m.conditional(ctx, { width: 2, float64: true });
    top.forEach(([, obs], r) => {
      const q = transform(rows.subarray(r * V, (r + 1) * V), opts);
      const n = obs.reduce((a, b) => a + b, 0);
      expect(n).toBeGreaterThan(1000);
      obs.forEach((o, v) => {
        if (q[v] === 0) expect(o).toBe(0);
      });
      const { stat, df } = chiSquare(obs, q.map((x) => x * n));
      expect(stat).toBeLessThan(chiSquareCritical(df));
    });
  });
});

describe('temperature -> 0 is the argmax', () => {
  test.each(SMOOTHINGS)('%s: T = 1e-3 and 1e-300 draw the argmax of every context (no <unk> flood, no truncation)', async (smoothing) => {
    const m = new NGramModel({ order: 3, vocabSize: V, smoothing, k: 0.3 });
    await m.fit(train);
    for (const temperature of [1e-3, 1e-300]) {
      const s = await m.sample({ sequences: 400, maxLength: 30, seed: 7, temperature });
      const tr = transitions(s, 30);
      const keys = [...tr.keys()];
      const rows = await m.conditional(Uint32Array.from(keys.flatMap((k) => k.split(',').map(Number))), { width: 2, float64: true });
      let checked = 0;
      keys.forEach((k, r) => {
        const row = Array.from(rows.subarray(r * V, (r + 1) * V));
        const order = row.map((p, v) => [p, v] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
        const [best, second] = [order[0]!, order[1]!];
        // At 1e-3 a runner-up within 3% of the maximum keeps a chance of 0.97^1000 ≈ 6e-14 or more:
        // only rows with a clear maximum are asserted there; at 1e-300 every row with a unique one.
        if (temperature === 1e-3 ? second[0] > 0.97 * best[0] : second[0] === best[0]) return;
        const obs = tr.get(k)!;
        obs.forEach((o, v) => expect(v === best[1] ? true : o === 0).toBe(true));
        checked++;
      });
      expect(checked).toBeGreaterThan(0);
      // The old sampler's underflow gave all-zero rows: only <unk> (id 0) and every sequence cut.
      expect(s.truncated).toBeLessThan(400);
      expect(Array.from(s.tokens).some((t) => t !== 0)).toBe(true);
    }
  });

  test('T = 1e-300 with top-k and top-p is the argmax too', async () => {
    const m = new NGramModel({ order: 3, vocabSize: V, smoothing: 'kneser-ney' });
    await m.fit(train);
    const greedy = await m.sample({ sequences: 50, maxLength: 20, seed: 3, temperature: 1e-300 });
    for (const o of [{ topK: 5 }, { topP: 0.9 }]) {
      const s = await m.sample({ sequences: 50, maxLength: 20, seed: 3, temperature: 1e-300, ...o });
      // The argmax chain is deterministic: the same whatever the seed and the truncation.
      expect(Array.from(s.tokens)).toEqual(Array.from(greedy.tokens));
      expect(Array.from(s.offsets)).toEqual(Array.from(greedy.offsets));
    }
  });
});
