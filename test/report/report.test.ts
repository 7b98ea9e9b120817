/**
 * `collapse report`: the figures a sweep and a run get, their data (the headline's points against
 * the cells' records), a self-contained HTML file, a report that is a pure function of the folder,
 * and one that copes with records missing fields or carrying new ones.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadReportData } from '../../src/report/data.js';
import { headlineRows } from '../../src/report/figures.js';
import { writeReport } from '../../src/report/html.js';
import { runExperiment } from '../../src/experiment/runner.js';
import { readRecords, removeDir, runCli, requireBuiltCli, sentences, tempDir, writeLines } from '../experiment/helpers.js';
import { GENERATIONS, smallSweep } from './helpers.js';

let root: string;
const sweepDir = () => path.join(root, 'sweep');
const runDir = () => path.join(root, 'run');

beforeAll(async () => {
  root = tempDir('report');
  await smallSweep(root, sweepDir());
  await runExperiment(
    { corpus: `text:${writeLines(path.join(root, 'c2.txt'), sentences(3, 200, { vocab: 20 }))}`, generations: 3, paradigms: ['replace', 'accumulate'], seed: 4 },
    { out: runDir(), threads: 1 },
  );
}, 180_000);
afterAll(() => removeDir(root));

/** Data-bearing marks of an SVG: line/area paths and symbols with a non-empty path. */
function markCount(svg: string): number {
  return (svg.match(/<path[^>]* d="M[^"]+"/g) ?? []).length;
}

test('a sweep gets every figure, inline in a self-contained report.html and in figures/', async () => {
  const out = await writeReport(sweepDir());
  const names = readdirSync(path.join(sweepDir(), 'figures')).sort();
  expect(names).toEqual(['divergence.svg', 'drift-theory.svg', 'errors.svg', 'headline.svg', 'perplexity.svg', 'real-share.svg', 'tails.svg']);
  const html = readFileSync(out.html, 'utf8');
  for (const n of names) {
    const svg = readFileSync(path.join(sweepDir(), 'figures', n), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(markCount(svg)).toBeGreaterThan(3);
    expect(html).toContain(`data-figure="${n.slice(0, -4)}"`);
    expect(html).toContain(svg); // inline, the same bytes
  }
  // Offline: no script, no stylesheet or image fetched from anywhere.
  expect(html).not.toMatch(/<script|<link|<img|@import|src=|url\(/i);
  expect(Buffer.byteLength(html)).toBeLessThan(5 * 1024 * 1024);
  // The headline comes first; the samples, the grid and the timings follow.
  expect(html.indexOf('data-figure="headline"')).toBeLessThan(html.indexOf('data-figure="perplexity"'));
  const firstSample = readFileSync(path.join(sweepDir(), 'paradigm-replace_rate-0.1_seed-1', 'samples', 'replace', 'gen-002.jsonl'), 'utf8').split('\n').map((l) => (l ? (JSON.parse(l) as { text: string }).text : ''))[0]!;
  expect(html).toContain(firstSample.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'));
  expect(html).toContain('&quot;seeds&quot;: [\n    1,\n    2\n  ]');
  expect(html).toMatch(/<th>total<\/th><th><\/th><th>[\d.]+<\/th>/);
});

test('the headline: mean and t interval of the last generation\'s TV over seeds, per paradigm and r', async () => {
  const data = await loadReportData(sweepDir());
  const h = headlineRows(data.cells);
  const tvOf = (name: string) => readRecords(path.join(sweepDir(), name)).find((r) => r.generation === GENERATIONS - 1)!.tv;
  // accumulate-subsample reads r: one point per rate.
  expect(h.points.map((p) => [p.series, p.r])).toEqual([
    ['accumulate-subsample', 0.1],
    ['accumulate-subsample', 1],
  ]);
  const a = [1, 2].map((s) => tvOf(`paradigm-accumulate-subsample_rate-1_seed-${s}`));
  const p1 = h.points[1]!;
  expect(p1.mean).toBeCloseTo((a[0]! + a[1]!) / 2, 14);
  expect(p1.hi as number).toBeCloseTo((a[0]! + a[1]!) / 2 + 12.7062047 * Math.abs(a[0]! - a[1]!) / 2, 6);
  expect(p1.n).toBe(2);
  // replace reads no r: its cells at both rates are the same runs (one value per seed), one level.
  const rep = [1, 2].map((s) => tvOf(`paradigm-replace_rate-0.1_seed-${s}`));
  expect([1, 2].map((s) => tvOf(`paradigm-replace_rate-1_seed-${s}`))).toEqual(rep);
  expect(h.flat).toHaveLength(1);
  expect(h.flat[0]).toMatchObject({ series: 'replace (no r)', n: 2, x0: 0.1, x1: 1 });
  expect(h.flat[0]!.mean).toBeCloseTo((rep[0]! + rep[1]!) / 2, 14);
});

test('a report is a pure function of the folder: made twice, the same figures', async () => {
  const a = readdirSync(path.join(sweepDir(), 'figures')).map((f) => readFileSync(path.join(sweepDir(), 'figures', f), 'utf8'));
  await writeReport(sweepDir());
  const b = readdirSync(path.join(sweepDir(), 'figures')).map((f) => readFileSync(path.join(sweepDir(), 'figures', f), 'utf8'));
  expect(b).toEqual(a);
});

test('a run folder without --theory: the figures it has data for, none of the theory ones', async () => {
  await writeReport(runDir());
  expect(readdirSync(path.join(runDir(), 'figures')).sort()).toEqual(['divergence.svg', 'headline.svg', 'perplexity.svg', 'real-share.svg', 'tails.svg']);
  const html = readFileSync(path.join(runDir(), 'report.html'), 'utf8');
  expect(html).toContain('One seed: no band.');
  expect(html).toContain('&quot;paradigms&quot;: [\n      &quot;replace&quot;,\n      &quot;accumulate&quot;\n    ]');
});

test('records missing fields or carrying new ones: the report follows them', async () => {
  const dir = runDir();
  const file = path.join(dir, 'metrics.jsonl');
  const recs = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const edited = recs.map(({ kl: _kl, tailRetention: _t, perplexity: _p, ...r }) => ({ ...r, klSupport: 0.5 + (r.generation as number), shares: { real: 1 } }));
  writeFileSync(file, edited.map((r) => JSON.stringify(r)).join('\n') + '\n');
  await writeReport(dir);
  const figs = readdirSync(path.join(dir, 'figures')).sort();
  expect(figs).not.toContain('perplexity.svg');
  expect(figs).toContain('tails.svg');
  const div = readFileSync(path.join(dir, 'figures', 'divergence.svg'), 'utf8');
  expect(div).toContain('klSupport');
  expect(div).not.toMatch(/>kl</);
});

test('collapse report: a folder that is neither a run nor a sweep → exit 2, one line', async () => {
  requireBuiltCli();
  const r = await runCli(['report', root]);
  expect(r.code).toBe(2);
  expect(r.stderr.trim()).toBe(`collapse: error: ${root} is neither a run folder (config.json, metrics.jsonl) nor a sweep folder (sweep.json)`);
  expect(existsSync(path.join(root, 'report.html'))).toBe(false);
});
