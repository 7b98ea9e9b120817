/**
 * The report's figures: Vega-Lite specs compiled with vega-lite and rendered to SVG by vega's
 * headless View (no browser, no hand-drawn SVG). Each figure is built from the cells' records only;
 * a figure whose fields no record has is left out, and new numeric record fields flow through the
 * summary without a change here.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { MetricsRecord } from '../experiment/run-folder.js';
import { getPath, summarize, type SummaryRow } from '../sweep/summary.js';
import type { ReportCell, ReportData } from './data.js';

export interface Figure {
  /** File name stem (figures/<name>.svg). */
  name: string;
  title: string;
  caption: string;
  svg: string;
}

/** Every figure a report can hold (a re-made report removes those it no longer has data for). */
export const FIGURE_NAMES = ['headline', 'perplexity', 'divergence', 'tails', 'real-share', 'drift-theory', 'errors'] as const;

type Row = Record<string, string | number | null>;

/** The cell's swept values other than the paradigm (and those in `drop`), as a legend label. */
function variantOf(values: Record<string, string | number>, drop: readonly string[] = []): string {
  const parts = Object.entries(values)
    .filter(([k]) => k !== 'paradigm' && !drop.includes(k))
    .map(([k, v]) => `${k}=${v}`);
  return parts.join(' ') || 'all';
}

/** The synthetic rate r a paradigm reads from a config; null for paradigms without one. */
export function rateOf(paradigm: string, config: { rate: number; accumulateRate: number }): number | null {
  if (paradigm === 'accumulate') return config.accumulateRate;
  if (paradigm === 'accumulate-subsample') return config.rate;
  return null;
}

async function render(spec: object): Promise<string> {
  const compiled = vl.compile({ $schema: 'https://vega.github.io/schema/vega-lite/v6.json', ...spec } as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const CONFIG = {
  font: 'sans-serif',
  view: { stroke: '#ccc' },
  axis: { labelFontSize: 10, titleFontSize: 11 },
  legend: { labelFontSize: 10, titleFontSize: 11, labelLimit: 260, symbolOpacity: 1 },
  header: { labelFontSize: 11, titleFontSize: 11 },
};

/** Long-format rows (paradigm, variant, generation, metric, mean, lo, hi, n) for some metrics. */
function seriesRows(rows: readonly SummaryRow[], metrics: readonly { path: string; label: string }[]): Row[] {
  const out: Row[] = [];
  for (const r of rows) {
    for (const m of metrics) {
      const s = r.metrics[m.path];
      if (!s || s.mean === null) continue;
      out.push({
        paradigm: r.paradigm,
        variant: variantOf(r.values),
        generation: r.generation,
        metric: m.label,
        mean: s.mean,
        lo: s.ci95 ? s.ci95[0] : s.mean,
        hi: s.ci95 ? s.ci95[1] : s.mean,
        n: s.n,
      });
    }
  }
  return out;
}

/** Lines of the mean against generation with the seeds' 95% band; columns = paradigms, rows = metrics. */
function generationChart(values: Row[], opts: { byMetric: boolean; yTitle: string; dash?: string; dashes?: Record<string, number[]>; zeroRule?: boolean; width?: number }): object {
  // The dash legend of a line with points comes out empty in vega's SVG: the captions name the dashes.
  const dashScale = opts.dashes ? { domain: Object.keys(opts.dashes), range: Object.values(opts.dashes) } : undefined;
  const x = { field: 'generation', type: 'quantitative', title: 'generation', axis: { tickMinStep: 1 } };
  const color = { field: 'variant', type: 'nominal', title: 'cells' };
  const layers: object[] = [
    { mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: 'lo', type: 'quantitative', title: opts.byMetric ? null : opts.yTitle, scale: { zero: false } }, y2: { field: 'hi' }, color, ...(opts.dash ? { detail: { field: opts.dash } } : {}) } },
    {
      mark: { type: 'line', point: { size: 18 } },
      encoding: {
        x,
        y: { field: 'mean', type: 'quantitative', title: opts.byMetric ? null : opts.yTitle, scale: { zero: false } },
        color,
        ...(opts.dash ? { strokeDash: { field: opts.dash, type: 'nominal', legend: null, ...(dashScale ? { scale: dashScale } : {}) } } : {}),
        tooltip: [{ field: 'paradigm' }, { field: 'variant' }, { field: 'generation' }, { field: 'mean' }, { field: 'n', title: 'seeds' }],
      },
    },
  ];
  if (opts.zeroRule) layers.unshift({ mark: { type: 'rule', color: '#999', strokeDash: [2, 2] }, encoding: { y: { datum: 0 } } });
  return {
    data: { values },
    facet: { column: { field: 'paradigm', type: 'nominal', title: null }, ...(opts.byMetric ? { row: { field: 'metric', type: 'nominal', title: null } } : {}) },
    spec: { width: opts.width ?? 190, height: opts.byMetric ? 110 : 170, layer: layers },
    resolve: { scale: { y: 'independent' } },
    config: CONFIG,
  };
}

const has = (rows: readonly SummaryRow[], path: string) => rows.some((r) => r.metrics[path] && r.metrics[path]!.mean !== null);

/** Expected real share of T_n (docs/theory.md): D/(D + n·r·N) for the accumulate paradigms. */
function expectedRealShare(paradigm: string, n: number, cfg: { rate: number; accumulateRate: number; realFraction: number; trainTokens: number | null }, d: number): number | null {
  if (n === 0) return 1;
  if (paradigm === 'replace') return 0;
  if (paradigm === 'replace-with-real') return cfg.realFraction;
  const r = rateOf(paradigm, cfg);
  if (r === null) return null;
  const N = cfg.trainTokens ?? d;
  return d / (d + n * r * N);
}

/** All figures of a report, in display order. */
export async function buildFigures(data: ReportData): Promise<Figure[]> {
  const cells = data.cells;
  const { rows } = summarize(cells.map((c) => ({ group: c.group, values: c.values, records: c.result.records })));
  const figs: Figure[] = [];
  const seeds = new Set(cells.map((c) => c.seed)).size;
  const band = seeds > 1 ? ` Bands: 95% confidence interval of the mean over ${seeds} seeds (Student t).` : ' One seed: no band.';

  // 1. Perplexity on H.
  if (has(rows, 'perplexity')) {
    const v = seriesRows(rows, [{ path: 'perplexity', label: 'perplexity' }]);
    figs.push({ name: 'perplexity', title: 'Perplexity on the real test split H', caption: 'Mean over seeds against generation, one panel per paradigm, one line per swept setting.' + band, svg: await render(generationChart(v, { byMetric: false, yTitle: 'perplexity on H' })) });
  }

  // 2. Divergence from p0: TV, KL and lost mass, and any other divergence fields the records carry.
  const allPaths = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))];
  // The π-weighted means only: the raw sums (…Sum) carry the same curve scaled by Σπ.
  const divPaths = allPaths.filter((p) => /^(tv|kl|lostMass)/i.test(p) && !/weight|pi|Sum$/i.test(p));
  if (divPaths.length) {
    const v = seriesRows(rows, divPaths.map((p) => ({ path: p, label: p })));
    figs.push({ name: 'divergence', title: 'Divergence from the real distribution p0 on the probe contexts', caption: 'π-weighted means of the total variation, KL(p0 ‖ p̂_n) (infinite values left out), KL on p̂_n\'s support (klSupport) and the lost mass, per generation.' + band, svg: await render(generationChart(v, { byMetric: true, yTitle: 'value' })) });
  }

  // 3. Tails and diversity of S_n.
  const tailPaths = ['tailRetention', 'distinctRatio1', 'distinctRatio2', 'distinctRatio3', 'coverage2'].filter((p) => has(rows, p));
  if (tailPaths.length) {
    const v = seriesRows(rows, tailPaths.map((p) => ({ path: p, label: p })));
    figs.push({ name: 'tails', title: 'Tail retention and distinct-n of the samples S_n', caption: "tailRetention: share of D's rarest types still in S_n; distinctRatioN: distinct N-grams over N-grams of S_n; coverage2: share of D's bigrams S_n contains." + band, svg: await render(generationChart(v, { byMetric: true, yTitle: 'share' })) });
  }

  // 4. The real share fading, beside its expectation.
  {
    const v: Row[] = [];
    for (const r of rows) {
      const s = r.metrics['realShare'];
      if (s?.mean != null) v.push({ paradigm: r.paradigm, variant: variantOf(r.values), generation: r.generation, kind: 'measured w_D of T_n', mean: s.mean, lo: s.ci95?.[0] ?? s.mean, hi: s.ci95?.[1] ?? s.mean });
      const t = r.metrics['theory.realShare'];
      if (t?.mean != null) v.push({ paradigm: r.paradigm, variant: variantOf(r.values), generation: r.generation, kind: 'measured w_D(x) of C_n (π-weighted)', mean: t.mean, lo: t.ci95?.[0] ?? t.mean, hi: t.ci95?.[1] ?? t.mean });
    }
    const seen = new Set<string>();
    for (const c of cells) {
      for (const p of c.result.config.paradigms) {
        const key = `${p}\u0000${variantOf(c.values)}`;
        if (seen.has(key)) continue;
        seen.add(key);
        const d = c.result.records.find((r) => r.paradigm === p && r.generation === 0)?.trainTokens;
        if (d === undefined) continue;
        for (let n = 0; n < c.result.config.generations; n++) {
          const e = expectedRealShare(p, n, c.result.config, p === 'accumulate-subsample' ? Math.min(d, c.result.config.trainTokens ?? d) : d);
          if (e !== null) v.push({ paradigm: p, variant: variantOf(c.values), generation: n, kind: 'expected', mean: e, lo: e, hi: e });
        }
      }
    }
    if (v.length) {
      figs.push({ name: 'real-share', title: 'The real share w_D fading', caption: 'Measured share of real positions in T_n (and, with --theory, the π-weighted share w_D(x) of C_n) beside its expectation D/(D + n·r·N) (docs/theory.md). Solid: measured share of T_n; dotted: π-weighted w_D(x) of C_n; dashed: expected.' + band, svg: await render(generationChart(v, { byMetric: false, yTitle: 'real share', dash: 'kind', dashes: { 'measured w_D of T_n': [1, 0], 'measured w_D(x) of C_n (π-weighted)': [1, 2], expected: [6, 3] } })) });
    }
  }

  // 5. |E_n| beside the equal-shares prediction (--theory).
  if (has(rows, 'theory.EL1')) {
    const v: Row[] = [];
    for (const r of rows) {
      for (const [path, kind] of [['theory.EL1', 'measured ‖E_n‖'], ['theory.equalShares.predictedL1', 'equal-shares prediction']] as const) {
        const s = r.metrics[path];
        if (s?.mean != null) v.push({ paradigm: r.paradigm, variant: variantOf(r.values), generation: r.generation, kind, mean: s.mean, lo: s.ci95?.[0] ?? s.mean, hi: s.ci95?.[1] ?? s.mean });
      }
    }
    figs.push({ name: 'drift-theory', title: '|E_n| = ‖p̂_n − p0‖ measured, beside the equal-shares prediction', caption: 'π-weighted mean L1 norm of E_n on the probe contexts, and docs/theory.md\'s equal-shares formula E_n = ε_n + σ_n + r·Σ(ε_k+δ_k+σ_k)/(1+(k+1)r) evaluated with the measured errors (accumulate paradigms). Solid: measured; dashed: prediction.' + band, svg: await render(generationChart(v, { byMetric: false, yTitle: 'L1 norm', dash: 'kind', dashes: { 'measured ‖E_n‖': [1, 0], 'equal-shares prediction': [6, 3] } })) });
  }

  // 6. The per-generation errors ε, δ, σ and their signs (--theory).
  const errPaths = [
    ['theory.head.eps', 'head ε (signed)'],
    ['theory.head.delta', 'head δ (signed)'],
    ['theory.tail.eps', 'tail ε (signed)'],
    ['theory.tail.delta', 'tail δ (signed)'],
    ['theory.epsL1', '‖ε_n‖'],
    ['theory.deltaL1', '‖δ_n‖'],
    ['theory.sigmaL1', '‖σ_n‖'],
  ].filter(([p]) => has(rows, p!));
  if (errPaths.length) {
    const v = seriesRows(rows, errPaths.map(([path, label]) => ({ path: path!, label: label! })));
    figs.push({ name: 'errors', title: 'Per-generation errors ε (learning), δ (sampling), σ (subsampling) and their signs', caption: "Signed: mean error on the tokens p0 ranks in its top (head) and bottom (tail) decile — a persistent sign adds up across generations. Norms: π-weighted mean L1 norms." + band, svg: await render(generationChart(v, { byMetric: true, yTitle: 'value', zeroRule: true })) });
  }

  // 7. The headline: drift at the last generation against r (log axis), per paradigm.
  const head = headlineRows(cells);
  if (head.points.length || head.flat.length) {
    figs.unshift({
      name: 'headline',
      title: 'Drift at the last generation against the synthetic rate r',
      caption:
        'Total variation between p̂_n and p0 at the last generation, mean over seeds with its 95% interval, against the rate r of synthetic data per generation (log axis): accumulate-subsample reads --rate, accumulate --accumulate-rate. Paradigms without a rate (replace, replace-with-real) are drawn as a level across the axis; the dotted line is generation 0 (models trained on D alone). Does the drift vanish as r → 0? (docs/theory.md: at a fixed number of generations n the accumulated error grows like ln(1 + n·r), unbounded in n for every r > 0.)',
      svg: await render(headlineSpec(head)),
    });
  }
  return figs;
}

export interface Headline {
  points: Row[];
  flat: Row[];
  rmin: number;
  rmax: number;
  /** Mean TV of generation 0 (models trained on D alone): the level a drift is measured from. */
  baseline: number | null;
}

export function headlineRows(cells: readonly ReportCell[]): Headline {
  const groups = new Map<string, { paradigm: string; series: string; r: number | null; bySeed: Map<number, number> }>();
  const rates: number[] = [];
  for (const c of cells) {
    const cfg = c.result.config;
    for (const p of cfg.paradigms) {
      const last = c.result.records.find((r: MetricsRecord) => r.paradigm === p && r.generation === cfg.generations - 1);
      const tv = last ? getPath(last, 'tv') : undefined;
      if (typeof tv !== 'number' || !Number.isFinite(tv)) continue;
      const r = rateOf(p, cfg);
      if (r !== null) rates.push(r);
      const others = variantOf(c.values, ['rate', 'accumulateRate', 'accumulate-rate']);
      const series = others === 'all' ? p : `${p} ${others}`;
      const key = `${series}\u0000${r}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { paradigm: p, series, r, bySeed: new Map() }));
      // Cells that differ only in a rate this paradigm does not read are the same run: one value per seed.
      if (!g.bySeed.has(c.seed)) g.bySeed.set(c.seed, tv);
    }
  }
  for (const c of cells) rates.push(c.result.config.rate);
  const zero = cells.flatMap((c) => c.result.records.filter((r) => r.generation === 0 && Number.isFinite(r.tv)).map((r) => r.tv));
  const baseline = zero.length ? zero.reduce((a, b) => a + b, 0) / zero.length : null;
  const points: Row[] = [];
  const flat: Row[] = [];
  const rmin = Math.min(...rates);
  const rmax = Math.max(...rates);
  for (const g of groups.values()) {
    const xs = [...g.bySeed.values()];
    const n = xs.length;
    const mean = xs.reduce((a, b) => a + b, 0) / n;
    const s = summarize([{ group: '', values: {}, records: xs.map((tv) => ({ paradigm: g.paradigm, generation: 0, tv })) }]).rows[0]!.metrics['tv']!;
    const lo = s.ci95?.[0] ?? mean;
    const hi = s.ci95?.[1] ?? mean;
    if (g.r === null) flat.push({ series: `${g.series} (no r)`, mean, lo, hi, n, x0: rmin, x1: rmax });
    else points.push({ series: g.series, r: g.r, mean, lo, hi, n });
  }
  return { points, flat, rmin, rmax, baseline };
}

function headlineSpec(h: Headline): object {
  const x = { field: 'r', type: 'quantitative', title: 'synthetic rate r (log scale)', scale: { type: 'log', domain: [h.rmin === h.rmax ? h.rmin / 2 : h.rmin / 1.5, h.rmin === h.rmax ? h.rmax * 2 : h.rmax * 1.5] } };
  const y = { field: 'mean', type: 'quantitative', title: 'TV(p̂_last, p0)', scale: { zero: false } };
  const color = { field: 'series', type: 'nominal', title: 'paradigm' };
  const layers: object[] = [];
  if (h.flat.length) {
    layers.push(
      { data: { values: h.flat }, mark: { type: 'rect', opacity: 0.15 }, encoding: { x: { field: 'x0', type: 'quantitative', scale: x.scale, title: x.title }, x2: { field: 'x1' }, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
      { data: { values: h.flat }, mark: { type: 'rule', strokeDash: [6, 3], strokeWidth: 2 }, encoding: { x: { field: 'x0', type: 'quantitative', scale: x.scale, title: x.title }, x2: { field: 'x1' }, y, color } },
    );
  }
  if (h.points.length) {
    layers.push(
      { data: { values: h.points }, mark: { type: 'rule', strokeWidth: 1.5 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
      { data: { values: h.points }, mark: { type: 'line', point: { size: 50 } }, encoding: { x, y, color, tooltip: [{ field: 'series' }, { field: 'r' }, { field: 'mean' }, { field: 'n', title: 'seeds' }] } },
    );
  }
  if (h.baseline !== null) {
    const base = [{ x0: x.scale.domain[0], x1: x.scale.domain[1], y: h.baseline, label: 'generation 0 (trained on D alone)' }];
    layers.push(
      { data: { values: base }, mark: { type: 'rule', color: '#666', strokeDash: [2, 3] }, encoding: { x: { field: 'x0', type: 'quantitative', scale: x.scale, title: x.title }, x2: { field: 'x1' }, y: { field: 'y', type: 'quantitative' } } },
      { data: { values: base }, mark: { type: 'text', align: 'left', baseline: 'bottom', dx: 4, dy: -3, color: '#444', fontSize: 10 }, encoding: { x: { field: 'x0', type: 'quantitative', scale: x.scale, title: x.title }, y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } } },
    );
  }
  return { width: 520, height: 320, layer: layers, config: CONFIG };
}
