/**
 * The measurements mean what they say (issue 11), each against a value worked out apart from the
 * code under test: by hand on a toy corpus, or by the naive reference n-gram of
 * test/helpers/reference-ngram.ts, or by recounting the corpora here with plain Maps.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { corpusPositions, loadCorpus, type Corpus } from '../src/corpus/index.js';
import { coveredPerplexity, runExperiment, type MetricsRecord } from '../src/experiment/runner.js';
import { NGramModel } from '../src/models/ngram.js';
import { metrics, fromSequences } from '../src/index.js';
import { AccountingCheck, NativeTheoryTracker } from '../src/theory/index.js';
import { initialState, nextState, sampleSize, type ParadigmParams } from '../src/paradigms/index.js';
import { referenceModel } from './helpers/reference-ngram.js';
import { ROOT, runCli } from './experiment/helpers.js';

let dir: string;
let toy: string;
let toyUnseen: string;

const seqsOf = (c: { tokens: Uint32Array; offsets: Uint32Array }): number[][] => {
  const out: number[][] = [];
  for (let i = 0; i + 1 < c.offsets.length; i++) out.push(Array.from(c.tokens.subarray(c.offsets[i]!, c.offsets[i + 1]!)));
  return out;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'collapse-measure-'));
  const words = ['the', 'cat', 'dog', 'sat', 'ran', 'on', 'a', 'mat', 'log', 'and', 'then', 'slept', 'quickly', 'home'];
  const lines: string[] = [];
  let s = 11;
  const r = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 500; i++) {
    const n = 2 + Math.floor(r() * 7);
    lines.push(Array.from({ length: n }, () => words[Math.floor(r() * r() * words.length)]!).join(' '));
  }
  toy = join(dir, 'toy.txt');
  await writeFile(toy, lines.join('\n') + '\n');
  // The same, with a word only the last lines (the held-out part) use.
  toyUnseen = join(dir, 'unseen.txt');
  await writeFile(toyUnseen, lines.map((l, i) => (i >= 450 && i % 3 === 0 ? l + ' zebra' : l)).join('\n') + '\n');
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let runs = 0;
async function run(cfg: Record<string, unknown>): Promise<{ records: MetricsRecord[]; dir: string }> {
  const out = join(dir, `run-${runs++}`);
  const res = await runExperiment({ corpus: `text:${toy}`, seed: 3, probes: 200, ...cfg }, { out, threads: 1 });
  return { records: res.records, dir: out };
}

describe('generation 0 of an MLE run: TV = KL = lost mass = 0 exactly (float64 rows, order 1 at its empty context)', () => {
  test.each([1, 2, 3])('order %i', async (order) => {
    const { records } = await run({ model: { order, smoothing: 'mle' }, paradigms: ['replace', 'replace-with-real'], generations: 2, theory: true });
    for (const r of records.filter((x) => x.generation === 0)) {
      expect(r.tv).toBe(0);
      expect(r.kl).toBe(0);
      expect(r.klSupport).toBe(0);
      expect(r.lostMass).toBe(0);
      expect(r.theory!.epsMax).toBe(0);
      expect(r.theory!.EL1).toBe(0);
    }
    if (order === 1) {
      // One, empty context that every position has: π = 1.
      for (const r of records) {
        expect(r.theory!.probes).toBe(1);
        expect(r.probeWeight).toBe(1);
      }
    }
  });

  test('order 1, add-k: generation-0 TV is that of the unigram add-k row against the unigram emp_D (reference model)', async () => {
    const { records } = await run({ model: { order: 1, smoothing: 'add-k', k: 1 }, paradigms: ['replace'], generations: 1 });
    const c = await loadCorpus(`text:${toy}`);
    const V = c.vocab.size;
    const ref = referenceModel(seqsOf(c.train), { order: 1, smoothing: 'add-k', k: 1, V });
    const counts = new Map<number, number>();
    let n = 0;
    for (const s of seqsOf(c.train)) for (const t of [...s, 2]) {
      counts.set(t, (counts.get(t) ?? 0) + 1);
      n++;
    }
    let tv = 0;
    for (let v = 0; v < V; v++) tv += Math.abs(ref.prob([], v) - (counts.get(v) ?? 0) / n);
    expect(records[0]!.tv).toBeCloseTo(tv / 2, 12);
  });
});

describe('perplexity over covered positions and the zero-probability share', () => {
  test('by hand: exp of minus the mean log-probability over the finite entries', () => {
    const lp = Float64Array.of(Math.log(0.5), -Infinity, Math.log(0.25));
    expect(coveredPerplexity(lp)).toBeCloseTo(Math.sqrt(8), 14);
    expect(coveredPerplexity(Float64Array.of(-Infinity))).toBeNull();
  });

  test('MLE bigram, generation 0: the reference model scored over H gives the same covered perplexity and zero share', async () => {
    const { records } = await run({ corpus: `text:${toyUnseen}`, model: { order: 2, smoothing: 'mle' }, paradigms: ['replace'], generations: 1 });
    const c = await loadCorpus(`text:${toyUnseen}`);
    const ref = referenceModel(seqsOf(c.train), { order: 2, smoothing: 'mle', V: c.vocab.size });
    let sum = 0, covered = 0, zero = 0;
    for (const s of seqsOf(c.test)) {
      const full = [1, ...s, 2];
      for (let j = 1; j < full.length; j++) {
        const p = ref.prob([full[j - 1]!], full[j]!);
        if (p > 0) {
          sum += Math.log(p);
          covered++;
        } else zero++;
      }
    }
    expect(zero).toBeGreaterThan(0);
    const r = records[0]!;
    expect(r.perplexity).toBeNull();
    expect(r.zeroProbability).toBe(zero);
    expect(r.zeroProbabilityShare).toBeCloseTo(zero / (zero + covered), 14);
    expect(r.perplexityCovered).toBeCloseTo(Math.exp(-sum / covered), 9);
  });

  test('the printed table carries the finite figures when the true perplexity is infinite', async () => {
    const out = join(dir, 'cli-mle');
    const res = await runCli(['run', '--corpus', `text:${toy}`, '--smoothing', 'mle', '--generations', '2', '--paradigm', 'replace', '--out', out, '--threads', '1', '--train-tokens', '1200']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/Perplexity over the positions of H the model covers/);
    expect(res.stdout).toMatch(/\d+\.\d\d \(\d+\.\d\d%\)/);
    expect(res.stdout).toMatch(/D: a seeded draw of \d+ whole sequences/);
    const csv = await readFile(join(out, 'metrics.csv'), 'utf8');
    const head = csv.split('\n')[0]!.split(',');
    const row = csv.split('\n')[1]!.split(',');
    expect(Number(row[head.indexOf('perplexityCovered')])).toBeGreaterThan(1);
    expect(row[head.indexOf('zeroProbabilityShare')]).toMatch(/^0\.\d+/);
  });
});

describe('--train-tokens below |D| draws D itself', () => {
  test('every paradigm starts from the same D of about N positions; accumulate-subsample keeps that size', async () => {
    const N = 1000;
    const { records, dir: out } = await run({ paradigms: ['replace', 'accumulate', 'accumulate-subsample', 'replace-with-real'], generations: 3, trainTokens: N });
    const c = await loadCorpus(`text:${toy}`);
    const meta = JSON.parse(await readFile(join(out, 'config.json'), 'utf8'));
    expect(meta.real.drawn).toBe(true);
    expect(meta.real.splitPositions).toBe(corpusPositions(c.train));
    const maxSeq = Math.max(...seqsOf(c.train).map((s) => s.length + 1));
    expect(meta.real.positions).toBeGreaterThanOrEqual(N);
    expect(meta.real.positions).toBeLessThan(N + maxSeq);
    const gen0 = records.filter((r) => r.generation === 0);
    for (const r of gen0) {
      expect(r.trainTokens).toBe(meta.real.positions);
      expect(r.realShare).toBe(1);
      // One and the same model: the same perplexity.
      expect(r.perplexity).toBe(gen0[0]!.perplexity);
    }
    for (const r of records.filter((x) => x.paradigm === 'accumulate-subsample')) {
      expect(r.trainTokens).toBeGreaterThanOrEqual(meta.real.positions);
      expect(r.trainTokens).toBeLessThan(meta.real.positions + 257);
    }
  });
});

describe('shares and the accounting sums', () => {
  test('every earlier generation’s share of T_n, from the sizes of the samples (Accumulate: T_n = D ∪ S_0 ∪ … ∪ S_{n−1})', async () => {
    const { records } = await run({ paradigms: ['accumulate'], generations: 4, theory: true });
    for (const r of records) {
      expect(r.generationShares).toHaveLength(r.generation);
      r.generationShares.forEach((sh, k) => expect(sh).toBeCloseTo(records[k]!.sampleTokens / r.trainTokens, 14));
      if (r.generation > 0) expect(r.lastGenerationShare).toBe(r.generationShares.at(-1));
      expect(r.realShare + r.generationShares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
      // Raw sums and Σπ: mean × Σπ = sum.
      expect(r.tvSum).toBeCloseTo(r.tv * r.probeWeight, 14);
      expect(r.lostMassSum).toBeCloseTo(r.lostMass * r.probeWeight, 14);
      const t = r.theory!;
      expect(t.sums.eps).toBeCloseTo(t.epsL1 * t.weight, 14);
      expect(t.sums.E).toBeCloseTo(t.EL1 * t.weight, 14);
      expect(t.sums.delta).toBeCloseTo(t.deltaL1 * t.deltaWeight, 14);
    }
  });

  test('Replace-with-real: w_D is the π-weighted share of T_n’s drawn real part, recounted here with Maps', async () => {
    const V = 30;
    const r0 = (() => {
      let s = 5;
      return () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
    })();
    const D: Corpus = fromSequences(Array.from({ length: 800 }, () => Array.from({ length: 1 + Math.floor(r0() * 8) }, () => 3 + Math.floor((V - 3) * r0() * r0()))));
    const width = 1;
    const probes = metrics.probeContexts(D, { width, k: 40 });
    const params: ParadigmParams = { trainTokens: corpusPositions(D), rate: 0.1, accumulateRate: 1, realFraction: 0.2, seed: 9 };
    const tracker = new NativeTheoryTracker({ paradigm: 'replace-with-real', contexts: probes.contexts, weights: probes.weights, width, vocabSize: V, generations: 3, real: D, rate: null });
    const model = new NGramModel({ order: 2, vocabSize: V, smoothing: 'kneser-ney', threads: 1 });
    let state = initialState('replace-with-real', D, params);
    let checked = 0;
    for (let n = 0; n < 3; n++) {
      await model.fit(state.train);
      const S = await model.sample({ tokens: sampleSize('replace-with-real', params), maxLength: 20, seed: 40 + n });
      const rec = await tracker.step(n, model, state.train, S);
      // c(x) per provenance, counted here: the context of a position is the previous token (BOS first).
      const byCtx = (real: boolean) => {
        const m = new Map<number, number>();
        const t = state.train;
        for (let i = 0; i + 1 < t.offsets.length; i++) {
          if ((t.provenance[i] === -1) !== real) continue;
          const full = [1, ...t.tokens.subarray(t.offsets[i]!, t.offsets[i + 1]!)];
          for (let j = 0; j < full.length; j++) m.set(full[j]!, (m.get(full[j]!) ?? 0) + 1);
        }
        return m;
      };
      const cR = byCtx(true), cS = byCtx(false);
      let w = 0, sum = 0;
      for (let x = 0; x < probes.weights.length; x++) {
        const ctx = probes.contexts[x]!;
        const total = (cR.get(ctx) ?? 0) + (cS.get(ctx) ?? 0);
        if (total === 0) continue;
        w += probes.weights[x]!;
        sum += probes.weights[x]! * (cR.get(ctx) ?? 0) / total;
      }
      if (n > 0 && rec.vanished === 0) {
        checked++;
        expect(rec.realShare).toBeCloseTo(sum / w, 12);
        // About α = 0.2, not the share of D in D ∪ S_{n−1} (≈ 0.5) that the old accounting read.
        expect(rec.realShare).toBeGreaterThan(0.1);
        expect(rec.realShare).toBeLessThan(0.3);
      }
      expect(rec.residual).toBeLessThan(1e-12);
      state = nextState(state, D, S, params);
    }
    expect(checked).toBe(2);
  });
});

describe('probes from H (--probes-from test)', () => {
  test('contexts D never shows are skipped, and Σπ is the share of H’s positions whose context D has', async () => {
    const { records } = await run({ corpus: `text:${toyUnseen}`, model: { order: 2 }, paradigms: ['replace'], generations: 1, probesFrom: 'test', probes: 1000, theory: true });
    const c = await loadCorpus(`text:${toyUnseen}`);
    const inD = new Set<number>([1]);
    for (const s of seqsOf(c.train)) for (const t of s) inD.add(t);
    let unseenPositions = 0, positions = 0;
    const unseenContexts = new Set<number>();
    for (const s of seqsOf(c.test)) {
      const full = [1, ...s];
      for (const ctx of full) {
        positions++;
        if (!inD.has(ctx)) {
          unseenPositions++;
          unseenContexts.add(ctx);
        }
      }
    }
    expect(unseenContexts.size).toBeGreaterThan(0);
    const r = records[0]!;
    expect(r.probesSkipped).toBe(unseenContexts.size);
    expect(r.probeWeight).toBeCloseTo(1 - unseenPositions / positions, 12);
    expect(r.theory!.unseen).toBe(unseenContexts.size);
  });
});

describe('σ sign statistics', () => {
  test('head/tail σ: 0 where T_n = C_n, the decile means of emp_{T_n} − emp_{C_n} (recomputed with empiricalRows) for Accumulate-Subsample', async () => {
    const V = 30;
    let s = 21;
    const r0 = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
    const D: Corpus = fromSequences(Array.from({ length: 600 }, () => Array.from({ length: 1 + Math.floor(r0() * 8) }, () => 3 + Math.floor((V - 3) * r0() * r0()))));
    const width = 1;
    const probes = metrics.probeContexts(D, { width, k: 30 });
    const params: ParadigmParams = { trainTokens: corpusPositions(D), rate: 0.5, accumulateRate: 1, realFraction: 0.2, seed: 4 };
    const tracker = new NativeTheoryTracker({ paradigm: 'accumulate-subsample', contexts: probes.contexts, weights: probes.weights, width, vocabSize: V, generations: 3, real: D, rate: 0.5 });
    const model = new NGramModel({ order: 2, vocabSize: V, smoothing: 'kneser-ney', threads: 1 });
    const p0 = metrics.empiricalRows(D, probes.contexts, width, V);
    let state = initialState('accumulate-subsample', D, params);
    let checked = 0;
    for (let n = 0; n < 3; n++) {
      await model.fit(state.train);
      const S = await model.sample({ tokens: sampleSize('accumulate-subsample', params), maxLength: 20, seed: 70 + n });
      const rec = await tracker.step(n, model, state.train, S);
      const T = metrics.empiricalRows(state.train, probes.contexts, width, V);
      const C = metrics.empiricalRows(state.pool!, probes.contexts, width, V);
      let w = 0, head = 0, tail = 0;
      for (let x = 0; x < probes.weights.length; x++) {
        if (T.counts[x] === 0) continue;
        const ids: number[] = [];
        for (let v = 0; v < V; v++) if (p0.rows[x * V + v]! > 0) ids.push(v);
        ids.sort((a, b) => p0.rows[x * V + b]! - p0.rows[x * V + a]! || a - b);
        const m = Math.ceil(ids.length / 10);
        const mean = (sel: number[]) => sel.reduce((acc, v) => acc + T.rows[x * V + v]! - C.rows[x * V + v]!, 0) / sel.length;
        w += probes.weights[x]!;
        head += probes.weights[x]! * mean(ids.slice(0, m));
        tail += probes.weights[x]! * mean(ids.slice(ids.length - m));
      }
      if (rec.vanished === 0) {
        checked++;
        if (n > 0) expect(rec.head.sigma).not.toBe(0);
        expect(rec.head.sigma).toBeCloseTo(head / w, 12);
        expect(rec.tail.sigma).toBeCloseTo(tail / w, 12);
      }
      state = nextState(state, D, S, params);
    }
    expect(checked).toBe(3);
  });
});

describe('accounting checks can fail', () => {
  test('a model fitted on another corpus, a pool that lacks a source, smoothing under an MLE check', async () => {
    const V = 20;
    const D: Corpus = fromSequences(Array.from({ length: 200 }, (_, i) => [3 + (i % 7), 3 + ((i * 3) % 11), 3 + ((i * 5) % 13)]));
    const other: Corpus = fromSequences(Array.from({ length: 200 }, (_, i) => [3 + ((i + 1) % 7), 3 + ((i * 7) % 11)]));
    const width = 2;
    const probes = metrics.probeContexts(D, { width, k: 20 });
    const model = new NGramModel({ order: 3, vocabSize: V, smoothing: 'mle', threads: 1 });
    const S = fromSequences([[3, 4, 5], [6, 7]]);
    // Honest: fitted on T_0 = D.
    await model.fit(D);
    const ok = await new AccountingCheck({ paradigm: 'replace', contexts: probes.contexts, width, vocabSize: V, real: D, mle: true }).step(0, model, D, D, S, 0);
    expect(ok).toEqual({ engineCounts: { ok: true, maxDiff: 0 }, mleEpsilonZero: { ok: true, epsMax: 0 }, sourceCounts: { ok: true, maxDiff: 0 } });
    // The engine was fitted on another corpus than the T_n handed in.
    await model.fit(other);
    const bad = await new AccountingCheck({ paradigm: 'replace', contexts: probes.contexts, width, vocabSize: V, real: D, mle: true }).step(0, model, D, D, S, 0);
    expect(bad.engineCounts.ok).toBe(false);
    expect(bad.engineCounts.maxDiff).toBeGreaterThan(0);
    // Accumulate at n = 1 must hold D and S_0: a pool of D alone misses S_0's counts.
    await model.fit(D);
    const chk = new AccountingCheck({ paradigm: 'accumulate', contexts: probes.contexts, width, vocabSize: V, real: D, mle: true });
    await chk.step(0, model, D, D, S, 0);
    const missing = await chk.step(1, model, D, D, S, 0);
    expect(missing.sourceCounts.ok).toBe(false);
    // An MLE check fed a non-zero ε.
    const eps = await new AccountingCheck({ paradigm: 'replace', contexts: probes.contexts, width, vocabSize: V, real: D, mle: true }).step(0, model, D, D, S, 1e-3);
    expect(eps.mleEpsilonZero).toEqual({ ok: false, epsMax: 1e-3 });
  });

  test('the tracker’s max |ε| is 0 for MLE and > 0 for Kneser–Ney on the same data', async () => {
    const V = 20;
    const D: Corpus = fromSequences(Array.from({ length: 300 }, (_, i) => [3 + (i % 7), 3 + ((i * 3) % 11), 3 + ((i * 5) % 13)]));
    const probes = metrics.probeContexts(D, { width: 2, k: 30 });
    for (const smoothing of ['mle', 'kneser-ney'] as const) {
      const model = new NGramModel({ order: 3, vocabSize: V, smoothing, threads: 1 });
      await model.fit(D);
      const tr = new NativeTheoryTracker({ paradigm: 'replace', contexts: probes.contexts, weights: probes.weights, width: 2, vocabSize: V, generations: 1, real: D, rate: null });
      const rec = await tr.step(0, model, D, fromSequences([[3, 4]]));
      if (smoothing === 'mle') expect(rec.epsMax).toBe(0);
      else expect(rec.epsMax).toBeGreaterThan(0);
    }
  });
});

describe('no metric is negative where its definition forbids it (property over a few runs)', () => {
  test('orders 1–3, every estimator and paradigm', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.constantFrom('mle', 'kneser-ney', 'add-k'),
        fc.integer({ min: 1, max: 1000 }),
        async (order, smoothing, seed) => {
          const { records } = await run({ model: { order, smoothing }, paradigms: ['replace', 'accumulate', 'accumulate-subsample', 'replace-with-real'], generations: 3, theory: true, seed, trainTokens: 1500 });
          for (const r of records) {
            for (const k of ['tv', 'klSupport', 'lostMass', 'probeWeight', 'tvSum', 'klSupportSum', 'lostMassSum', 'zeroProbabilityShare', 'realShare', 'lastGenerationShare', 'tailRetention', 'unigramEntropy'] as const) {
              expect(r[k]).toBeGreaterThanOrEqual(0);
            }
            expect(r.tv).toBeLessThanOrEqual(1 + 1e-12);
            expect(r.lostMass).toBeLessThanOrEqual(1 + 1e-12);
            if (r.kl !== null) expect(r.kl).toBeGreaterThanOrEqual(0);
            if (r.lostMass > 0) expect(r.kl).toBeNull();
            if (r.perplexity !== null) expect(r.perplexity).toBeGreaterThanOrEqual(1);
            if (r.perplexityCovered !== null) expect(r.perplexityCovered).toBeGreaterThanOrEqual(1);
            for (const g of r.generationShares) expect(g).toBeGreaterThanOrEqual(0);
            const t = r.theory!;
            for (const v of [t.epsL1, t.deltaL1, t.sigmaL1, t.EL1, t.realShare, t.weight, t.deltaWeight, t.sums.eps, t.sums.delta, t.sums.sigma, t.sums.E, t.epsMax, t.residual]) {
              expect(v).toBeGreaterThanOrEqual(0);
            }
            expect(t.checks!.engineCounts.ok).toBe(true);
            expect(t.checks!.sourceCounts.ok).toBe(true);
            if (smoothing === 'mle') expect(t.checks!.mleEpsilonZero!.ok).toBe(true);
          }
        },
      ),
      { numRuns: 4, seed: 42 },
    );
  });
});

describe('the theory page', () => {
  test('docs/theory.md exists, defines the reported fields, and is what README and --help point to', async () => {
    const page = readFileSync(join(ROOT, 'docs', 'theory.md'), 'utf8');
    for (const field of ['klSupport', 'lostMass', 'perplexityCovered', 'zeroProbabilityShare', 'probeWeight', 'generationShares', 'probesFrom', 'checks', 'equal-shares prediction']) {
      expect(page).toContain(field);
    }
    expect(readFileSync(join(ROOT, 'README.md'), 'utf8')).toContain('docs/theory.md');
    // No mention of the old, absent THEORY.md in the sources or the README.
    const walk = (d: string): string[] => readdirSync(d).flatMap((f) => (statSync(join(d, f)).isDirectory() ? walk(join(d, f)) : [join(d, f)]));
    for (const f of [...walk(join(ROOT, 'src')), join(ROOT, 'README.md')]) expect(readFileSync(f, 'utf8')).not.toMatch(/THEORY\.md/);
    const help = await runCli(['run', '--help']);
    expect(help.stdout).toContain('docs/theory.md');
    expect(existsSync(join(ROOT, 'docs', 'theory.md'))).toBe(true);
  });
});

describe('input checks of the new options', () => {
  test('probesFrom must be train, test or both; the CLI rejects another split with exit 2', async () => {
    const { resolveConfig } = await import('../src/experiment/config.js');
    expect(resolveConfig({ probesFrom: 'both' }).probesFrom).toBe('both');
    expect(() => resolveConfig({ probesFrom: 'valid' })).toThrow(/probesFrom must be one of train, test, both/);
    const res = await runCli(['run', '--corpus', `text:${toy}`, '--probes-from', 'valid', '--out', join(dir, 'never')]);
    expect(res.code).toBe(2);
  });

  test('`collapse theory` exits non-zero when a record holds a failed check', async () => {
    const { records, dir: out } = await run({ paradigms: ['replace'], generations: 2, theory: true });
    const broken = records.map((r, i) => (i === 1 ? { ...r, theory: { ...r.theory!, checks: { ...r.theory!.checks!, engineCounts: { ok: false, maxDiff: 3 } } } } : r));
    await writeFile(join(out, 'metrics.jsonl'), broken.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const res = await runCli(['theory', out]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/FAILED/);
    expect(res.stderr).toMatch(/accounting checks failed in replace gen 1/);
  });
});
