/**
 * Statistics across seeds, from the cells' records only: for every (cell without its seed,
 * paradigm, generation) and every numeric field of the records (nested ones as "theory.epsL1"),
 * the number of seeds with a finite value, the mean, the sample standard deviation and a 95%
 * confidence interval for the mean (Student t with n − 1 degrees of freedom).
 */
import tQuantile from '@stdlib/stats-base-dists-t-quantile';

export interface Stat {
  n: number;
  mean: number | null;
  sd: number | null;
  /** [lo, hi]; null with fewer than two values. */
  ci95: [number, number] | null;
}

export interface SummaryRow {
  /** The swept values of the group (no seed). */
  values: Record<string, string | number>;
  paradigm: string;
  generation: number;
  /** Cells (seeds) in the group that have this paradigm and generation. */
  seeds: number;
  metrics: Record<string, Stat>;
}

export interface CellRecords {
  /** Group key and values (cells of one group differ only in the seed). */
  group: string;
  values: Record<string, string | number>;
  records: readonly object[];
}

/** Fields that identify a record rather than measure it. */
const ID_FIELDS = new Set(['paradigm', 'generation']);

/** Numeric leaves of a record as dotted paths, in the record's own key order (arrays skipped). */
export function numericPaths(record: object, prefix = '', out: string[] = []): string[] {
  for (const [k, v] of Object.entries(record)) {
    const path = prefix + k;
    if (!prefix && ID_FIELDS.has(k)) continue;
    if (typeof v === 'number' || v === null) out.push(path);
    else if (v && typeof v === 'object' && !Array.isArray(v)) numericPaths(v, path + '.', out);
  }
  return out;
}

export function getPath(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/** n, mean, sample sd, and the t-based 95% interval of the finite values. */
export function describe(xs: readonly number[]): Stat {
  const v = xs.filter((x) => Number.isFinite(x));
  const n = v.length;
  if (n === 0) return { n, mean: null, sd: null, ci95: null };
  const mean = v.reduce((a, x) => a + x, 0) / n;
  if (n === 1) return { n, mean, sd: null, ci95: null };
  const ss = v.reduce((a, x) => a + (x - mean) * (x - mean), 0);
  const sd = Math.sqrt(ss / (n - 1));
  const half = tQuantile(0.975, n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, ci95: [mean - half, mean + half] };
}

/**
 * Summary rows, ordered by group (first appearance), paradigm (first appearance), generation.
 * Metrics: every numeric path seen in any record, in first-seen order (new record fields are
 * picked up without a change here; a path missing from some records counts only where present).
 */
export function summarize(cells: readonly CellRecords[]): { metrics: string[]; rows: SummaryRow[] } {
  const metricSet = new Set<string>();
  const groups = new Map<string, { values: Record<string, string | number>; byKey: Map<string, object[]>; order: string[] }>();
  for (const c of cells) {
    let g = groups.get(c.group);
    if (!g) groups.set(c.group, (g = { values: c.values, byKey: new Map(), order: [] }));
    for (const r of c.records) {
      for (const p of numericPaths(r)) metricSet.add(p);
      const rec = r as { paradigm: string; generation: number };
      const key = `${rec.paradigm}\u0000${rec.generation}`;
      let list = g.byKey.get(key);
      if (!list) {
        g.byKey.set(key, (list = []));
        g.order.push(key);
      }
      list.push(r);
    }
  }
  const metrics = [...metricSet];
  const rows: SummaryRow[] = [];
  for (const g of groups.values()) {
    const paradigmOrder: string[] = [];
    for (const k of g.order) {
      const p = k.split('\u0000')[0]!;
      if (!paradigmOrder.includes(p)) paradigmOrder.push(p);
    }
    const keys = [...g.order].sort((a, b) => {
      const [pa, ga] = a.split('\u0000');
      const [pb, gb] = b.split('\u0000');
      return paradigmOrder.indexOf(pa!) - paradigmOrder.indexOf(pb!) || Number(ga) - Number(gb);
    });
    for (const key of keys) {
      const recs = g.byKey.get(key)!;
      const [paradigm, gen] = key.split('\u0000');
      const m: Record<string, Stat> = {};
      for (const path of metrics) {
        const xs: number[] = [];
        let present = false;
        for (const r of recs) {
          const v = getPath(r, path);
          if (typeof v === 'number') {
            xs.push(v);
            present = true;
          } else if (v === null) present = true;
        }
        if (present) m[path] = describe(xs);
      }
      rows.push({ values: g.values, paradigm: paradigm!, generation: Number(gen), seeds: recs.length, metrics: m });
    }
  }
  return { metrics, rows };
}

const num = (x: number | null | undefined): string => (x === null || x === undefined ? '' : String(x));

/** summary.csv: group columns (swept flags), paradigm, generation, seeds, then per metric n, mean, sd, ci95lo, ci95hi. */
export function summaryCsv(swept: readonly string[], summary: { metrics: string[]; rows: SummaryRow[] }): string {
  // A swept paradigm is the record's own paradigm column.
  const axisKeys = swept.filter((k) => k !== 'paradigm');
  const head = [...axisKeys, 'paradigm', 'generation', 'seeds'];
  for (const m of summary.metrics) head.push(`${m}.n`, `${m}.mean`, `${m}.sd`, `${m}.ci95lo`, `${m}.ci95hi`);
  const cell = (s: string | number) => {
    const t = String(s);
    return /[",\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
  };
  const lines = [head.map(cell).join(',')];
  for (const r of summary.rows) {
    const row: (string | number)[] = [...axisKeys.map((k) => r.values[k] ?? ''), r.paradigm, r.generation, r.seeds];
    for (const m of summary.metrics) {
      const s = r.metrics[m];
      row.push(s ? s.n : '', num(s?.mean), num(s?.sd), num(s?.ci95?.[0]), num(s?.ci95?.[1]));
    }
    lines.push(row.map(cell).join(','));
  }
  return lines.join('\n') + '\n';
}

/** summary.jsonl: one JSON object per row. */
export function summaryJsonl(summary: { rows: SummaryRow[] }): string {
  return summary.rows.map((r) => JSON.stringify(r)).join('\n') + (summary.rows.length ? '\n' : '');
}
