/**
 * End to end: the default `collapse run` (Brown, KN trigram, replace + accumulate +
 * accumulate-subsample, 10 generations) and the same with `--order 5`, as child processes of the
 * built CLI (dist/cli/main.js; `npm run build:ts` first). Wall time and peak RSS from GNU time when
 * /usr/bin/time exists, else wall time only. Best of `reps`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface E2eRow {
  task: string;
  wallS: number;
  peakRssMb?: number;
}

export async function e2eBench(reps = 1): Promise<E2eRow[]> {
  const cli = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
  if (!existsSync(cli)) throw new Error('dist/cli/main.js is missing: run `npm run build:ts` first');
  const gnuTime = existsSync('/usr/bin/time');
  const rows: E2eRow[] = [];
  for (const [task, extra] of [
    ['collapse run (default: 3 paradigms × 10 generations)', []],
    ['collapse run --order 5', ['--order', '5']],
  ] as const) {
    let best: E2eRow | null = null;
    for (let i = 0; i < reps; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'collapse-e2e-'));
      try {
        const args = [cli, 'run', '--out', join(dir, 'run'), ...extra];
        const t = performance.now();
        const r = gnuTime
          ? spawnSync('/usr/bin/time', ['-f', 'MAXRSS_KB %M', process.execPath, ...args], { encoding: 'utf8' })
          : spawnSync(process.execPath, args, { encoding: 'utf8' });
        const wallS = (performance.now() - t) / 1000;
        if (r.status !== 0) throw new Error(`${task} failed: ${r.stderr.slice(-2000)}`);
        const m = /MAXRSS_KB (\d+)/.exec(r.stderr);
        const row: E2eRow = { task, wallS, ...(m ? { peakRssMb: Number(m[1]) / 1024 } : {}) };
        if (!best || row.wallS < best.wallS) best = row;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
    rows.push(best!);
  }
  return rows;
}
