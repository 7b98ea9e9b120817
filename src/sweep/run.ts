/**
 * Running a sweep on this machine: sweep.json describes the grid and its cells; each cell runs as an
 * ordinary run folder <sweep>/<cell name>/ on a pool of local worker processes (or in this process
 * with one job). A finished cell is never run again; a partial one resumes with runExperiment's
 * resume; a cell that is the same experiment as an earlier one (see runKey) is a copy of it; the
 * files are the same whatever the number of jobs. The summary is computed from the
 * cells' records at the end.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { CollapseError } from '../errors.js';
import type { ExperimentConfig } from '../experiment/config.js';
import { writeFileAtomic } from '../util/fs.js';
import { CELL_RESULT_FILE, cellState, readCellResult, runCell, type CellResult } from './cell.js';
import type { Axis, CellSpec, Grid } from './grid.js';
import { summarize, summaryCsv, summaryJsonl } from './summary.js';

/** sweep.json. */
export interface SweepFile {
  version: 1;
  collapseLab: string;
  axes: Axis[];
  seeds: number[];
  /** One-valued run flags shared by every cell. */
  base: Record<string, unknown>;
  cells: Omit<CellSpec, 'index'>[];
}

export type SweepEvent =
  | { type: 'start'; total: number; done: number; jobs: number; threads: number }
  | { type: 'cell-start'; name: string; total: number; done: number; running: number; left: number }
  | { type: 'cell-generation'; name: string; generationsDone: number; generationsTotal: number }
  | { type: 'cell-done'; name: string; total: number; done: number; running: number; left: number; failed: number; ms: number; etaMs: number | null }
  | { type: 'cell-error'; name: string; message: string; total: number; done: number; running: number; left: number; failed: number };

export interface SweepRunOptions {
  /** Cells run at once (default: see defaultParallelism). */
  jobs?: number;
  /** Threads per cell's native calls (default: see defaultParallelism). */
  threads?: number;
  signal?: AbortSignal;
  onEvent?: (e: SweepEvent) => void;
  /** Worker entry for jobs > 1 (default: worker.js beside this module). */
  workerPath?: string;
  /**
   * Runs one cell elsewhere (e.g. through a job queue) instead of on local workers; it resolves with
   * the cell's result as data. `jobs` lanes call it at once.
   */
  runner?: CellRunner;
}

/** Runs one cell (a pure description: name, resolved config) and hands back its result. */
export type CellRunner = (cell: SweepFile['cells'][number], ctx: { signal: AbortSignal; onGeneration: () => void }) => Promise<CellResult>;

export interface SweepOutcome {
  results: CellResult[];
  /** Cells that failed (their error code and first line); the rest finished. */
  failed: { name: string; code: string; message: string }[];
}

const pkgVersion: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

/**
 * Jobs and threads per cell: with neither given, n-gram cells run one thread each on every core,
 * and transformer cells (whose training uses every core) one at a time on all threads; with one
 * given, the other fills the cores.
 */
export function defaultParallelism(configs: readonly ExperimentConfig[], jobs?: number, threads?: number, cores = availableParallelism()): { jobs: number; threads: number } {
  const cells = Math.max(1, configs.length);
  if (jobs !== undefined && threads !== undefined) return { jobs, threads };
  if (jobs !== undefined) return { jobs, threads: Math.max(1, Math.floor(cores / jobs)) };
  if (threads !== undefined) return { jobs: Math.max(1, Math.min(cells, Math.floor(cores / threads))), threads };
  if (configs.some((c) => c.model.kind === 'transformer')) return { jobs: 1, threads: cores };
  return { jobs: Math.min(cells, cores), threads: 1 };
}

/**
 * A cell's config with the fields its paradigms do not read set aside: accumulate-subsample reads
 * `rate`, accumulate `accumulateRate`, replace-with-real `realFraction` (src/paradigms). Equal keys,
 * equal results.
 */
export function runKey(config: ExperimentConfig): string {
  const ps = new Set<string>(config.paradigms);
  const c: Record<string, unknown> = { ...config };
  if (!ps.has('accumulate-subsample')) delete c.rate;
  if (!ps.has('accumulate')) delete c.accumulateRate;
  if (!ps.has('replace-with-real')) delete c.realFraction;
  return JSON.stringify(c);
}

/**
 * Makes `to` the run folder that the same experiment under `config` writes, from the finished
 * folder `from`: the same files, config.json naming `config` (timings.jsonl: those of `from`).
 * Built beside and renamed into place, so a cell folder is whole or absent.
 */
async function copyCell(from: string, to: string, config: ExperimentConfig): Promise<void> {
  const remote = await readFile(join(from, CELL_RESULT_FILE), 'utf8').catch(() => null);
  if (remote !== null) {
    // A cell run elsewhere (queue): its copy is the same result under this cell's name and config.
    await mkdir(to, { recursive: true });
    await writeFileAtomic(join(to, CELL_RESULT_FILE), JSON.stringify({ ...(JSON.parse(remote) as CellResult), name: basename(to), config }) + '\n');
    return;
  }
  const tmp = join(dirname(to), `.${basename(to)}.copy.tmp`);
  await rm(tmp, { recursive: true, force: true });
  await cp(from, tmp, { recursive: true });
  const meta = JSON.parse(await readFile(join(tmp, 'config.json'), 'utf8')) as Record<string, unknown>;
  meta.config = config;
  await writeFileAtomic(join(tmp, 'config.json'), JSON.stringify(meta, null, 2) + '\n');
  await rm(to, { recursive: true, force: true });
  await rename(tmp, to);
}

/** Writes sweep.json into a new (or empty) folder. */
export async function createSweep(dir: string, grid: Grid, cells: readonly CellSpec[], force = false): Promise<SweepFile> {
  let entries: string[] = [];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new CollapseError('E_BAD_ARGUMENT', `--out ${dir} exists and is not a folder`);
    entries = await readdir(dir);
  } catch (err) {
    if (err instanceof CollapseError) throw err;
  }
  if (entries.length > 0 && !force) {
    throw new CollapseError('E_BAD_ARGUMENT', `sweep folder ${dir} already exists and is not empty: choose another --out, continue it with --resume ${dir}, or pass --force to replace its cells`);
  }
  if (entries.length > 0) {
    // --force: only what a sweep writes is removed (its cells, summary, report), nothing else.
    const old = await loadSweep(dir).catch(() => null);
    if (!old) throw new CollapseError('E_BAD_ARGUMENT', `--force replaces a sweep folder only, and ${dir} holds no sweep.json: choose another --out`);
    for (const c of old.cells) await rm(join(dir, c.name), { recursive: true, force: true });
    for (const f of ['summary.csv', 'summary.jsonl', 'report.html', 'figures', 'queue.json']) await rm(join(dir, f), { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
  const file: SweepFile = {
    version: 1,
    collapseLab: pkgVersion,
    axes: grid.axes,
    seeds: grid.seeds,
    base: grid.base,
    cells: cells.map(({ index: _index, ...c }) => c),
  };
  await writeFileAtomic(join(dir, 'sweep.json'), JSON.stringify(file, null, 2) + '\n');
  return file;
}

export async function loadSweep(dir: string): Promise<SweepFile> {
  let text: string;
  try {
    text = await readFile(join(dir, 'sweep.json'), 'utf8');
  } catch {
    throw new CollapseError('E_BAD_ARGUMENT', `no sweep.json in ${dir}: is it a collapse-lab sweep folder?`);
  }
  let s: SweepFile;
  try {
    s = JSON.parse(text) as SweepFile;
  } catch {
    throw new CollapseError('E_BAD_CONFIG', `${dir}/sweep.json is not valid JSON`);
  }
  if (s.version !== 1 || !Array.isArray(s.cells) || !Array.isArray(s.axes)) throw new CollapseError('E_BAD_CONFIG', `${dir}/sweep.json is not a collapse-lab sweep`);
  return s;
}

/** The axis keys of the summary's group columns (swept flags, not the seed). */
export const groupKeys = (s: SweepFile): string[] => s.axes.map((a) => a.key);

/** summary.csv and summary.jsonl from the cells' results (in grid order). */
export async function writeSummary(dir: string, sweep: SweepFile, results: readonly CellResult[]): Promise<void> {
  const byName = new Map(results.map((r) => [r.name, r]));
  const cells = sweep.cells.filter((c) => byName.has(c.name)).map((c) => ({ group: c.group, values: c.values, records: byName.get(c.name)!.records }));
  const summary = summarize(cells);
  await writeFileAtomic(join(dir, 'summary.csv'), summaryCsv(groupKeys(sweep), summary));
  await writeFileAtomic(join(dir, 'summary.jsonl'), summaryJsonl(summary));
}

interface Executor {
  run(cell: SweepFile['cells'][number], onGeneration: () => void): Promise<CellResult>;
  stop(): void;
  close(): void;
}

/** Runs cells in this process (one job). */
function inProcess(dir: string, threads: number, signal: AbortSignal): Executor {
  return {
    run: (cell, onGeneration) =>
      runCell(join(dir, cell.name), cell.name, cell.config, {
        threads,
        signal,
        onProgress: (e) => {
          if (e.stage === 'done') onGeneration();
        },
      }),
    stop: () => undefined,
    close: () => undefined,
  };
}

/** Runs cells in a forked worker process (see worker.ts). */
function forked(dir: string, threads: number, workerPath: string): Executor {
  let child: ChildProcess | null = null;
  let pending: { name: string; resolve: (r: CellResult) => void; reject: (e: Error) => void; onGeneration: () => void } | null = null;
  const start = () => {
    const c = fork(workerPath, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    c.on('message', (m: { type: string; name: string; result?: CellResult; code?: string; message?: string }) => {
      if (!pending || m.name !== pending.name) return;
      if (m.type === 'progress') pending.onGeneration();
      else if (m.type === 'done') {
        const p = pending;
        pending = null;
        p.resolve(m.result!);
      } else if (m.type === 'error') {
        const p = pending;
        pending = null;
        p.reject(new CollapseError((m.code ?? 'E_INTERNAL') as 'E_INTERNAL', m.message ?? 'the cell failed'));
      }
    });
    c.on('exit', (code, sig) => {
      child = null;
      if (pending) {
        const p = pending;
        pending = null;
        p.reject(new CollapseError('E_INTERNAL', `the worker running ${p.name} exited (${sig ?? `code ${code}`})`));
      }
    });
    return c;
  };
  return {
    run: (cell, onGeneration) =>
      new Promise<CellResult>((resolve, reject) => {
        child ??= start();
        pending = { name: cell.name, resolve, reject, onGeneration };
        child.send({ type: 'run', dir: join(dir, cell.name), name: cell.name, config: cell.config, threads });
      }),
    stop: () => {
      if (child?.connected) child.send({ type: 'stop' });
    },
    close: () => {
      if (child?.connected) child.disconnect();
    },
  };
}

/**
 * Runs every unfinished cell of the sweep in `dir` and returns every cell's result (finished
 * before or now). On abort, the running cells stop at their next step (their folders resume later)
 * and E_ABORTED is thrown; a failing cell does not stop the others.
 */
export async function runSweep(dir: string, sweep: SweepFile, options: SweepRunOptions = {}): Promise<SweepOutcome> {
  const { jobs, threads } = defaultParallelism(
    sweep.cells.map((c) => c.config),
    options.jobs,
    options.threads,
  );
  const total = sweep.cells.length;
  // Cells whose configs differ only in a field their paradigms do not read (Replace at two values of
  // --rate) are the same experiment: the first in grid order runs, the others become copies of it.
  const primaryOf = new Map<string, SweepFile['cells'][number]>();
  const firstByKey = new Map<string, SweepFile['cells'][number]>();
  for (const c of sweep.cells) {
    const key = runKey(c.config);
    if (!firstByKey.has(key)) firstByKey.set(key, c);
    primaryOf.set(c.name, firstByKey.get(key)!);
  }
  const todo: SweepFile['cells'] = [];
  const copies: SweepFile['cells'] = [];
  for (const c of sweep.cells) {
    if ((await cellState(join(dir, c.name))) === 'done') continue;
    if (primaryOf.get(c.name) === c) todo.push(c);
    else copies.push(c);
  }
  let done = total - todo.length - copies.length;
  let running = 0;
  let failedCount = 0;
  const failed: SweepOutcome['failed'] = [];
  const emit = (e: SweepEvent) => options.onEvent?.(e);
  emit({ type: 'start', total, done, jobs, threads });

  const inner = new AbortController();
  const onAbort = () => inner.abort();
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted) inner.abort();
  const workerPath = options.workerPath ?? fileURLToPath(new URL('./worker.js', import.meta.url));
  const n = Math.max(1, Math.min(jobs, todo.length));
  const custom = options.runner;
  const executors: Executor[] = Array.from({ length: n }, () =>
    custom
      ? { run: (cell, onGeneration) => custom(cell, { signal: inner.signal, onGeneration }), stop: () => undefined, close: () => undefined }
      : jobs === 1 && !options.workerPath
        ? inProcess(dir, threads, inner.signal)
        : forked(dir, threads, workerPath),
  );
  inner.signal.addEventListener('abort', () => executors.forEach((x) => x.stop()));
  const durations: number[] = [];
  const fresh = new Map<string, CellResult>();
  let next = 0;
  const lane = async (x: Executor) => {
    while (next < todo.length && !inner.signal.aborted) {
      const cell = todo[next++]!;
      running++;
      emit({ type: 'cell-start', name: cell.name, total, done, running, left: todo.length - next + copies.length });
      const t0 = performance.now();
      const gens = cell.config.generations * cell.config.paradigms.length;
      let g = 0;
      try {
        fresh.set(cell.name, await x.run(cell, () => emit({ type: 'cell-generation', name: cell.name, generationsDone: ++g, generationsTotal: gens })));
        running--;
        done++;
        const ms = performance.now() - t0;
        durations.push(ms);
        const mean = durations.reduce((a, b) => a + b, 0) / durations.length;
        const left = todo.length - next + copies.length;
        // Copies take no time: the ETA counts the runs left.
        emit({ type: 'cell-done', name: cell.name, total, done, running, left, failed: failedCount, ms, etaMs: ((todo.length - next + running) * mean) / n });
      } catch (err) {
        running--;
        const e = err as Error & { code?: string };
        if (e.code === 'E_ABORTED' || inner.signal.aborted) continue;
        failedCount++;
        failed.push({ name: cell.name, code: e.code ?? 'E_INTERNAL', message: e.message.split('\n')[0] ?? String(err) });
        emit({ type: 'cell-error', name: cell.name, message: e.message, total, done, running, left: todo.length - next + copies.length, failed: failedCount });
      }
    }
  };
  try {
    await Promise.all(executors.map(lane));
  } finally {
    executors.forEach((x) => x.close());
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (inner.signal.aborted) throw new CollapseError('E_ABORTED', `the sweep was interrupted (${done}/${total} cells done); continue it with: collapse sweep --resume ${dir}`);

  for (let i = 0; i < copies.length; i++) {
    const c = copies[i]!;
    const primary = primaryOf.get(c.name)!;
    if (failed.some((f) => f.name === primary.name)) {
      failedCount++;
      failed.push({ name: c.name, code: failed.find((f) => f.name === primary.name)!.code, message: `the same run as ${primary.name}, which failed` });
      continue;
    }
    const t0 = performance.now();
    await copyCell(join(dir, primary.name), join(dir, c.name), c.config);
    done++;
    emit({ type: 'cell-done', name: c.name, total, done, running: 0, left: copies.length - i - 1, failed: failedCount, ms: performance.now() - t0, etaMs: 0 });
  }

  // Every finished cell's result in grid order (the same whatever the jobs): this session's as the
  // workers sent them, earlier ones read back from their folders.
  const results: CellResult[] = [];
  const failedNames = new Set(failed.map((f) => f.name));
  for (const c of sweep.cells) {
    if (failedNames.has(c.name)) continue;
    results.push(fresh.get(c.name) ?? (await readCellResult(join(dir, c.name), c.name)));
  }
  await writeSummary(dir, sweep, results);
  return { results, failed };
}
