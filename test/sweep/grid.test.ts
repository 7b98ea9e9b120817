/**
 * The sweep grid: lists, seed ranges, the cross product's order and names, and the errors of a bad
 * spec (each one line naming the flag or the cell).
 */
import { CollapseError } from '../../src/errors.js';
import { expandGrid, parseGrid, parseSeeds, splitList, type FlagSpec } from '../../src/sweep/grid.js';
import { defaultParallelism } from '../../src/sweep/run.js';

const num = (flag: string) => (v: string) => {
  const x = Number(v);
  if (v.trim() === '' || Number.isNaN(x)) throw new Error(`${flag} must be a number, got "${v}"`);
  return x;
};
const SPECS: FlagSpec[] = [
  { flag: '--corpus', key: 'corpus' },
  { flag: '--order', key: 'order', parse: num('--order') },
  { flag: '--smoothing', key: 'smoothing', choices: ['kneser-ney', 'mle', 'add-k'] },
  { flag: '--paradigm', key: 'paradigm' },
  { flag: '--rate', key: 'rate', parse: num('--rate') },
  { flag: '--theory', key: 'theory' },
  { flag: '--config', key: 'config' },
];

/** The CLI's flags → config mapping, reduced to the flags above. */
const build = (f: Record<string, unknown>) => ({
  ...(f.corpus !== undefined ? { corpus: f.corpus } : {}),
  ...(f.paradigm !== undefined ? { paradigms: String(f.paradigm).split(',') } : {}),
  ...(f.rate !== undefined ? { rate: f.rate } : {}),
  ...(f.order !== undefined || f.smoothing !== undefined ? { model: { ...(f.order !== undefined ? { order: f.order } : {}), ...(f.smoothing !== undefined ? { smoothing: f.smoothing } : {}) } } : {}),
  ...(f.theory ? { theory: true } : {}),
  seed: f.seed,
});

function errorOf(fn: () => unknown): CollapseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CollapseError);
    return err as CollapseError;
  }
  throw new Error('expected an error');
}

describe('lists and seeds', () => {
  test('a list splits on commas and trims', () => {
    expect(splitList('--rate', '0.01, 0.1,1')).toEqual(['0.01', '0.1', '1']);
  });
  test('an empty list, an empty element, a repeated value: one line naming the flag', () => {
    expect(errorOf(() => splitList('--rate', '')).message).toBe('--rate: empty list');
    expect(errorOf(() => splitList('--rate', '0.1,,1')).message).toBe('--rate: empty value in the list "0.1,,1"');
    expect(errorOf(() => splitList('--rate', '0.1,0.1')).message).toMatch(/^--rate: "0.1" appears twice/);
  });
  test('seeds: lists, ranges and both', () => {
    expect(parseSeeds('1-5')).toEqual([1, 2, 3, 4, 5]);
    expect(parseSeeds('7')).toEqual([7]);
    expect(parseSeeds('1,4,9')).toEqual([1, 4, 9]);
    expect(parseSeeds('1-3,10,20-21')).toEqual([1, 2, 3, 10, 20, 21]);
    expect(parseSeeds('0-0')).toEqual([0]);
  });
  test('seeds: a range backwards, garbage, overlaps', () => {
    expect(errorOf(() => parseSeeds('5-1')).message).toBe('--seeds: range "5-1" runs backwards (write 1-5)');
    expect(errorOf(() => parseSeeds('a')).message).toMatch(/^--seeds: "a" is neither a seed/);
    expect(errorOf(() => parseSeeds('-1')).message).toMatch(/^--seeds: "-1" is neither a seed/);
    expect(errorOf(() => parseSeeds('1.5')).message).toMatch(/neither a seed/);
    expect(errorOf(() => parseSeeds('1-3,2')).message).toBe('--seeds: seed 2 appears twice in "1-3,2"');
    expect(errorOf(() => parseSeeds('')).message).toBe('--seeds: empty list');
  });
});

describe('parseGrid', () => {
  test('lists become axes in flag order; one value and booleans go to the base', () => {
    const g = parseGrid({ rate: '0.01,0.1,1', paradigm: 'replace,accumulate-subsample', order: '3', theory: true }, SPECS, { seeds: '1-3' });
    expect(g.axes).toEqual([
      { flag: '--paradigm', key: 'paradigm', values: ['replace', 'accumulate-subsample'] },
      { flag: '--rate', key: 'rate', values: [0.01, 0.1, 1] },
    ]);
    expect(g.base).toEqual({ order: 3, theory: true });
    expect(g.seeds).toEqual([1, 2, 3]);
    expect(parseGrid({}, SPECS).seeds).toEqual([1]);
  });
  test('a list where one value is invalid names the value', () => {
    expect(errorOf(() => parseGrid({ rate: '0.1,abc' }, SPECS)).message).toBe('--rate must be a number, got "abc"');
    expect(errorOf(() => parseGrid({ smoothing: 'mle,kn' }, SPECS)).message).toBe('--smoothing: "kn" is not one of kneser-ney, mle, add-k');
  });
  test('a single-valued flag refuses a list', () => {
    expect(errorOf(() => parseGrid({ config: 'a.json,b.json' }, SPECS, { single: ['config'] })).message).toBe('--config takes one value in a sweep, got the list "a.json,b.json"');
  });
});

describe('expandGrid', () => {
  test('cross product, seeds fastest; names and groups; every config resolved', async () => {
    const g = parseGrid({ paradigm: 'replace,accumulate-subsample', rate: '0.01,1', corpus: 'brown' }, SPECS, { seeds: '1-2' });
    const cells = await expandGrid(g, build);
    expect(cells.map((c) => c.name)).toEqual([
      'paradigm-replace_rate-0.01_seed-1',
      'paradigm-replace_rate-0.01_seed-2',
      'paradigm-replace_rate-1_seed-1',
      'paradigm-replace_rate-1_seed-2',
      'paradigm-accumulate-subsample_rate-0.01_seed-1',
      'paradigm-accumulate-subsample_rate-0.01_seed-2',
      'paradigm-accumulate-subsample_rate-1_seed-1',
      'paradigm-accumulate-subsample_rate-1_seed-2',
    ]);
    expect(cells.map((c) => c.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const c = cells[5]!;
    expect(c.group).toBe('paradigm-accumulate-subsample_rate-0.01');
    expect(c.values).toEqual({ paradigm: 'accumulate-subsample', rate: 0.01 });
    expect(c.seed).toBe(2);
    expect(c.config).toMatchObject({ corpus: 'brown', paradigms: ['accumulate-subsample'], rate: 0.01, seed: 2, generations: 10, model: { kind: 'ngram', order: 3 } });
  });
  test('folder names keep only safe characters', async () => {
    const g = parseGrid({ corpus: 'text:/a/b c.txt,brown' }, SPECS);
    const cells = await expandGrid(g, build);
    expect(cells.map((c) => c.name)).toEqual(['corpus-text~~a~b~c.txt_seed-1', 'corpus-brown_seed-1']);
  });
  test('a cell whose config is invalid stops the expansion with a line naming the cell', async () => {
    const g = parseGrid({ paradigm: 'replace,bogus', rate: '0.1,200' }, SPECS, { seeds: '1' });
    await expect(expandGrid(g, build)).rejects.toThrow(/^sweep cell paradigm=replace rate=200 seed=1: invalid config: rate must be ≤ 100$/);
    const g2 = parseGrid({ paradigm: 'replace,bogus' }, SPECS);
    const err = await expandGrid(g2, build).catch((e: unknown) => e as CollapseError);
    expect(err).toBeInstanceOf(CollapseError);
    expect((err as CollapseError).code).toBe('E_BAD_CONFIG');
    expect((err as CollapseError).message).toMatch(/^sweep cell paradigm=bogus seed=1: invalid config: paradigms/);
    expect((err as CollapseError).message).not.toContain('\n');
  });
});

describe('defaultParallelism', () => {
  const ngram = { model: { kind: 'ngram' } } as unknown as import('../../src/experiment/config.js').ExperimentConfig;
  const transformer = { model: { kind: 'transformer' } } as unknown as import('../../src/experiment/config.js').ExperimentConfig;
  test('n-gram cells: one thread each, as many at once as cores (at most the cells)', () => {
    expect(defaultParallelism([ngram, ngram, ngram], undefined, undefined, 2)).toEqual({ jobs: 2, threads: 1 });
    expect(defaultParallelism([ngram], undefined, undefined, 8)).toEqual({ jobs: 1, threads: 1 });
  });
  test('transformer cells: one at a time on every core', () => {
    expect(defaultParallelism([ngram, transformer], undefined, undefined, 16)).toEqual({ jobs: 1, threads: 16 });
  });
  test('one of --jobs / --threads given: the other fills the cores', () => {
    expect(defaultParallelism([ngram, ngram, ngram, ngram], 2, undefined, 8)).toEqual({ jobs: 2, threads: 4 });
    expect(defaultParallelism([ngram, ngram, ngram, ngram], undefined, 2, 8)).toEqual({ jobs: 4, threads: 2 });
    expect(defaultParallelism([ngram], 3, 5, 2)).toEqual({ jobs: 3, threads: 5 });
  });
});
