/**
 * End to end: `collapse run` (dist/cli/main.js) on a small synthetic corpus. Exit codes, output
 * modes (--quiet, default, --json), the run folder's files, the metrics' bookkeeping, and
 * byte-identical results for the same config and seed (across folders, thread counts and output
 * modes; timings.jsonl excluded).
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CSV_COLUMNS } from '../../src/experiment/runner.js';
import {
  expectSameRun,
  listFiles,
  readProgress,
  readRecords,
  removeDir,
  requireBuiltCli,
  runCli,
  sentences,
  tempDir,
  writeLines,
  type CliResult,
  type Record_,
} from './helpers.js';

const PARADIGMS = ['replace', 'accumulate', 'accumulate-subsample', 'replace-with-real'];
const GENERATIONS = 3;
const ALPHA = 0.3;

let root: string;
let corpusFile: string;
let lines: string[];
let common: string[];
const dirA = () => path.join(root, 'A');
const dirB = () => path.join(root, 'B');
const dirC = () => path.join(root, 'C');
let resA: CliResult;
let resB: CliResult;
let resC: CliResult;

beforeAll(async () => {
  requireBuiltCli();
  root = tempDir('cli');
  lines = sentences(21, 400, { vocab: 30, minLen: 2, maxLen: 9 });
  corpusFile = writeLines(path.join(root, 'corpus.txt'), lines);
  common = [
    'run',
    '--corpus', `text:${corpusFile}`,
    '--generations', String(GENERATIONS),
    '--paradigm', PARADIGMS.join(','),
    '--real-fraction', String(ALPHA),
    '--rate', '0.2',
    '--accumulate-rate', '0.5',
    '--seed', '3',
  ];
  // The same config three times: --quiet with 2 threads, default output with 1 thread, --json.
  [resA, resB, resC] = await Promise.all([
    runCli([...common, '--out', dirA(), '--quiet', '--threads', '2']),
    runCli([...common, '--out', dirB(), '--threads', '1']),
    runCli([...common, '--out', dirC(), '--json', '--threads', '2']),
  ]);
});

afterAll(() => removeDir(root));

describe('collapse run: exit status and output modes', () => {
  test('--quiet: exit 0, nothing on stdout or stderr', () => {
    expect(resA.stderr).toBe('');
    expect(resA.code).toBe(0);
    expect(resA.stdout).toBe('');
  });

  test('default output: exit 0, tables and a summary on stdout, progress lines on stderr', () => {
    expect(resB.code).toBe(0);
    expect(resB.stdout).toContain('Perplexity on the real test split (H)');
    expect(resB.stdout).toContain('Total variation');
    for (const p of PARADIGMS) expect(resB.stdout).toContain(p);
    expect(resB.stdout).toMatch(/done in [\d.]+ s; files in .*B/);
    // Not a TTY: one line per record on stderr.
    const perRecord = resB.stderr.split('\n').filter((l) => / gen \d+: perplexity /.test(l));
    expect(perRecord).toHaveLength(PARADIGMS.length * GENERATIONS);
  });

  test('--json: stdout holds only JSON lines, one per paradigm × generation, the same records as metrics.jsonl', () => {
    expect(resC.code).toBe(0);
    expect(resC.stdout.endsWith('\n')).toBe(true);
    const out = resC.stdout.split('\n').filter((l) => l !== '');
    expect(resC.stdout.split('\n').slice(0, -1).every((l) => l !== '')).toBe(true);
    expect(out).toHaveLength(PARADIGMS.length * GENERATIONS);
    const parsed = out.map((l) => JSON.parse(l) as Record_);
    const seen = new Set(parsed.map((r) => `${r.paradigm}/${r.generation}`));
    expect(seen.size).toBe(PARADIGMS.length * GENERATIONS);
    const fileLines = readFileSync(path.join(dirC(), 'metrics.jsonl'), 'utf8').split('\n').filter((l) => l !== '');
    expect([...out].sort()).toEqual([...fileLines].sort());
    expect(resC.stderr).toBe('');
  });
});

describe('the run folder', () => {
  test('holds config.json, metrics.jsonl, metrics.csv, timings.jsonl, samples/<paradigm>/gen-NNN.jsonl, the report and a complete state', () => {
    const files = listFiles(dirA(), { includeTimings: true });
    const expected = ['config.json', 'metrics.csv', 'metrics.jsonl', 'state/progress.json', 'timings.jsonl', 'report.html'];
    for (const f of ['headline', 'perplexity', 'divergence', 'tails', 'real-share']) expected.push(`figures/${f}.svg`);
    for (const p of PARADIGMS) for (let g = 0; g < GENERATIONS; g++) expected.push(`samples/${p}/gen-${String(g).padStart(3, '0')}.jsonl`);
    expect(files).toEqual(expected.sort());
    const progress = readProgress(dirA())!;
    expect(progress.complete).toBe(true);
    for (const p of PARADIGMS) expect(progress.finished[p]).toBe(GENERATIONS - 1);
    // The per-paradigm sample state is removed at the end.
    expect(readdirSync(path.join(dirA(), 'state'))).toEqual(['progress.json']);
    const timings = readFileSync(path.join(dirA(), 'timings.jsonl'), 'utf8').trim().split('\n');
    expect(timings).toHaveLength(PARADIGMS.length * GENERATIONS);
  });

  test('config.json: the resolved config and the corpus summary', () => {
    const meta = JSON.parse(readFileSync(path.join(dirA(), 'config.json'), 'utf8'));
    expect(meta.config).toMatchObject({
      corpus: `text:${corpusFile}`,
      paradigms: PARADIGMS,
      generations: GENERATIONS,
      realFraction: ALPHA,
      rate: 0.2,
      accumulateRate: 0.5,
      seed: 3,
      model: { kind: 'ngram', order: 3, smoothing: 'kneser-ney' },
    });
    // text: 400 lines → 320 train, 40 valid, 40 test, by order.
    expect(meta.corpus.train.sequences).toBe(320);
    expect(meta.corpus.valid.sequences).toBe(40);
    expect(meta.corpus.test.sequences).toBe(40);
    const trainPositions = lines.slice(0, 320).reduce((a, l) => a + l.split(' ').length + 1, 0);
    expect(meta.corpus.train.positions).toBe(trainPositions);
    expect(meta.trainTokens).toBe(trainPositions);
    // No wall-clock time in config.json.
    expect(JSON.stringify(meta)).not.toMatch(/"[A-Za-z]*(Ms|Time|time)"\s*:|\d{4}-\d\d-\d\dT\d\d/);
  });

  test('metrics.jsonl: one record per paradigm and generation with the documented fields', () => {
    const recs = readRecords(dirA());
    expect(recs).toHaveLength(PARADIGMS.length * GENERATIONS);
    for (const r of recs) {
      for (const f of ['paradigm', 'generation', 'trainTokens', 'realShare', 'perplexity', 'tv', 'kl', 'lostMass']) expect(r).toHaveProperty(f);
      expect(PARADIGMS).toContain(r.paradigm);
      expect(typeof r.perplexity).toBe('number');
      expect(r.perplexity!).toBeGreaterThan(1);
      expect(r.perplexity!).toBeLessThan(1000);
      expect(r.tv).toBeGreaterThanOrEqual(0);
      expect(r.tv).toBeLessThanOrEqual(1);
      expect(r.kl).toBeGreaterThanOrEqual(0);
      expect(r.lostMass).toBeGreaterThanOrEqual(0);
      expect(r.lostMass).toBeLessThanOrEqual(1);
      expect(r.realShare).toBeGreaterThanOrEqual(0);
      expect(r.realShare).toBeLessThanOrEqual(1);
    }
    // Grouped by paradigm, generations ascending within a paradigm.
    for (const p of PARADIGMS) {
      expect(recs.filter((r) => r.paradigm === p).map((r) => r.generation)).toEqual([0, 1, 2]);
    }
    const firstIndex = PARADIGMS.map((p) => recs.findIndex((r) => r.paradigm === p));
    for (const p of PARADIGMS) {
      const idx = recs.map((r, i) => (r.paradigm === p ? i : -1)).filter((i) => i >= 0);
      expect(idx[idx.length - 1]! - idx[0]!).toBe(GENERATIONS - 1);
    }
    expect(new Set(firstIndex).size).toBe(PARADIGMS.length);
  });

  test('metrics.csv: the header and one row per record, agreeing with metrics.jsonl', () => {
    const csv = readFileSync(path.join(dirA(), 'metrics.csv'), 'utf8');
    expect(csv.endsWith('\n')).toBe(true);
    const rows = csv.trimEnd().split('\n');
    const header = rows[0]!.split(',');
    expect(header.slice(0, CSV_COLUMNS.length)).toEqual(CSV_COLUMNS);
    const recs = readRecords(dirA());
    expect(rows).toHaveLength(recs.length + 1);
    rows.slice(1).forEach((row, i) => {
      const cells = row.split(',');
      expect(cells).toHaveLength(header.length);
      const r = recs[i]!;
      expect(cells[0]).toBe(r.paradigm);
      expect(Number(cells[1])).toBe(r.generation);
      for (const col of ['trainTokens', 'realShare', 'tv', 'kl', 'lostMass'] as const) {
        expect(Number(cells[header.indexOf(col)])).toBe(r[col]);
      }
      const ppl = cells[header.indexOf('perplexity')];
      expect(ppl === '' ? null : Number(ppl)).toBe(r.perplexity);
    });
  });

  test('samples: readable text over the corpus vocabulary, at most keepSamples lines', () => {
    const words = new Set(lines.join(' ').split(' '));
    words.add('<unk>');
    for (const p of PARADIGMS) {
      for (let g = 0; g < GENERATIONS; g++) {
        const text = readFileSync(path.join(dirA(), 'samples', p, `gen-${String(g).padStart(3, '0')}.jsonl`), 'utf8');
        const ls = text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { text: string }).text);
        expect(ls.length).toBeGreaterThan(0);
        expect(ls.length).toBeLessThanOrEqual(50);
        for (const l of ls) for (const w of l.split(' ').filter(Boolean)) expect(words.has(w)).toBe(true);
      }
    }
  });
});

describe('the bookkeeping in the records (THEORY.md "Paradigms")', () => {
  let recs: Record_[];
  let D: number;
  const get = (p: string, g: number) => recs.find((r) => r.paradigm === p && r.generation === g)!;
  beforeAll(() => {
    recs = readRecords(dirA());
    D = JSON.parse(readFileSync(path.join(dirA(), 'config.json'), 'utf8')).corpus.train.positions;
  });

  test('generation 0 trains on D alone under every paradigm', () => {
    for (const p of PARADIGMS) {
      expect(get(p, 0).trainTokens).toBe(D);
      expect(get(p, 0).realShare).toBe(1);
      expect(get(p, 0).lastGenerationShare).toBe(0);
    }
    // Same T_0 and the same model class: the same perplexity.
    expect(new Set(PARADIGMS.map((p) => get(p, 0).perplexity)).size).toBe(1);
  });

  test('replace: T_n = S_{n−1}, no real data, |S_n| ≥ N', () => {
    for (let g = 1; g < GENERATIONS; g++) {
      expect(get('replace', g).trainTokens).toBe(get('replace', g - 1).sampleTokens);
      expect(get('replace', g).realShare).toBe(0);
      expect(get('replace', g).lastGenerationShare).toBe(1);
    }
    for (let g = 0; g < GENERATIONS; g++) expect(get('replace', g).sampleTokens).toBeGreaterThanOrEqual(D);
  });

  test('accumulate: |T_n| = |D| + Σ|S_k|, real share = |D|/|T_n|, last-generation share = |S_{n−1}|/|T_n|', () => {
    let total = D;
    for (let g = 0; g < GENERATIONS; g++) {
      const r = get('accumulate', g);
      expect(r.trainTokens).toBe(total);
      expect(r.realShare).toBeCloseTo(D / total, 12);
      if (g > 0) expect(r.lastGenerationShare).toBeCloseTo(get('accumulate', g - 1).sampleTokens / total, 12);
      expect(r.sampleTokens).toBeGreaterThanOrEqual(Math.round(0.5 * D));
      total += r.sampleTokens;
    }
  });

  test('accumulate-subsample: |T_n| ≥ N, the real share falls below 1 but stays high at rate 0.2', () => {
    for (let g = 1; g < GENERATIONS; g++) {
      const r = get('accumulate-subsample', g);
      expect(r.trainTokens).toBeGreaterThanOrEqual(D);
      expect(r.realShare).toBeLessThan(1);
      expect(r.realShare).toBeGreaterThan(0.5);
    }
    for (let g = 0; g < GENERATIONS; g++) expect(get('accumulate-subsample', g).sampleTokens).toBeGreaterThanOrEqual(Math.round(0.2 * D));
  });

  test('replace-with-real: real share ≈ α, the rest from the previous generation', () => {
    for (let g = 1; g < GENERATIONS; g++) {
      const r = get('replace-with-real', g);
      expect(Math.abs(r.realShare - ALPHA)).toBeLessThan(0.05);
      expect(r.realShare + r.lastGenerationShare).toBeCloseTo(1, 12);
      expect(r.trainTokens).toBeGreaterThanOrEqual(D);
    }
  });
});

describe('reproducibility', () => {
  test('same config and seed ⇒ byte-identical files in another folder, with 1 or 2 threads, in every output mode', () => {
    const a = expectSameRun(dirA(), dirB());
    expectSameRun(dirA(), dirC());
    expect(a).toContain('metrics.jsonl');
    expect(a).toContain('samples/replace/gen-002.jsonl');
  });

  test('another seed ⇒ other samples and metrics', async () => {
    const d = path.join(root, 'seed4');
    const r = await runCli([...common, '--seed', '4', '--out', d, '--quiet', '--paradigm', 'replace']);
    expect(r.code).toBe(0);
    const other = readFileSync(path.join(d, 'samples', 'replace', 'gen-000.jsonl'), 'utf8');
    expect(other).not.toBe(readFileSync(path.join(dirA(), 'samples', 'replace', 'gen-000.jsonl'), 'utf8'));
    // Generation 0 trains on D either way: same perplexity, other samples.
    expect(readRecords(d)[0]!.perplexity).toBe(readRecords(dirA()).find((x) => x.paradigm === 'replace')!.perplexity);
  });
});

describe('other ways in', () => {
  test('files:TRAIN,VALID,TEST: D is exactly the train file', async () => {
    const d = path.join(root, 'files');
    mkdirSync(path.join(root, 'split'), { recursive: true });
    const tr = writeLines(path.join(root, 'split', 'train.txt'), lines.slice(0, 200));
    const va = writeLines(path.join(root, 'split', 'valid.txt'), lines.slice(200, 230));
    const te = writeLines(path.join(root, 'split', 'test.txt'), lines.slice(230, 260).map((l) => `zzmarker ${l}`));
    const r = await runCli(['run', '--corpus', `files:${tr},${va},${te}`, '--generations', '2', '--paradigm', 'replace,accumulate', '--out', d, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const meta = JSON.parse(readFileSync(path.join(d, 'config.json'), 'utf8'));
    const trainPositions = lines.slice(0, 200).reduce((a, l) => a + l.split(' ').length + 1, 0);
    expect(meta.corpus.train.positions).toBe(trainPositions);
    expect(meta.corpus.test.sequences).toBe(30);
    // The marker only occurs in H: one OOV per test sequence.
    expect(meta.corpus.test.unknown).toBe(30);
    for (const rec of readRecords(d).filter((x) => x.generation === 0)) expect(rec.trainTokens).toBe(trainPositions);
  });

  test('--config FILE with flags overriding it', async () => {
    const d = path.join(root, 'cfg');
    const cfgFile = path.join(root, 'cfg.json');
    writeFileSync(cfgFile, JSON.stringify({ corpus: `text:${corpusFile}`, generations: 3, seed: 9, paradigms: ['replace'], model: { order: 2 }, keepSamples: 5 }));
    const r = await runCli(['run', '--config', cfgFile, '--generations', '1', '--out', d, '--quiet']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const meta = JSON.parse(readFileSync(path.join(d, 'config.json'), 'utf8'));
    expect(meta.config).toMatchObject({ generations: 1, seed: 9, paradigms: ['replace'], model: { order: 2, smoothing: 'kneser-ney' }, keepSamples: 5 });
    expect(readFileSync(path.join(d, 'samples', 'replace', 'gen-000.jsonl'), 'utf8').trim().split('\n')).toHaveLength(5);
  });

  test('without --out: a new runs/run-<timestamp> folder under the working directory', async () => {
    const cwd = path.join(root, 'cwd');
    mkdirSync(cwd, { recursive: true });
    const r = await runCli(['run', '--corpus', `text:${corpusFile}`, '--generations', '1', '--paradigm', 'replace', '--quiet'], { cwd });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const made = readdirSync(path.join(cwd, 'runs'));
    expect(made).toHaveLength(1);
    expect(made[0]).toMatch(/^run-\d{8}-\d{6}$/);
    expect(readProgress(path.join(cwd, 'runs', made[0]!))!.complete).toBe(true);
  });

  test('--force replaces a run folder (only); --resume on a complete run changes nothing', async () => {
    const d = path.join(root, 'forced');
    // A finished run of another config in d: --force replaces it.
    const first = await runCli([...common, '--seed', '99', '--out', d, '--quiet']);
    expect(first.code).toBe(0);
    const r = await runCli([...common, '--out', d, '--quiet', '--force']);
    expect(r.code).toBe(0);
    expectSameRun(dirA(), d);
    const before = readFileSync(path.join(d, 'timings.jsonl'));
    const again = await runCli(['run', '--resume', d, '--quiet']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expectSameRun(dirA(), d);
    expect(readFileSync(path.join(d, 'timings.jsonl')).equals(before)).toBe(true);
  });
});
