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

/** The error accounting per paradigm and generation (records written with `theory: true`). */
export function theoryReport(records: MetricsRecord[], paradigms: string[]): string {
  const out: string[] = ['Error accounting on the probe contexts (π-weighted means; docs/theory.md):'];
  const f = (x: number, d = 4) => (Math.abs(x) < 1e-3 && x !== 0 ? x.toExponential(1) : x.toFixed(d));
  for (const p of paradigms) {
    const rs = records.filter((r) => r.paradigm === p && r.theory).sort((a, b) => a.generation - b.generation);
    if (rs.length === 0) continue;
    const header = ['gen', '|ε|', '|δ|', '|σ|', '|E|', 'w_D', 'E head', 'E tail', 'δ head', 'δ tail', 'vanished', 'residual', ...(rs[0]!.theory!.equalShares ? ['|E_eq−E|'] : [])];
    const rows = rs.map((r) => {
      const t = r.theory!;
      return [
        String(r.generation), f(t.epsL1), f(t.deltaL1), f(t.sigmaL1), f(t.EL1), f(t.realShare, 3), f(t.head.E), f(t.tail.E),
        f(t.head.delta), f(t.tail.delta), String(t.vanished), t.residual.toExponential(1),
        ...(t.equalShares ? [f(t.equalShares.deviationL1)] : []),
      ];
    });
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
    out.push('', p, line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line));
  }
  return out.join('\n');
}
