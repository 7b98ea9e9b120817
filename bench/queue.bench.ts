/**
 * Per-cell overhead of a sweep through the queue (BullMQ on a local redis-server, loopback):
 * tiny cells are sent one at a time through the coordinator's runner to a worker (both in this
 * process); the overhead of a cell is its time through the queue (add, pick-up, run, result back,
 * result.json written, job removed) less the worker's own time for the cell (runCell: the run and
 * reading its result). Target: ≤ 200 ms per cell.
 *
 *   npx tsx bench/queue.bench.ts [cells=30]
 */
import { loadavg, cpus } from 'node:os';
import path from 'node:path';
import { attachQueue } from '../src/queue/coordinator.js';
import { parseQueueUrl } from '../src/queue/url.js';
import { startQueueWorker } from '../src/queue/worker.js';
import { expandGrid, parseGrid } from '../src/sweep/grid.js';
import { createSweep } from '../src/sweep/run.js';
import { removeDir, sentences, tempDir, writeLines } from '../test/experiment/helpers.js';
import { startRedis } from '../test/queue/redis.js';

const n = Number(process.argv[2] ?? 30);

async function main() {
  const root = tempDir('queue-bench');
  const redis = await startRedis();
  try {
    const corpus = writeLines(path.join(root, 'corpus.txt'), sentences(5, 200, { vocab: 20, minLen: 2, maxLen: 6 }));
    const grid = parseGrid({}, [], { seeds: `1-${n + 1}` });
    const cells = await expandGrid(grid, (f) => ({ corpus: `text:${corpus}`, paradigms: ['replace'], generations: 1, seed: f.seed }));
    const dir = path.join(root, 'sweep');
    const sweep = await createSweep(dir, grid, cells);
    const address = parseQueueUrl(redis.url);
    const workerMs = new Map<string, number>();
    const worker = await startQueueWorker(address, { root: path.join(root, 'worker'), threads: 1, onEvent: (e) => e.type === 'cell-done' && workerMs.set(e.name, e.ms) });
    const coord = await attachQueue(dir, sweep, address, {});
    const signal = new AbortController().signal;
    const overhead: number[] = [];
    const cellMs: number[] = [];
    const load0 = loadavg()[0]!;
    for (const [i, cell] of sweep.cells.entries()) {
      const t0 = performance.now();
      await coord.runner(cell, { signal, onGeneration: () => undefined });
      const total = performance.now() - t0;
      if (i === 0) continue; // warm-up
      overhead.push(total - workerMs.get(cell.name)!);
      cellMs.push(workerMs.get(cell.name)!);
    }
    const load1 = loadavg()[0]!;
    await coord.close();
    await worker.stop();
    const sorted = [...overhead].sort((a, b) => a - b);
    const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.versions.node}; 1-minute load ${load0.toFixed(1)} → ${load1.toFixed(1)}`);
    console.log(`${overhead.length} cells through the queue (one at a time; cell run itself: mean ${mean(cellMs).toFixed(1)} ms)`);
    console.log(`per-cell overhead: median ${q(0.5).toFixed(1)} ms, p90 ${q(0.9).toFixed(1)} ms, mean ${mean(overhead).toFixed(1)} ms, max ${sorted[sorted.length - 1]!.toFixed(1)} ms`);
  } finally {
    await redis.stop();
    removeDir(root);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
