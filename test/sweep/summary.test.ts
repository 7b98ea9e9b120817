/**
 * Statistics across seeds against hand-computed values: mean, sample standard deviation, and the
 * Student-t 95% interval (t quantiles from printed tables), grouped per (cell without its seed,
 * paradigm, generation), over every numeric field of the records, nested ones included.
 */
import { describe as stat, numericPaths, summarize, summaryCsv, summaryJsonl } from '../../src/sweep/summary.js';

describe('describe()', () => {
  test('n = 4: mean 2.5, sd √(5/3), t(0.975, 3) = 3.182446', () => {
    const s = stat([1, 2, 3, 4]);
    expect(s.n).toBe(4);
    expect(s.mean).toBe(2.5);
    expect(s.sd).toBeCloseTo(Math.sqrt(5 / 3), 12);
    const half = 3.182446305 * Math.sqrt(5 / 3) / 2; // 2.0542699…
    expect(s.ci95![0]).toBeCloseTo(2.5 - half, 7);
    expect(s.ci95![1]).toBeCloseTo(2.5 + half, 7);
    expect(s.ci95![0]).toBeCloseTo(0.445740, 5);
  });
  test('n = 2: t(0.975, 1) = 12.7062047', () => {
    const s = stat([1, 3]);
    expect(s.mean).toBe(2);
    expect(s.sd).toBeCloseTo(Math.SQRT2, 12);
    expect(s.ci95![1] - 2).toBeCloseTo(12.7062047, 6); // t · √2 / √2
  });
  test('n = 3: t(0.975, 2) = 4.3026527', () => {
    const s = stat([0.2, 0.4, 0.9]);
    expect(s.mean).toBeCloseTo(0.5, 12);
    const sd = Math.sqrt((0.09 + 0.01 + 0.16) / 2);
    expect(s.sd).toBeCloseTo(sd, 12);
    expect(s.ci95![1]).toBeCloseTo(0.5 + (4.3026527 * sd) / Math.sqrt(3), 6);
  });
  test('one value: no sd, no interval; none: no mean; infinities and NaN are left out', () => {
    expect(stat([7])).toEqual({ n: 1, mean: 7, sd: null, ci95: null });
    expect(stat([])).toEqual({ n: 0, mean: null, sd: null, ci95: null });
    expect(stat([1, Infinity, 3, NaN])).toMatchObject({ n: 2, mean: 2 });
  });
  test('equal values: sd 0 and a zero-width interval', () => {
    expect(stat([5, 5, 5])).toEqual({ n: 3, mean: 5, sd: 0, ci95: [5, 5] });
  });
});

describe('summarize()', () => {
  const rec = (paradigm: string, generation: number, tv: number, extra: object = {}) => ({ paradigm, generation, tv, perplexity: 10 + tv, ...extra });
  const cells = [
    { group: 'rate-0.1', values: { rate: 0.1 }, records: [rec('replace', 0, 0.1, { theory: { epsL1: 1, head: { E: -1 } } }), rec('replace', 1, 0.3, { theory: { epsL1: 3, head: { E: -3 } } })] },
    { group: 'rate-0.1', values: { rate: 0.1 }, records: [rec('replace', 0, 0.2, { theory: { epsL1: 2, head: { E: -2 } } }), rec('replace', 1, 0.5, { theory: { epsL1: 5, head: { E: -5 } } })] },
    { group: 'rate-1', values: { rate: 1 }, records: [rec('replace', 0, 0.4, { newField: 9, perplexity: null }), rec('accumulate', 0, 0.6)] },
  ];

  test('numeric paths: nested fields dotted, identifiers and arrays left out', () => {
    expect(numericPaths({ paradigm: 'a', generation: 1, tv: 0, perplexity: null, theory: { epsL1: 1, head: { E: 0 }, coefficients: { eps: [1, 2] } } })).toEqual(['tv', 'perplexity', 'theory.epsL1', 'theory.head.E']);
  });

  test('one row per (group, paradigm, generation), in first-seen order, with every metric', () => {
    const s = summarize(cells);
    expect(s.metrics).toEqual(['tv', 'perplexity', 'theory.epsL1', 'theory.head.E', 'newField']);
    expect(s.rows.map((r) => [r.values.rate, r.paradigm, r.generation, r.seeds])).toEqual([
      [0.1, 'replace', 0, 2],
      [0.1, 'replace', 1, 2],
      [1, 'replace', 0, 1],
      [1, 'accumulate', 0, 1],
    ]);
    const r1 = s.rows[1]!;
    expect(r1.metrics.tv!.mean).toBeCloseTo(0.4, 12);
    expect(r1.metrics['theory.epsL1']).toMatchObject({ n: 2, mean: 4, sd: Math.SQRT2 });
    expect(r1.metrics['theory.head.E']!.mean).toBe(-4);
    expect(r1.metrics['theory.head.E']!.ci95![0]).toBeCloseTo(-4 - 12.7062047, 6);
    // A field only some records have counts where present; null (infinite perplexity) is no value.
    const r2 = s.rows[2]!;
    expect(r2.metrics.newField).toEqual({ n: 1, mean: 9, sd: null, ci95: null });
    expect(r2.metrics.perplexity).toEqual({ n: 0, mean: null, sd: null, ci95: null });
    expect(s.rows[0]!.metrics.newField).toBeUndefined();
  });

  test('summary.csv: swept columns (paradigm as its own column), then n/mean/sd/ci per metric', () => {
    const s = summarize(cells);
    const csv = summaryCsv(['paradigm', 'rate'], s).split('\n');
    expect(csv[0]!.split(',').slice(0, 9)).toEqual(['rate', 'paradigm', 'generation', 'seeds', 'tv.n', 'tv.mean', 'tv.sd', 'tv.ci95lo', 'tv.ci95hi']);
    const row = csv[2]!.split(',');
    expect(row.slice(0, 6)).toEqual(['0.1', 'replace', '1', '2', '2', String(0.4)]);
    expect(Number(row[6])).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(csv[3]!.split(',').slice(0, 9)).toEqual(['1', 'replace', '0', '1', '1', '0.4', '', '', '']);
    expect(csv).toHaveLength(s.rows.length + 2); // header, rows, final newline
    const jl = summaryJsonl(s).trim().split('\n').map((l) => JSON.parse(l));
    expect(jl[1]).toMatchObject({ values: { rate: 0.1 }, paradigm: 'replace', generation: 1, seeds: 2, metrics: { 'theory.epsL1': { n: 2, mean: 4 } } });
  });
});
