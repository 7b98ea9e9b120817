/**
 * The error accounting (src/theory): the decomposition of THEORY.md holds to 1e-12 for every
 * paradigm, ε = 0 exactly for MLE on seen contexts and ≠ 0 for KN, shares sum to 1 and match
 * independently counted provenance, vanished contexts are counted, and the equal-shares formula is
 * exact when the shares are exactly equal.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromSequences, NGramModel, metrics, runExperiment, type Corpus, type Smoothing } from '../src/index.js';
import { initialState, nextState, sampleSize, PARADIGMS, type ParadigmName, type ParadigmParams } from '../src/paradigms/index.js';
import { contextCounts, NativeTheoryTracker, TheoryTracker } from '../src/theory/index.js';
import { randomCorpus } from './helpers/reference-ngram.js';

const V = 40;
const D: Corpus = fromSequences(randomCorpus(17, 1500, V, 9).seqs);

async function runTracker(paradigm: ParadigmName, smoothing: Smoothing, generations: number, opts: { sample?: (n: number) => Corpus; rate?: number; probes?: number; order?: number } = {}) {
  const order = opts.order ?? 3;
  const width = order - 1;
  const probes = metrics.probeContexts(D, { width, k: opts.probes ?? 60 });
  const realCounts = await contextCounts(D, probes.contexts, width, V);
  const params: ParadigmParams = { trainTokens: D.tokens.length + D.offsets.length - 1, rate: opts.rate ?? 0.3, accumulateRate: opts.rate ?? 1, realFraction: 0.2, seed: 5 };
  const rate = paradigm === 'accumulate' ? params.accumulateRate : paradigm === 'accumulate-subsample' ? params.rate : null;
  const tracker = new TheoryTracker({ paradigm, contexts: probes.contexts, weights: probes.weights, width, vocabSize: V, generations, realCounts, rate });
  // The native accounting (what the runner uses) must give the very same records.
  const native = new NativeTheoryTracker({ paradigm, contexts: probes.contexts, weights: probes.weights, width, vocabSize: V, generations, real: D, rate });
  const model = new NGramModel({ order, vocabSize: V, smoothing, threads: 1 });
  let state = initialState(paradigm, D, params);
  const out = [];
  for (let n = 0; n < generations; n++) {
    await model.fit(state.train);
    const S = opts.sample ? opts.sample(n) : await model.sample({ tokens: sampleSize(paradigm, params), maxLength: 30, seed: 100 + n });
    const record = await tracker.step(n, model, state.train, S);
    expect(await native.step(n, model, state.train, S, 1 + (n % 2))).toStrictEqual(record);
    out.push({ record, state, S, probes });
    state = nextState(state, D, S, params);
  }
  return out;
}

describe('closed form', () => {
  test.each(PARADIGMS.flatMap((p) => (['kneser-ney', 'mle', 'add-k'] as Smoothing[]).map((s) => [p, s] as const)))(
    '%s / %s: p̂_n = p0 + E_n rebuilt from the measured errors, to 1e-12',
    async (paradigm, smoothing) => {
      const rs = await runTracker(paradigm, smoothing, 5);
      for (const { record } of rs) {
        expect(record.residual).toBeLessThan(1e-12);
        expect(record.valid + record.vanished).toBe(record.probes);
        expect(record.coefficients.eps).toHaveLength(rs.indexOf(rs.find((r) => r.record === record)!) + 1);
      }
      // E_n's coefficient on ε_n and σ_n is 1 (the current generation's own errors).
      const last = rs.at(-1)!.record;
      expect(last.coefficients.eps.at(-1)).toBeCloseTo(1, 12);
      expect(last.coefficients.sigma.at(-1)).toBeCloseTo(1, 12);
    },
  );
});

describe('order 1: the single empty context (width 0)', () => {
  test.each(PARADIGMS)('%s: one probe with π = 1, native = reference, residual ≤ 1e-12', async (paradigm) => {
    const rs = await runTracker(paradigm, 'kneser-ney', 4, { order: 1 });
    for (const { record } of rs) {
      expect(record.probes).toBe(1);
      expect(record.weight).toBe(1);
      expect(record.residual).toBeLessThan(1e-12);
    }
    const mle = await runTracker(paradigm, 'mle', 3, { order: 1 });
    for (const { record } of mle) expect(record.epsMax).toBe(0);
  });
});

describe('learning error', () => {
  test('ε = 0 exactly for MLE on seen contexts; σ = 0 when T_n = C_n', async () => {
    for (const p of ['replace', 'accumulate'] as ParadigmName[]) {
      const rs = await runTracker(p, 'mle', 3);
      for (const { record } of rs) {
        expect(record.epsL1).toBe(0);
        expect(record.sigmaL1).toBe(0);
      }
    }
  });
  test('ε ≠ 0 for Kneser–Ney and add-k (smoothing moves mass between seen and unseen tokens)', async () => {
    for (const s of ['kneser-ney', 'add-k'] as Smoothing[]) {
      const [first] = await runTracker('replace', s, 1);
      expect(first!.record.epsL1).toBeGreaterThan(0.01);
    }
  });
  test('Accumulate-Subsample reports a subsampling error σ ≠ 0 after generation 0', async () => {
    const rs = await runTracker('accumulate-subsample', 'kneser-ney', 3);
    expect(rs[2]!.record.sigmaL1).toBeGreaterThan(0);
  });
});

describe('shares', () => {
  test('real share = π-weighted c_D(x)/c_{C_n}(x), counted independently from the provenance', async () => {
    const rs = await runTracker('accumulate', 'kneser-ney', 4);
    for (const { record, state, probes } of rs) {
      // C_n = T_n for accumulate: count D's and the whole corpus's positions at each probe.
      const all = metrics.empiricalRows(state.train, probes.contexts, 2, V).counts;
      const real = metrics.empiricalRows(D, probes.contexts, 2, V).counts;
      let num = 0, den = 0;
      probes.weights.forEach((w, x) => {
        num += w * (real[x]! / all[x]!);
        den += w;
      });
      expect(record.realShare).toBeCloseTo(num / den, 12);
      // and it fades: 1, then below 1
      if (state.generation === 0) expect(record.realShare).toBe(1);
      else expect(record.realShare).toBeLessThan(1);
    }
  });
  test('Replace: no real share after generation 0', async () => {
    const rs = await runTracker('replace', 'kneser-ney', 3);
    expect(rs.map((r) => r.record.realShare)).toEqual([1, 0, 0]);
  });
  test('coefficients follow the shares: Replace E_n = Σ_{k≤n} ε_k + Σ_{k<n} δ_k', async () => {
    const rs = await runTracker('replace', 'kneser-ney', 4);
    const c = rs.at(-1)!.record.coefficients;
    for (const x of c.eps) expect(x).toBeCloseTo(1, 12);
    for (const x of c.delta) expect(x).toBeCloseTo(1, 12);
  });
});

describe('vanished contexts', () => {
  test('a probe context absent from T_n is dropped from the accounting and counted', async () => {
    // Replace with a hand-made S_0 that keeps only sequences of length ≤ 1: every width-2 context
    // with a real token in front (a b) vanishes from T_1.
    const short = (): Corpus => fromSequences([[3], [4], [5], []]);
    const rs = await runTracker('replace', 'kneser-ney', 2, { sample: (n) => (n === 0 ? short() : short()) });
    expect(rs[0]!.record.vanished).toBe(0);
    expect(rs[1]!.record.vanished).toBeGreaterThan(0);
    expect(rs[1]!.record.valid).toBeGreaterThan(0);
    expect(rs[1]!.record.residual).toBeLessThan(1e-12);
  });
});

describe('equal shares', () => {
  test('THEORY.md’s formula E_n = ε_n + σ_n + r Σ (ε_k+δ_k+σ_k)/(1+(k+1)r) is exact when w_{n,k} = r/(1+nr) exactly', async () => {
    // r = 1 and every S_k = D (same counts at every context): c_{S_k}(x) = c_D(x), shares exactly equal.
    const rs = await runTracker('accumulate', 'kneser-ney', 5, { sample: () => D, rate: 1 });
    for (const { record } of rs) {
      expect(record.equalShares).not.toBeNull();
      expect(record.equalShares!.deviationL1).toBeLessThan(1e-12);
      expect(record.residual).toBeLessThan(1e-12);
    }
    // With real samples the shares are only equal in expectation: the formula is an approximation.
    const real = await runTracker('accumulate', 'kneser-ney', 3, { rate: 1 });
    expect(real.at(-1)!.record.equalShares!.deviationL1).toBeGreaterThan(1e-6);
  });
});

describe('runner integration', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'collapse-theory-'));
    const words = ['the', 'cat', 'dog', 'sat', 'ran', 'on', 'a', 'mat', 'log', 'and', 'then', 'slept', 'quickly', 'home'];
    const lines: string[] = [];
    let s = 7;
    const r = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let i = 0; i < 600; i++) {
      const n = 2 + Math.floor(r() * 8);
      lines.push(Array.from({ length: n }, () => words[Math.floor(r() * r() * words.length)]!).join(' '));
    }
    await writeFile(join(dir, 'toy.txt'), lines.join('\n') + '\n');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  test('every paradigm records a theory block with residual ≤ 1e-12', async () => {
    const res = await runExperiment(
      { corpus: `text:${join(dir, 'toy.txt')}`, paradigms: [...PARADIGMS], generations: 3, theory: true, probes: 50, seed: 3 },
      { out: join(dir, 'run'), threads: 1 },
    );
    expect(res.records).toHaveLength(12);
    for (const r of res.records) {
      expect(r.theory).toBeDefined();
      expect(r.theory!.residual).toBeLessThan(1e-12);
    }
  });
});
