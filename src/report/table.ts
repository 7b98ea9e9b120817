/** Plain-text tables for the terminal: one row per generation, one column per paradigm. */
import type { MetricsRecord } from '../experiment/run-folder.js';
import { checksPassed } from '../theory/checks.js';

export function metricTable(records: MetricsRecord[], paradigms: string[], field: keyof MetricsRecord, title: string, digits = 2): string {
  const gens = [...new Set(records.map((r) => r.generation))].sort((a, b) => a - b);
  const byKey = new Map(records.map((r) => [`${r.paradigm}/${r.generation}`, r]));
  const cell = (p: string, g: number) => {
    const r = byKey.get(`${p}/${g}`);
    if (!r) return '';
    const v = r[field];
    if (v === null) return 'inf';
    return typeof v === 'number' ? v.toFixed(digits) : String(v);
  };
  const header = ['gen', ...paradigms];
  const rows = gens.map((g) => [String(g), ...paradigms.map((p) => cell(p, g))]);
  const widths = columnWidths(header, rows);
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [title, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/**
 * Perplexity on H per paradigm and generation. When some model gives a position of H probability 0
 * (MLE), its true perplexity is infinite: a second table then shows the perplexity over the positions
 * the model covers and, in brackets, the share of H's positions it gives probability 0.
 */
export function perplexityTables(records: MetricsRecord[], paradigms: string[]): string {
  const main = metricTable(records, paradigms, 'perplexity', 'Perplexity on the real test split (H)');
  if (!records.some((r) => r.perplexity === null)) return main;
  const gens = [...new Set(records.map((r) => r.generation))].sort((a, b) => a - b);
  const cell = (p: string, g: number) => {
    const r = records.find((x) => x.paradigm === p && x.generation === g);
    if (!r) return '';
    const ppl = r.perplexityCovered === null || r.perplexityCovered === undefined ? '–' : r.perplexityCovered.toFixed(2);
    return `${ppl} (${(100 * (r.zeroProbabilityShare ?? 0)).toFixed(2)}%)`;
  };
  const header = ['gen', ...paradigms];
  const rows = gens.map((g) => [String(g), ...paradigms.map((p) => cell(p, g))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const title = "Perplexity over the positions of H the model covers (p̂_n > 0), and (in brackets) the share of H's positions with p̂_n = 0";
  return [main, '', title, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The error accounting per paradigm and generation (records written with `theory: true`). */
export function theoryReport(records: MetricsRecord[], paradigms: string[]): string {
  const out: string[] = ['Error accounting on the probe contexts (π-weighted means; docs/theory.md):'];
  const f = (x: number, d = 4) => (Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(1) : x.toFixed(d));
  for (const p of paradigms) {
    const rs = records.filter((r) => r.paradigm === p && r.theory).sort((a, b) => a.generation - b.generation);
    if (rs.length === 0) continue;
    const header = ['gen', '|ε|', '|δ|', '|σ|', '|E|', 'w_D', 'E head', 'E tail', 'δ head', 'δ tail', 'σ head', 'σ tail', 'vanished', 'residual', 'checks', ...(rs[0]!.theory!.equalShares ? ['|E_eq−E|'] : [])];
    const rows = rs.map((r) => {
      const t = r.theory!;
      return [
        String(r.generation), f(t.epsL1), f(t.deltaL1), f(t.sigmaL1), f(t.EL1), f(t.realShare, 3), f(t.head.E), f(t.tail.E),
        f(t.head.delta), f(t.tail.delta), f(t.head.sigma ?? 0), f(t.tail.sigma ?? 0), String(t.vanished), t.residual.toExponential(1),
        t.checks ? (checksPassed(t.checks) ? 'ok' : 'FAILED') : '–',
        ...(t.equalShares ? [f(t.equalShares.deviationL1)] : []),
      ];
    });
    const widths = columnWidths(header, rows);
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    out.push('', p, line(header), line(widths.map((w) => '-'.repeat(w))));
    for (const r of rows) out.push(line(r)); // not push(...rows): a spread of 200,000 rows overflows the stack
  }
  return out.join('\n');
}

/** Widest cell per column, by a loop (Math.max(...cells) overflows the stack on long tables). */
function columnWidths(header: string[], rows: string[][]): number[] {
  const widths = header.map((h) => h.length);
  for (const r of rows) for (let i = 0; i < widths.length; i++) widths[i] = Math.max(widths[i]!, r[i]?.length ?? 0);
  return widths;
}
