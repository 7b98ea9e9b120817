/** Plain-text tables for the terminal: one row per generation, one column per paradigm. */
import type { MetricsRecord } from '../experiment/runner.js';

export function metricTable(records: MetricsRecord[], paradigms: string[], field: keyof MetricsRecord, title: string, digits = 2): string {
  const gens = [...new Set(records.map((r) => r.generation))].sort((a, b) => a - b);
  const cell = (p: string, g: number) => {
    const r = records.find((x) => x.paradigm === p && x.generation === g);
    if (!r) return '';
    const v = r[field];
    if (v === null) return 'inf';
    return typeof v === 'number' ? v.toFixed(digits) : String(v);
  };
  const header = ['gen', ...paradigms];
  const rows = gens.map((g) => [String(g), ...paradigms.map((p) => cell(p, g))]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [title, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
