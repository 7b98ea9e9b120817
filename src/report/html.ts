/**
 * `collapse report DIR`: report.html (self-contained: the figures' SVG inline, no script, no
 * network) and figures/*.svg beside it, from a run or sweep folder alone.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/fs.js';
import { loadReportData, type ReportData } from './data.js';
import { buildFigures, FIGURE_NAMES, type Figure } from './figures.js';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Sample lines shown per generation. */
const SHOWN = 2;

function samplesSection(data: ReportData): string {
  // One cell per paradigm (the first in grid order that ran it), a few lines per generation.
  const shown = new Set<string>();
  const parts: string[] = [];
  for (const c of data.cells) {
    for (const [p, gens] of Object.entries(c.result.samples)) {
      if (shown.has(p)) continue;
      shown.add(p);
      const rows = gens
        .map((lines, g) => `<tr><td>${g}</td><td>${lines.slice(0, SHOWN).map((l) => `<div class="sample">${esc(l.length > 300 ? l.slice(0, 300) + ' …' : l)}</div>`).join('')}</td></tr>`)
        .join('\n');
      parts.push(`<h3>${esc(p)} <small>(cell ${esc(c.name)})</small></h3>\n<table class="samples"><tr><th>gen</th><th>first sequences of S_n</th></tr>\n${rows}\n</table>`);
    }
  }
  return parts.join('\n');
}

function timingsSection(data: ReportData): string {
  const ms = (t: Record<string, unknown>[]) => t.reduce((a, x) => a + (typeof x.totalMs === 'number' ? x.totalMs : 0), 0);
  const rows = data.cells.map((c) => `<tr><td>${esc(c.name)}</td><td>${c.result.records.length}</td><td>${(ms(c.result.timings) / 1000).toFixed(1)}</td></tr>`).join('\n');
  const total = data.cells.reduce((a, c) => a + ms(c.result.timings), 0);
  return `<table class="timings"><tr><th>${data.kind === 'sweep' ? 'cell' : 'run'}</th><th>records</th><th>generation time, s</th></tr>\n${rows}\n<tr><th>total</th><th></th><th>${(total / 1000).toFixed(1)}</th></tr></table>\n<p class="note">Sums of the per-generation wall times in each run's timings.jsonl (cells running in parallel overlap).</p>`;
}

function configSection(data: ReportData): string {
  if (data.kind === 'run') {
    const c = data.cells[0]!.result;
    return `<pre>${esc(JSON.stringify({ config: c.config, corpus: c.corpus }, null, 2))}</pre>`;
  }
  const s = data.sweep!;
  const grid = { axes: s.axes.map((a) => ({ flag: a.flag, values: a.values })), seeds: s.seeds, base: s.base, cells: s.cells.length, collapseLab: s.collapseLab };
  const first = data.cells[0]?.result;
  return `<pre>${esc(JSON.stringify(grid, null, 2))}</pre>${first ? `<p>Config of the first cell (${esc(first.name)}):</p><pre>${esc(JSON.stringify({ config: first.config, corpus: first.corpus }, null, 2))}</pre>` : ''}`;
}

export function renderHtml(data: ReportData, figures: readonly Figure[]): string {
  const figs = figures
    .map((f) => `<figure id="fig-${f.name}" data-figure="${f.name}">\n<figcaption><b>${esc(f.title)}.</b> ${esc(f.caption)}</figcaption>\n${f.svg}\n</figure>`)
    .join('\n');
  const missing = data.missing.length ? `<p class="warn">${data.missing.length} cell(s) not finished and left out: ${esc(data.missing.join(', '))}</p>` : '';
  const what = data.kind === 'sweep' ? `sweep of ${data.sweep!.cells.length} cells (${data.cells.length} finished)` : `run (${data.cells[0]!.result.config.paradigms.join(', ')})`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>collapse-lab report: ${esc(data.title)}</title>
<style>
body{font-family:sans-serif;max-width:1400px;margin:1em auto;padding:0 1em;color:#222}
figure{margin:1.5em 0;border-top:1px solid #ddd;padding-top:.5em;overflow-x:auto}
figcaption{margin-bottom:.5em;max-width:60em}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}
.sample{font-family:monospace;font-size:12px;white-space:pre-wrap}
pre{background:#f6f6f6;padding:.5em;font-size:12px;overflow-x:auto}
.warn{color:#a40}.note{color:#666;font-size:12px}
</style></head>
<body>
<h1>collapse-lab report: ${esc(data.title)}</h1>
<p>A ${esc(what)}. Figures are also in figures/*.svg beside this file.</p>
${missing}
${figs}
<h2>Samples</h2>
${samplesSection(data)}
<h2>Config</h2>
${configSection(data)}
<h2>Timings</h2>
${timingsSection(data)}
</body></html>
`;
}

export interface ReportOutput {
  html: string;
  figures: string[];
}

/** Writes report.html and figures/*.svg into `dir` (a run or sweep folder). */
export async function writeReport(dir: string): Promise<ReportOutput> {
  const data = await loadReportData(dir);
  const figures = await buildFigures(data);
  await mkdir(join(dir, 'figures'), { recursive: true });
  const files: string[] = [];
  for (const f of figures) {
    const p = join(dir, 'figures', `${f.name}.svg`);
    await writeFileAtomic(p, f.svg);
    files.push(p);
  }
  for (const n of FIGURE_NAMES) if (!figures.some((f) => f.name === n)) await rm(join(dir, 'figures', `${n}.svg`), { force: true });
  const html = join(dir, 'report.html');
  await writeFileAtomic(html, renderHtml(data, figures));
  return { html, figures: files };
}
