/**
 * End to end: `collapse sweep` (dist/cli/main.js) on a small synthetic corpus. Bad specs exit 2
 * with one line before anything runs; the sweep folder holds sweep.json, one run folder per cell,
 * the summary and the report; --jobs 1 (in process) and --jobs 2 (two worker processes) write the
 * same bytes; summary.csv agrees with the cells' own metrics; `--resume` of a finished sweep runs
 * nothing again.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { expectSameRun, listFiles, mtimes, readRecords, removeDir, requireBuiltCli, runCli, sentences, tempDir, writeLines, type CliResult } from '../experiment/helpers.js';

let root: string;
let corpus: string;
const base = () => ['sweep', '--corpus', `text:${corpus}`, '--generations', '3', '--paradigm', 'replace,accumulate-subsample', '--rate', '0.2,1', '--seeds', '1-3', '--theory'];
let r1: CliResult;
let r2: CliResult;
const d1 = () => path.join(root, 'jobs1');
const d2 = () => path.join(root, 'jobs2');

beforeAll(async () => {
  requireBuiltCli();
  root = tempDir('sweep');
  corpus = writeLines(path.join(root, 'corpus.txt'), sentences(5, 300, { vocab: 25, minLen: 2, maxLen: 8 }));
  r1 = await runCli([...base(), '--jobs', '1', '--out', d1()]);
  r2 = await runCli([...base(), '--jobs', '2', '--threads', '1', '--out', d2(), '--no-report']);
}, 240_000);

afterAll(() => removeDir(root));

describe('bad sweep specs: one line, exit 2, nothing written', () => {
  const cases: [string, string[], RegExp][] = [
    ['an empty list', ['--rate', ''], /^collapse: error: --rate: empty list$/],
    ['an empty element', ['--rate', '0.1,,1'], /^collapse: error: --rate: empty value in the list "0.1,,1"$/],
    ['a range backwards', ['--seeds', '5-1'], /^collapse: error: --seeds: range "5-1" runs backwards \(write 1-5\)$/],
    ['one invalid number in a list', ['--rate', '0.1,x'], /^collapse: error: --rate must be a number, got "x"$/],
    ['one value out of bounds in a list', ['--rate', '0.1,200'], /^collapse: error: sweep cell rate=200 seed=1: invalid config: rate must be ≤ 100$/],
    ['an unknown paradigm in a list', ['--paradigm', 'replace,bogus'], /^collapse: error: sweep cell paradigm=bogus seed=1: invalid config: paradigms/],
    ['a bad choice in a list', ['--smoothing', 'mle,kn'], /^collapse: error: --smoothing: "kn" is not one of kneser-ney, mle, add-k$/],
    ['--jobs 0', ['--jobs', '0'], /^collapse: error: --jobs must be an integer in \[1, 1024\], got "0"$/],
  ];
  test.each(cases)('%s', async (_what, args, message) => {
    const out = path.join(root, 'bad');
    const r = await runCli(['sweep', '--corpus', `text:${corpus}`, '--generations', '2', ...args, '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(existsSync(out)).toBe(false);
  });
  test('an unknown flag: commander names it, exit 2', async () => {
    const out = path.join(root, 'bad');
    const r = await runCli(['sweep', '--corpus', `text:${corpus}`, '--rat', '0.1,1', '--out', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--rat'/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('the sweep folder', () => {
  test('both sweeps succeed', () => {
    expect({ code: r1.code, stderr: r1.code ? r1.stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect({ code: r2.code, stderr: r2.code ? r2.stderr : '' }).toEqual({ code: 0, stderr: '' });
    expect(r1.stdout).toMatch(/^sweep done: 12\/12 cells in [\d.]+ s \(1 at once/);
    expect(r2.stdout).toMatch(/^sweep done: 12\/12 cells in [\d.]+ s \(2 at once, 1 thread each\)/);
    // Progress without a terminal: a line per finished cell with the count and an ETA.
    const lines = r2.stderr.split('\n').filter((l) => /^cell \d+\/12 done: /.test(l));
    expect(lines).toHaveLength(12);
    expect(lines[11]).toMatch(/^cell 12\/12 done: .*; running 0, left 0, ETA 0s$/);
  });

  test('sweep.json lists the grid and every cell with its resolved config', () => {
    const s = JSON.parse(readFileSync(path.join(d1(), 'sweep.json'), 'utf8'));
    expect(s.axes).toEqual([
      { flag: '--paradigm', key: 'paradigm', values: ['replace', 'accumulate-subsample'] },
      { flag: '--rate', key: 'rate', values: [0.2, 1] },
    ]);
    expect(s.seeds).toEqual([1, 2, 3]);
    expect(s.cells).toHaveLength(12);
    expect(s.cells[4]).toMatchObject({ name: 'paradigm-replace_rate-1_seed-2', seed: 2, group: 'paradigm-replace_rate-1', values: { paradigm: 'replace', rate: 1 } });
    expect(s.cells[4].config).toMatchObject({ paradigms: ['replace'], rate: 1, seed: 2, generations: 3, theory: true });
    const dirs = readdirSync(d1()).filter((f) => f.startsWith('paradigm-')).sort();
    expect(dirs).toEqual(s.cells.map((c: { name: string }) => c.name).sort());
    for (const f of ['summary.csv', 'summary.jsonl', 'report.html', 'figures/headline.svg']) expect(existsSync(path.join(d1(), f))).toBe(true);
    expect(existsSync(path.join(d2(), 'report.html'))).toBe(false); // --no-report
  });

  test('--jobs 1 and --jobs 2 write the same bytes (cells, sweep.json, summary)', () => {
    const noTimings = (f: string) => !f.endsWith('timings.jsonl');
    const files = listFiles(d2()).filter(noTimings);
    expect(listFiles(d1()).filter((f) => !f.startsWith('figures/') && noTimings(f))).toEqual(files);
    expect(files).toContain('summary.csv');
    expect(files).toContain('paradigm-replace_rate-1_seed-3/metrics.jsonl');
    for (const f of files) {
      const a = readFileSync(path.join(d1(), f));
      const b = readFileSync(path.join(d2(), f));
      if (!a.equals(b)) expect(`${f}:\n${b.toString('utf8')}`).toBe(`${f}:\n${a.toString('utf8')}`);
    }
  });

  test('summary.csv agrees with the cells\' own metrics.jsonl (mean over the 3 seeds)', () => {
    const csv = readFileSync(path.join(d1(), 'summary.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    const head = csv[0]!;
    const col = (name: string) => head.indexOf(name);
    const row = csv.find((r) => r[col('rate')] === '0.2' && r[col('paradigm')] === 'accumulate-subsample' && r[col('generation')] === '2')!;
    const tvs = [1, 2, 3].map((s) => readRecords(path.join(d1(), `paradigm-accumulate-subsample_rate-0.2_seed-${s}`)).find((r) => r.generation === 2)!.tv);
    const mean = tvs.reduce((a, b) => a + b, 0) / 3;
    expect(row[col('seeds')]).toBe('3');
    expect(Number(row[col('tv.mean')])).toBeCloseTo(mean, 14);
    const sd = Math.sqrt(tvs.reduce((a, x) => a + (x - mean) ** 2, 0) / 2);
    expect(Number(row[col('tv.sd')])).toBeCloseTo(sd, 14);
    expect(Number(row[col('tv.ci95hi')])).toBeCloseTo(mean + (4.30265273 * sd) / Math.sqrt(3), 7);
    // Nested theory fields are summarised too.
    expect(col('theory.EL1.mean')).toBeGreaterThan(0);
    expect(col('theory.head.eps.mean')).toBeGreaterThan(0);
  });

  test('--resume of a finished sweep runs no cell again', async () => {
    const before = mtimes(path.join(d2(), 'paradigm-replace_rate-0.2_seed-1'));
    const r = await runCli(['sweep', '--resume', d2(), '--no-report']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/sweep of 12 cells in .* \(12 already done;/);
    expect(mtimes(path.join(d2(), 'paradigm-replace_rate-0.2_seed-1'))).toEqual(before);
    const clash = await runCli(['sweep', '--resume', d2(), '--rate', '0.3']);
    expect(clash.code).toBe(2);
    expect(clash.stderr.trim()).toBe('collapse: error: --resume continues the sweep with its own sweep.json; drop --rate');
  });

  test('cells that differ only in a rate their paradigm ignores run once; the copy is what its own run writes', async () => {
    const own = path.join(root, 'own');
    const r = await runCli(['run', '--corpus', `text:${corpus}`, '--generations', '3', '--paradigm', 'replace', '--rate', '1', '--seed', '2', '--theory', '--out', own, '--no-report', '--quiet']);
    expect(r.code).toBe(0);
    const files = expectSameRun(own, path.join(d1(), 'paradigm-replace_rate-1_seed-2'));
    expect(files).toEqual(expect.arrayContaining(['config.json', 'metrics.jsonl', 'metrics.csv', 'state/progress.json', 'samples/replace/gen-002.jsonl']));
    // And accumulate-subsample, which reads the rate, differs between its rates.
    const a = readFileSync(path.join(d1(), 'paradigm-accumulate-subsample_rate-0.2_seed-2', 'metrics.jsonl'), 'utf8');
    const b = readFileSync(path.join(d1(), 'paradigm-accumulate-subsample_rate-1_seed-2', 'metrics.jsonl'), 'utf8');
    expect(a).not.toBe(b);
  });

  test('an existing sweep folder is not overwritten without --force', async () => {
    const r = await runCli([...base(), '--out', d2()]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^collapse: error: sweep folder .* already exists and is not empty: choose another --out, continue it with --resume/);
  });
});
