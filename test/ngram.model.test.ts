/**
 * NGramModel behaviour: normalisation, scoring = conditional, exact sampling (chi-square against
 * conditional with fixed seeds), determinism across thread counts, save/load, and bad input.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CollapseError, NGramModel, type Smoothing } from '../src/index.js';
import { chiSquare, chiSquareCritical, randomCorpus, rng, toCorpus } from './helpers/reference-ngram.js';

const BOS = 1, EOS = 2;
const SMOOTHINGS: Smoothing[] = ['mle', 'add-k', 'kneser-ney'];

describe('normalisation and scoring', () => {
  test.each(SMOOTHINGS)('%s: every row sums to 1 (seen and unseen contexts), BOS has 0 mass', async (smoothing) => {
    const V = 300;
    const c = randomCorpus(3, 2000, V, 12);
    const m = new NGramModel({ order: 4, vocabSize: V, smoothing, k: 0.1 });
    await m.fit(c);
    const r = rng(11);
    const n = 200;
    const ctx = new Uint32Array(n * 3);
    for (let i = 0; i < n; i++) {
      // half taken from the corpus (seen), half random (mostly unseen)
      if (i % 2 === 0) {
        const j = 3 + Math.floor(r() * (c.tokens.length - 3));
        ctx.set(c.tokens.subarray(j - 3, j), i * 3);
      } else for (let k = 0; k < 3; k++) ctx[i * 3 + k] = Math.floor(r() * V);
    }
    const rows = await m.conditional(ctx, { width: 3 });
    expect(Object.prototype.toString.call(rows)).toBe('[object Float32Array]');
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let v = 0; v < V; v++) s += rows[i * V + v]!;
      expect(Math.abs(s - 1)).toBeLessThan(1e-6);
      expect(rows[i * V + BOS]).toBe(0);
    }
  });

  test.each(SMOOTHINGS)('%s: evaluate = Σ log conditional at every position (EOS included)', async (smoothing) => {
    const V = 50;
    const train = randomCorpus(5, 500, V, 9);
    const test = randomCorpus(6, 40, V, 9);
    const m = new NGramModel({ order: 3, vocabSize: V, smoothing });
    await m.fit(train);
    const e = await m.evaluate(test, { perPosition: true });
    const seqs = test.seqs;
    expect(e.positions).toBe(test.tokens.length + seqs.length);
    // Build the context of every position and ask conditional.
    const ctx: number[] = [];
    const targets: number[] = [];
    for (const s of seqs) {
      const full = [BOS, BOS, ...s, EOS];
      for (let j = 2; j < full.length; j++) {
        ctx.push(full[j - 2]!, full[j - 1]!);
        targets.push(full[j]!);
      }
    }
    const rows = await m.conditional(Uint32Array.from(ctx), { float64: true });
    let sum = 0;
    let zeros = 0;
    targets.forEach((t, i) => {
      const p = rows[i * V + t]!;
      if (p === 0) zeros++;
      else sum += Math.log(p);
      expect(e.logProbs![i]).toBeCloseTo(Math.log(p), 10);
    });
    expect(e.zeroProbability).toBe(zeros);
    if (zeros === 0) {
      expect(e.logLikelihood).toBeCloseTo(sum, 8);
      expect(e.perplexity).toBeCloseTo(Math.exp(-sum / e.positions), 8);
    } else {
      expect(e.logLikelihood).toBe(-Infinity);
      expect(e.perplexity).toBe(Infinity);
    }
  });

  test('MLE gives probability 0 (perplexity Infinity) to a token the training data never had', async () => {
    const m = new NGramModel({ order: 2, vocabSize: 6, smoothing: 'mle' });
    await m.fit(toCorpus([[3, 4], [4, 3]]));
    const e = await m.evaluate(toCorpus([[3, 5]]));
    expect(e.zeroProbability).toBe(1);
    expect(e.perplexity).toBe(Infinity);
  });
});

describe('sampling', () => {
  const V = 30;
  const train = randomCorpus(21, 3000, V, 6);

  test.each(SMOOTHINGS)('%s: first tokens and bigram transitions follow conditional (chi-square, fixed seed)', async (smoothing) => {
    const m = new NGramModel({ order: 2, vocabSize: V, smoothing, k: 0.5 });
    await m.fit(train);
    const s = await m.sample({ sequences: 20000, maxLength: 50, seed: 1234 });
    const rows = await m.conditional(Uint32Array.from([BOS, 5, 7]), { width: 1, float64: true });
    // First tokens (EOS when the sequence is empty).
    const first = new Array(V).fill(0);
    const after5 = new Array(V).fill(0);
    const after7 = new Array(V).fill(0);
    for (let i = 0; i + 1 < s.offsets.length; i++) {
      const seq = [...s.tokens.subarray(s.offsets[i]!, s.offsets[i + 1]!)];
      const full = [...seq, EOS];
      first[full[0]!]++;
      for (let j = 0; j + 1 < full.length; j++) {
        if (full[j] === 5) after5[full[j + 1]!]++;
        if (full[j] === 7) after7[full[j + 1]!]++;
      }
    }
    const check = (obs: number[], row: Float64Array | Float32Array) => {
      const n = obs.reduce((a, b) => a + b, 0);
      expect(n).toBeGreaterThan(500);
      const exp = Array.from(row, (p) => p * n);
      // No draws where p = 0.
      obs.forEach((o, v) => {
        if (row[v] === 0) expect(o).toBe(0);
      });
      const { stat, df } = chiSquare(obs, exp);
      expect(stat).toBeLessThan(chiSquareCritical(df));
    };
    check(first, rows.subarray(0, V));
    check(after5, rows.subarray(V, 2 * V));
    check(after7, rows.subarray(2 * V, 3 * V));
  });

  test('temperature, top-k and top-p reshape the distribution exactly', async () => {
    const m = new NGramModel({ order: 2, vocabSize: V, smoothing: 'kneser-ney' });
    await m.fit(train);
    const row = Array.from(await m.conditional(Uint32Array.from([BOS]), { width: 1, float64: true }));
    const firstTokens = async (opts: { temperature?: number; topK?: number; topP?: number }) => {
      const s = await m.sample({ sequences: 20000, maxLength: 1, seed: 99, ...opts });
      const obs = new Array(V).fill(0);
      for (let i = 0; i + 1 < s.offsets.length; i++) obs[s.offsets[i + 1]! > s.offsets[i]! ? s.tokens[s.offsets[i]!]! : EOS]++;
      return obs;
    };
    const order = row.map((p, v) => [p, v] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    // T = 0.5: q ∝ p^2.
    {
      const q = row.map((p) => p * p);
      const z = q.reduce((a, b) => a + b, 0);
      const obs = await firstTokens({ temperature: 0.5 });
      const { stat, df } = chiSquare(obs, q.map((x) => (x / z) * 20000));
      expect(stat).toBeLessThan(chiSquareCritical(df));
    }
    // top-k = 3: only the three most likely, renormalised.
    {
      const keep = new Set(order.slice(0, 3).map(([, v]) => v));
      const z = order.slice(0, 3).reduce((a, [p]) => a + p, 0);
      const obs = await firstTokens({ topK: 3 });
      obs.forEach((o, v) => (keep.has(v) ? expect(o).toBeGreaterThan(0) : expect(o).toBe(0)));
      const { stat, df } = chiSquare(obs, row.map((p, v) => (keep.has(v) ? (p / z) * 20000 : 0)));
      expect(stat).toBeLessThan(chiSquareCritical(df));
    }
    // top-p = 0.5: the smallest set of most likely ids whose mass reaches 0.5.
    {
      let acc = 0, k = 0;
      while (acc < 0.5) acc += order[k++]![0];
      const keep = new Set(order.slice(0, k).map(([, v]) => v));
      const obs = await firstTokens({ topP: 0.5 });
      obs.forEach((o, v) => (keep.has(v) ? undefined : expect(o).toBe(0)));
      expect(obs.filter((o) => o > 0).length).toBe(k);
    }
  });

  test('sample({ tokens: N }) returns whole sequences until it holds at least N positions', async () => {
    const m = new NGramModel({ order: 3, vocabSize: V });
    await m.fit(train);
    const s = await m.sample({ tokens: 10000, maxLength: 100, seed: 5 });
    const nseq = s.offsets.length - 1;
    const positions = s.tokens.length + nseq;
    expect(positions).toBeGreaterThanOrEqual(10000);
    const lastLen = s.offsets[nseq]! - s.offsets[nseq - 1]!;
    expect(positions - (lastLen + 1)).toBeLessThan(10000); // the last sequence was needed
    expect(s.offsets[0]).toBe(0);
    expect(s.offsets[nseq]).toBe(s.tokens.length);
    for (const t of s.tokens) expect(t === BOS || t === EOS || t >= V).toBe(false);
  });

  test('maxLength cuts sequences and counts them as truncated', async () => {
    const m = new NGramModel({ order: 2, vocabSize: V });
    await m.fit(train);
    const s = await m.sample({ sequences: 500, maxLength: 2, seed: 5 });
    let cut = 0;
    for (let i = 0; i < 500; i++) {
      const len = s.offsets[i + 1]! - s.offsets[i]!;
      expect(len).toBeLessThanOrEqual(2);
      if (len === 2) cut++;
    }
    expect(s.truncated).toBeGreaterThan(0);
    expect(s.truncated).toBeLessThanOrEqual(cut);
  });
});

describe('determinism', () => {
  test.each(SMOOTHINGS)('%s: identical results for 1 and 2 threads', async (smoothing) => {
    const V = 200;
    const c = randomCorpus(8, 9000, V, 15);
    const out = [];
    for (const threads of [1, 2]) {
      const m = new NGramModel({ order: 3, vocabSize: V, smoothing, threads });
      await m.fit(c);
      const e = await m.evaluate(c, { perPosition: true });
      const s = await m.sample({ tokens: 50000, maxLength: 40, seed: 77 });
      const t = await m.sample({ tokens: 5000, maxLength: 40, seed: 77, temperature: 0.7, topK: 20 });
      const rows = await m.conditional(c.tokens.subarray(0, 400));
      out.push({ ll: e.logLikelihood, lp: Buffer.from(e.logProbs!.buffer), s: Buffer.from(s.tokens.buffer), so: Buffer.from(s.offsets.buffer), t: Buffer.from(t.tokens.buffer), rows: Buffer.from(rows.buffer) });
    }
    expect(out[0]!.ll).toBe(out[1]!.ll);
    expect(out[0]!.lp.equals(out[1]!.lp)).toBe(true);
    expect(out[0]!.s.equals(out[1]!.s)).toBe(true);
    expect(out[0]!.so.equals(out[1]!.so)).toBe(true);
    expect(out[0]!.t.equals(out[1]!.t)).toBe(true);
    expect(out[0]!.rows.equals(out[1]!.rows)).toBe(true);
  });

  test('different seeds give different samples; the same seed the same', async () => {
    const m = new NGramModel({ order: 3, vocabSize: 40 });
    await m.fit(randomCorpus(2, 500, 40));
    const a = await m.sample({ sequences: 200, maxLength: 20, seed: 1 });
    const b = await m.sample({ sequences: 200, maxLength: 20, seed: 1 });
    const c = await m.sample({ sequences: 200, maxLength: 20, seed: 2 });
    expect(Buffer.from(a.tokens.buffer).equals(Buffer.from(b.tokens.buffer))).toBe(true);
    expect(Buffer.from(a.tokens.buffer).equals(Buffer.from(c.tokens.buffer))).toBe(false);
  });
});

describe('save / load', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'collapse-ngram-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test.each(SMOOTHINGS)('%s: round trip keeps every probability and every sample', async (smoothing) => {
    const V = 60;
    const c = randomCorpus(4, 800, V, 10);
    const m = new NGramModel({ order: 3, vocabSize: V, smoothing, k: 0.25 });
    await m.fit(c);
    const path = join(dir, `m-${smoothing}.clng`);
    await m.save(path);
    const m2 = await NGramModel.load(path);
    const i1 = m.info(), i2 = m2.info();
    expect({ ...i2, threads: 0 }).toEqual({ ...i1, threads: 0 });
    const ctx = c.tokens.subarray(0, 300);
    expect(Buffer.from((await m2.conditional(ctx)).buffer).equals(Buffer.from((await m.conditional(ctx)).buffer))).toBe(true);
    expect((await m2.evaluate(c)).logLikelihood).toBe((await m.evaluate(c)).logLikelihood);
    const s1 = await m.sample({ sequences: 100, maxLength: 30, seed: 3 });
    const s2 = await m2.sample({ sequences: 100, maxLength: 30, seed: 3 });
    expect(Buffer.from(s2.tokens.buffer).equals(Buffer.from(s1.tokens.buffer))).toBe(true);
  });

  test('a damaged, truncated or foreign file is rejected with E_BAD_MODEL_FILE', async () => {
    const m = new NGramModel({ order: 2, vocabSize: 20 });
    await m.fit(randomCorpus(1, 100, 20));
    const path = join(dir, 'ok.clng');
    await m.save(path);
    const bytes = await readFile(path);
    const flipped = Buffer.from(bytes);
    flipped[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(join(dir, 'flipped'), flipped);
    await writeFile(join(dir, 'short'), bytes.subarray(0, bytes.length - 9));
    await writeFile(join(dir, 'foreign'), 'hello world, not a model');
    for (const f of ['flipped', 'short', 'foreign', 'missing']) {
      await expect(NGramModel.load(join(dir, f))).rejects.toMatchObject({ name: 'CollapseError', code: 'E_BAD_MODEL_FILE' });
    }
  });
});

describe('bad input is rejected with typed errors, never a crash', () => {
  const ok = toCorpus([[3, 4], [4]]);
  const expectCode = async (p: Promise<unknown> | (() => unknown), code: string) => {
    if (typeof p === 'function') {
      let err: unknown;
      try {
        p();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CollapseError);
      expect((err as CollapseError).code).toBe(code);
      expect((err as Error).message).not.toContain('\n');
    } else {
      await expect(p).rejects.toMatchObject({ code });
    }
  };

  test('constructor options', async () => {
    await expectCode(() => new NGramModel({ order: 0, vocabSize: 10 }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: 13, vocabSize: 10 }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: NaN, vocabSize: 10 }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: 2.5, vocabSize: 10 }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: 2, vocabSize: -1 }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: 2, vocabSize: 10, smoothing: 'witten-bell' as Smoothing }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: 2, vocabSize: 10, smoothing: 'add-k', k: -1 }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: 2, vocabSize: 10, smoothing: 'add-k', k: NaN }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: 2, vocabSize: 10, threads: 0 }), 'E_BAD_ARGUMENT');
    await expectCode(() => new NGramModel({ order: 2, vocabSize: 10, bos: 2, eos: 2 }), 'E_BAD_ARGUMENT');
  });

  test('corpora', async () => {
    const m = new NGramModel({ order: 3, vocabSize: 10 });
    await expectCode(m.fit({ tokens: Uint32Array.from([3, 10]), offsets: Uint32Array.from([0, 2]) }), 'E_TOKEN_RANGE');
    await expectCode(m.fit({ tokens: Uint32Array.from([3, BOS]), offsets: Uint32Array.from([0, 2]) }), 'E_TOKEN_RANGE');
    await expectCode(m.fit({ tokens: Uint32Array.from([3, 4, 5]), offsets: Uint32Array.from([0, 2, 1, 3]) }), 'E_OFFSETS');
    await expectCode(m.fit({ tokens: Uint32Array.from([3, 4, 5]), offsets: Uint32Array.from([0, 2]) }), 'E_OFFSETS');
    await expectCode(m.fit({ tokens: Uint32Array.from([3]), offsets: Uint32Array.from([1, 1]) }), 'E_OFFSETS');
    await expectCode(m.fit({ tokens: new Uint32Array(0), offsets: Uint32Array.from([0]) }), 'E_CORPUS_EMPTY');
    await expectCode(m.fit({ tokens: new Uint32Array(0), offsets: new Uint32Array(0) }), 'E_OFFSETS');
    await expectCode(m.fit({ tokens: Int32Array.from([3]), offsets: Uint32Array.from([0, 1]) } as never), 'E_BAD_ARGUMENT');
    await expectCode(m.fit({ tokens: [3, 4], offsets: [0, 2] } as never), 'E_BAD_ARGUMENT');
    await expectCode(m.fit(null as never), 'E_BAD_ARGUMENT');
  });

  test('use before fit, and bad sampling options', async () => {
    const m = new NGramModel({ order: 2, vocabSize: 10 });
    await expectCode(m.evaluate(ok), 'E_NOT_FITTED');
    await expectCode(m.sample({ sequences: 1, maxLength: 5, seed: 1 }), 'E_NOT_FITTED');
    await m.fit(ok);
    await expectCode(m.sample({ maxLength: 5, seed: 1 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, tokens: 5, maxLength: 5, seed: 1 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, maxLength: 0, seed: 1 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, maxLength: 5, seed: -1 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, maxLength: 5, seed: 1, temperature: 0 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, maxLength: 5, seed: 1, temperature: NaN }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, maxLength: 5, seed: 1, topP: 1.5 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, maxLength: 5, seed: 1, topK: -3 }), 'E_BAD_ARGUMENT');
    await expectCode(m.conditional(Uint32Array.from([12])), 'E_TOKEN_RANGE');
    await expectCode(m.conditional([1] as never), 'E_BAD_ARGUMENT');
    await expectCode(m.conditional(Uint32Array.from([1, 2, 3]), { width: 2 }), 'E_BAD_ARGUMENT');
    await expectCode(m.evaluate({ tokens: Uint32Array.from([11]), offsets: Uint32Array.from([0, 1]) }), 'E_TOKEN_RANGE');
  });
});

describe('async', () => {
  test('the event loop keeps turning during a long fit', async () => {
    const V = 5000;
    const r = rng(1);
    const n = 1_000_000;
    const tokens = new Uint32Array(n);
    for (let i = 0; i < n; i++) tokens[i] = 3 + Math.floor(r() * r() * (V - 3));
    const offsets = new Uint32Array(n / 20 + 1).map((_, i) => i * 20);
    const m = new NGramModel({ order: 3, vocabSize: V });
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    const t0 = performance.now();
    await m.fit({ tokens, offsets });
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    // A blocking fit would let no timer run before it returns.
    expect(elapsed).toBeGreaterThan(20);
    expect(ticks).toBeGreaterThanOrEqual(3);
  });
});
