/**
 * End to end: `collapse run --model transformer` (dist/cli/main.js) on a tiny synthetic corpus:
 * the run folder's files, the transformer-specific metrics (p̂_0 reference, training columns),
 * byte-identical results across two runs and across thread counts (timings.jsonl excluded), the
 * config schema's transformer branch, and the usage errors.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CSV_COLUMNS, TRANSFORMER_CSV_COLUMNS } from '../../src/experiment/runner.js';
import { resolveConfig } from '../../src/experiment/config.js';
import { CollapseError } from '../../src/errors.js';
import { expectSameRun, listFiles, readRecords, removeDir, requireBuiltCli, runCli, sentences, tempDir, writeLines, type CliResult } from './helpers.js';

const GENERATIONS = 2;
let root: string;
let common: string[];
const dir = (tag: string) => path.join(root, tag);
let resA: CliResult;
let resB: CliResult;
let resC: CliResult;

beforeAll(async () => {
  requireBuiltCli();
  root = tempDir('transformer');
  const corpusFile = writeLines(path.join(root, 'corpus.txt'), sentences(5, 300, { vocab: 25, minLen: 2, maxLen: 8 }));
  common = [
    'run', '--corpus', `text:${corpusFile}`, '--model', 'transformer', '--tokenizer', 'word',
    '--hidden', '16', '--layers', '2', '--heads', '2', '--seq-len', '32', '--epochs', '1',
    '--generations', String(GENERATIONS), '--max-length', '32', '--seed', '4',
  ];
  [resA, resB, resC] = await Promise.all([
    runCli([...common, '--out', dir('A'), '--threads', '1']),
    runCli([...common, '--out', dir('B'), '--threads', '2']),
    runCli([...common, '--out', dir('C'), '--threads', '1', '--quiet']),
  ]);
}, 120_000);

afterAll(() => removeDir(root));

test('the run succeeds and writes the run folder', () => {
  for (const r of [resA, resB, resC]) expect({ code: r.code, stderr: r.code === 0 ? '' : r.stderr }).toEqual({ code: 0, stderr: '' });
  const files = listFiles(dir('A'));
  for (const p of ['replace', 'accumulate', 'accumulate-subsample']) {
    for (let g = 0; g < GENERATIONS; g++) expect(files).toContain(`samples/${p}/gen-00${g}.jsonl`);
  }
  expect(files).toEqual(expect.arrayContaining(['config.json', 'metrics.jsonl', 'metrics.csv', 'state/progress.json']));
  expect(listFiles(dir('A'), { includeTimings: true })).toContain('timings.jsonl');
  expect(files.some((f) => f.endsWith('.bin'))).toBe(false); // S_n state removed at the end
  const cfg = JSON.parse(readFileSync(path.join(dir('A'), 'config.json'), 'utf8'));
  expect(cfg.config.model).toMatchObject({ kind: 'transformer', hidden: 16, layers: 2, heads: 2, seqLen: 32, epochs: 1, window: 256, contextLength: 32, intermediate: 64, tokenizer: 'word' });
  expect(resA.stdout).toMatch(/model transformer from scratch \(hidden 16, 2 layers, 2 heads/);
  expect(resA.stdout).toMatch(/Total variation from p̂_0/);
  expect(resA.stderr).toMatch(/replace gen 0: training step \d+\/\d+, loss \d/);
  expect(resC.stdout + resC.stderr).toBe('');
});

test('records: p̂_0 reference (TV 0 at generation 0), training columns, sane metrics', () => {
  const records = readRecords(dir('A'));
  expect(records).toHaveLength(3 * GENERATIONS);
  for (const r of records) {
    expect(r.perplexity).toBeGreaterThan(1);
    expect(r.perplexity).toBeLessThan(100);
    expect((r as { trainSteps?: number }).trainSteps).toBeGreaterThan(0);
    expect(Number.isFinite((r as { trainLoss?: number }).trainLoss)).toBe(true);
    if (r.generation === 0) {
      expect(r.tv).toBe(0);
      expect(r.kl).toBe(0);
    } else {
      expect(r.tv).toBeGreaterThan(0);
      expect(r.tv).toBeLessThan(1);
    }
    expect(r.sampleTokens).toBeGreaterThan(0);
  }
  // Replace and Accumulate share T_0 = D and the seeds of generation 0: one model, scored once
  // and reported under both (Accumulate-Subsample's T_0 is a subsample, its own model).
  const gen0 = (p: string) => records.find((r) => r.paradigm === p && r.generation === 0) as Record<string, unknown>;
  for (const key of ['perplexity', 'zeroProbability', 'trainSteps', 'trainLoss', 'trainTokens']) expect(gen0('accumulate')[key]).toBe(gen0('replace')[key]);
  const header = readFileSync(path.join(dir('A'), 'metrics.csv'), 'utf8').split('\n')[0];
  expect(header).toBe([...CSV_COLUMNS, ...TRANSFORMER_CSV_COLUMNS].join(','));
  const sample = readFileSync(path.join(dir('A'), 'samples', 'replace', 'gen-000.jsonl'), 'utf8');
  expect((JSON.parse(sample.split('\n')[0]!) as { text: string }).text).toMatch(/^(w\d+|<unk>)( (w\d+|<unk>))*$/);
});

test('deterministic: two runs, and --threads 1 vs 2, are byte-identical (timings.jsonl aside)', () => {
  expectSameRun(dir('A'), dir('C'));
  expectSameRun(dir('A'), dir('B'));
});

test('a trained byte-level BPE (--tokenizer bpe --vocab-size) runs end to end', async () => {
  const r = await runCli([...common.map((a) => (a === String(GENERATIONS) ? '1' : a === 'word' ? 'bpe' : a)), '--vocab-size', '300', '--paradigm', 'replace', '--out', dir('bpe'), '--quiet']);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  const cfg = JSON.parse(readFileSync(path.join(dir('bpe'), 'config.json'), 'utf8'));
  expect(cfg.config.model).toMatchObject({ tokenizer: 'bpe', vocabSize: 300 });
  const [rec] = readRecords(dir('bpe'));
  expect(rec!.perplexity).toBeGreaterThan(1);
  // Samples decode to text (byte-level: words of the corpus, spaces kept).
  const line = readFileSync(path.join(dir('bpe'), 'samples', 'replace', 'gen-000.jsonl'), 'utf8').split('\n')[0]!;
  expect((JSON.parse(line) as { text: string }).text.length).toBeGreaterThan(0);
}, 60_000);

test('usage errors: --theory, n-gram flags, transformer flags without --model transformer, preset conflicts', async () => {
  const theory = await runCli([...common, '--theory', '--out', dir('x1')]);
  expect(theory.code).toBe(2);
  expect(theory.stderr).toMatch(/theory: the error accounting .* n-gram models only/);
  const order = await runCli([...common, '--order', '4', '--out', dir('x2')]);
  expect(order.code).toBe(2);
  expect(order.stderr).toMatch(/--order applies to --model ngram only/);
  const hidden = await runCli(['run', '--hidden', '16', '--out', dir('x3')]);
  expect(hidden.code).toBe(2);
  expect(hidden.stderr).toMatch(/--hidden applies to --model transformer only/);
  const heads = await runCli([...common.map((a, i, all) => (all[i - 1] === '--heads' ? '3' : a)), '--out', dir('x4')]);
  expect(heads.code).toBe(2);
  expect(heads.stderr).toMatch(/model\.heads \(3\) must divide model\.hidden \(16\)/);
});

describe('config schema: model is ngram | transformer', () => {
  const err = (input: unknown): CollapseError => {
    try {
      resolveConfig(input);
    } catch (e) {
      return e as CollapseError;
    }
    throw new Error(`accepted ${JSON.stringify(input)}`);
  };

  test('defaults and presets', () => {
    const c = resolveConfig({ model: { kind: 'transformer' } });
    expect(c.model).toMatchObject({ kind: 'transformer', preset: null, hidden: 64, layers: 4, heads: 4, window: 256, contextLength: 256, intermediate: 256, seqLen: 128, epochs: 1, batchSize: 8, lr: 1e-3, tokenizer: 'bpe', vocabSize: 4096, probeOrder: 3, init: 'scratch', initSha256: null });
    // The transformer's run defaults: sized to finish in minutes (README); the n-gram keeps its own.
    expect(c).toMatchObject({ generations: 5, trainTokens: null, saveModels: false });
    expect(resolveConfig({ model: { kind: 'transformer' }, generations: 2 })).toMatchObject({ generations: 2 });
    expect(resolveConfig({})).toMatchObject({ generations: 10, trainTokens: null });
    // The tokenizer is never switched implicitly: a vocabulary size caps the word vocabulary when the tokenizer is "word".
    expect(resolveConfig({ model: { kind: 'transformer', tokenizer: 'word', vocabSize: 500 } }).model).toMatchObject({ tokenizer: 'word', vocabSize: 500 });
    expect(resolveConfig({ model: { kind: 'transformer', tokenizer: 'word' } }).model).toMatchObject({ tokenizer: 'word', vocabSize: null });
    expect(resolveConfig(c)).toEqual(c); // a resolved config resolves to itself (resume)
    const p = resolveConfig({ model: { kind: 'transformer', preset: 'tinystories-1m' } });
    expect(p.model).toMatchObject({ hidden: 64, layers: 8, heads: 16, window: 256, contextLength: 2048, intermediate: 256 });
    expect(resolveConfig(p)).toEqual(p);
    expect(resolveConfig({ model: { kind: 'transformer', preset: 'tinystories-33m' } }).model).toMatchObject({ hidden: 768, layers: 4, heads: 16 });
    expect(resolveConfig({ model: { kind: 'transformer', tokenizer: 'bpe' } }).model).toMatchObject({ vocabSize: 4096 });
    expect(resolveConfig({ model: { order: 4 } }).model).toEqual({ kind: 'ngram', order: 4, smoothing: 'kneser-ney', k: 1 });
  });

  test.each([
    [{ model: { kind: 'transformer', hidden: 0 } }, /model\.hidden/],
    [{ model: { kind: 'transformer', lr: -1 } }, /model\.lr/],
    [{ model: { kind: 'transformer', order: 3 } }, /"order"/],
    [{ model: { kind: 'transformer', preset: 'gpt-3' } }, /model\.preset/],
    [{ model: { kind: 'transformer', preset: 'tinystories-1m', hidden: 128 } }, /model\.hidden \(128\) conflicts with model\.preset tinystories-1m/],
    [{ model: { kind: 'transformer', tokenizer: 'bpe', vocabSize: 100 } }, /model\.vocabSize must be ≥ 258/],
    [{ model: { kind: 'transformer', seqLen: 512, contextLength: 256 } }, /model\.seqLen \(512\) must be ≤ model\.contextLength \(256\)/],
    [{ model: { kind: 'transformer' }, theory: true }, /theory: the error accounting/],
    [{ model: { kind: 'ngram', hidden: 64 } }, /"hidden"/],
    [{ model: { kind: 'transformer', tokenizer: 'checkpoint' } }, /model\.tokenizer "checkpoint" needs model\.init/],
    [{ model: { kind: 'transformer', init: '/nonexistent/ckpt' } }, /model\.init \/nonexistent\/ckpt: no checkpoint folder there/],
    [{ model: { kind: 'transformer', initSha256: 'a'.repeat(64) } }, /model\.initSha256 is recorded for a pretrained start only/],
    [{ model: { kind: 'ngram' }, saveModels: true }, /saveModels: .* "transformer" only/],
  ])('%j → E_BAD_CONFIG naming the field', (input, re) => {
    const e = err(input);
    expect(e.code).toBe('E_BAD_CONFIG');
    expect(e.message).toMatch(re);
  });
});
