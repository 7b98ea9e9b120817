/**
 * An interrupted sweep resumes cell by cell: a finished cell is kept as it is, a partial one
 * continues from its run state (runExperiment's resume), the rest run; the files end the same,
 * byte for byte, as an uninterrupted sweep's (timings excluded). Runs in this process (one job).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CollapseError } from '../../src/errors.js';
import { cellState } from '../../src/sweep/cell.js';
import { expandGrid, parseGrid } from '../../src/sweep/grid.js';
import { createSweep, loadSweep, runSweep, type SweepEvent } from '../../src/sweep/run.js';
import { listFiles, mtimes, removeDir, sentences, tempDir, writeLines } from '../experiment/helpers.js';

let root: string;
let corpus: string;
const GENERATIONS = 4;

async function makeSweep(dir: string) {
  const grid = parseGrid({ rate: '0.3' }, [{ flag: '--rate', key: 'rate', parse: Number }], { seeds: '1-3' });
  const cells = await expandGrid(grid, (f) => ({ corpus: `text:${corpus}`, paradigms: ['accumulate-subsample'], rate: f.rate, generations: GENERATIONS, seed: f.seed, theory: true }));
  return createSweep(dir, grid, cells);
}

beforeAll(() => {
  root = tempDir('sweep-resume');
  corpus = writeLines(path.join(root, 'corpus.txt'), sentences(11, 300, { vocab: 25, minLen: 2, maxLen: 8 }));
});
afterAll(() => removeDir(root));

test('interrupt in the middle of the second cell, then resume: same files as an uninterrupted sweep', async () => {
  const ref = path.join(root, 'ref');
  const refSweep = await makeSweep(ref);
  const refOut = await runSweep(ref, refSweep, { jobs: 1, threads: 1 });
  expect(refOut.results.map((r) => r.name)).toEqual(['seed-1', 'seed-2', 'seed-3']);
  expect(refOut.failed).toEqual([]);

  const dir = path.join(root, 'cut');
  const sweep = await makeSweep(dir);
  const controller = new AbortController();
  const events: SweepEvent[] = [];
  const err = await runSweep(dir, sweep, {
    jobs: 1,
    threads: 1,
    signal: controller.signal,
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'cell-generation' && e.name === 'seed-2' && e.generationsDone === 2) controller.abort();
    },
  }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CollapseError);
  expect((err as CollapseError).code).toBe('E_ABORTED');
  expect((err as CollapseError).message).toBe(`the sweep was interrupted (1/3 cells done); continue it with: collapse sweep --resume ${dir}`);
  expect(await cellState(path.join(dir, 'seed-1'))).toBe('done');
  expect(await cellState(path.join(dir, 'seed-2'))).toBe('partial');
  expect(await cellState(path.join(dir, 'seed-3'))).toBe('fresh');
  const progress = JSON.parse(readFileSync(path.join(dir, 'seed-2', 'state', 'progress.json'), 'utf8'));
  expect(progress.finished['accumulate-subsample']).toBe(1);
  expect(listFiles(dir)).not.toContain('summary.csv');

  const kept = mtimes(path.join(dir, 'seed-1'));
  const started: string[] = [];
  const out = await runSweep(dir, await loadSweep(dir), {
    jobs: 1,
    threads: 1,
    onEvent: (e) => {
      if (e.type === 'start') expect(e.done).toBe(1);
      if (e.type === 'cell-start') started.push(e.name);
    },
  });
  expect(started).toEqual(['seed-2', 'seed-3']);
  expect(out.results.map((r) => r.name)).toEqual(['seed-1', 'seed-2', 'seed-3']);
  expect(mtimes(path.join(dir, 'seed-1'))).toEqual(kept);

  const files = listFiles(ref).filter((f) => !f.endsWith('timings.jsonl'));
  expect(listFiles(dir).filter((f) => !f.endsWith('timings.jsonl'))).toEqual(files);
  expect(files).toEqual(expect.arrayContaining(['sweep.json', 'summary.csv', 'summary.jsonl', 'seed-2/metrics.jsonl']));
  for (const f of files) {
    const a = readFileSync(path.join(ref, f));
    const b = readFileSync(path.join(dir, f));
    if (!a.equals(b)) expect(`${f}:\n${b.toString('utf8')}`).toBe(`${f}:\n${a.toString('utf8')}`);
  }
  // The resumed cell's timings hold each generation once.
  const t = readFileSync(path.join(dir, 'seed-2', 'timings.jsonl'), 'utf8').trim().split('\n');
  expect(t).toHaveLength(GENERATIONS);
});
