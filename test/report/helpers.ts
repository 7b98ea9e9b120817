/** A small finished sweep (in this process) for the report tests. */
import path from 'node:path';
import { expandGrid, parseGrid } from '../../src/sweep/grid.js';
import { createSweep, runSweep } from '../../src/sweep/run.js';
import { sentences, writeLines } from '../experiment/helpers.js';

export const GENERATIONS = 3;

/** paradigm × rate × seeds 1-2, with --theory, in `dir`. */
export async function smallSweep(root: string, dir: string): Promise<void> {
  const corpus = writeLines(path.join(root, 'corpus.txt'), sentences(13, 300, { vocab: 25, minLen: 2, maxLen: 8 }));
  const specs = [
    { flag: '--paradigm', key: 'paradigm' },
    { flag: '--rate', key: 'rate', parse: Number },
  ];
  const grid = parseGrid({ paradigm: 'replace,accumulate-subsample', rate: '0.1,1' }, specs, { seeds: '1-2' });
  const cells = await expandGrid(grid, (f) => ({ corpus: `text:${corpus}`, paradigms: [f.paradigm], rate: f.rate, generations: GENERATIONS, seed: f.seed, theory: true }));
  await runSweep(dir, await createSweep(dir, grid, cells), { jobs: 1, threads: 1 });
}
