/**
 * A queue worker: takes cell jobs from the sweep queue and runs each as an ordinary run folder
 * <root>/<sweep id>/<cell name>/ (runCell: a partial folder, left by a worker that died, resumes).
 * The cell's result goes back as the job's return value.
 *
 * Faults: a worker that dies stops renewing its job's lock; another worker's stalled-job check puts
 * the job back after `lockMs`, and whoever takes it resumes the folder if it can reach it (a shared
 * file system) or starts over. A cell that fails (a config or corpus error) fails once: jobs have one
 * attempt, and the error is the job's failure reason "<CODE>: <message>".
 */
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { CollapseError } from '../errors.js';
import { cellState, runCell, type CellState } from '../sweep/cell.js';
import { bullConnection, collapseVersion, probe, QUEUE_NAME } from './connect.js';
import type { CellJob, CellJobResult } from './jobs.js';
import type { QueueAddress } from './url.js';

/** Longest a worker's stop waits for a graceful close. */
const CLOSE_MS = 10_000;

export interface QueueWorkerOptions {
  /** Cells run at once (default 1). */
  concurrency?: number;
  /** Threads per cell (default 1). Results do not depend on it. */
  threads?: number;
  /** Root of the run folders (default runs/worker). */
  root?: string;
  /** A job whose lock is not renewed for this long is given to another worker (default 30 s). */
  lockMs?: number;
  /** How often this worker checks for such jobs (default lockMs / 2). */
  stalledIntervalMs?: number;
  /** Times a cell may be picked up again after its worker died, before it fails (default 3). */
  maxStalled?: number;
  onEvent?: (e: QueueWorkerEvent) => void;
}

export type QueueWorkerEvent =
  /** from: the run folder's state when taken (partial: a resume; done: only its result is read). */
  | { type: 'cell-start'; sweep: string; name: string; folder: string; from: CellState }
  | { type: 'cell-done'; sweep: string; name: string; ms: number }
  | { type: 'cell-error'; sweep: string; name: string; message: string }
  | { type: 'cell-stopped'; sweep: string; name: string };

export interface QueueWorker {
  /** Stops taking jobs; running cells stop at their next step and go back to the queue. */
  stop(): Promise<void>;
  /** Resolves when the worker has stopped. */
  closed: Promise<void>;
}

/** Connects (failing fast when Redis cannot be used) and starts taking jobs. */
export async function startQueueWorker(address: QueueAddress, options: QueueWorkerOptions = {}): Promise<QueueWorker> {
  await probe(address);
  const root = resolve(options.root ?? 'runs/worker');
  const threads = options.threads ?? 1;
  const lockMs = options.lockMs ?? 30_000;
  const emit = (e: QueueWorkerEvent) => options.onEvent?.(e);
  const stopping = new AbortController();

  const processor = async (job: Job<CellJob, CellJobResult>, token?: string): Promise<CellJobResult> => {
    const d = job.data;
    if (d?.v !== 1 || !d.cell || typeof d.sweep !== 'string') throw new UnrecoverableError(`E_QUEUE: job ${job.id} is not a collapse-lab cell job`);
    if (d.collapseLab !== collapseVersion) {
      const message = `E_QUEUE: cell ${d.cell.name} was queued by collapse-lab ${d.collapseLab} and this worker (${hostname()}) runs ${collapseVersion}: run workers of the coordinator's version`;
      emit({ type: 'cell-error', sweep: d.sweep, name: d.cell.name, message });
      throw new UnrecoverableError(message);
    }
    const folder = join(root, d.sweep, d.cell.name);
    emit({ type: 'cell-start', sweep: d.sweep, name: d.cell.name, folder, from: await cellState(folder) });
    const t0 = performance.now();
    let g = 0;
    try {
      const result = await runCell(folder, d.cell.name, d.cell.config, {
        threads,
        signal: stopping.signal,
        onProgress: (e) => {
          if (e.stage === 'done') void job.updateProgress({ generationsDone: ++g }).catch(() => undefined);
        },
      });
      emit({ type: 'cell-done', sweep: d.sweep, name: d.cell.name, ms: performance.now() - t0 });
      return { result, host: hostname(), folder };
    } catch (err) {
      const e = err as Error & { code?: string };
      if (stopping.signal.aborted && (e.code === 'E_ABORTED' || err instanceof CollapseError)) {
        // Stopped on purpose: back to the queue at once (not a failed attempt); its folder resumes.
        emit({ type: 'cell-stopped', sweep: d.sweep, name: d.cell.name });
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      const message = `${e.code ?? 'E_INTERNAL'}: ${(e.message ?? String(err)).split('\n')[0]}`;
      emit({ type: 'cell-error', sweep: d.sweep, name: d.cell.name, message });
      throw new UnrecoverableError(message);
    }
  };

  const worker = new Worker<CellJob, CellJobResult>(QUEUE_NAME, processor, {
    connection: bullConnection(address),
    concurrency: options.concurrency ?? 1,
    lockDuration: lockMs,
    stalledInterval: options.stalledIntervalMs ?? Math.max(500, Math.floor(lockMs / 2)),
    maxStalledCount: options.maxStalled ?? 3,
  });
  worker.on('error', () => undefined);
  let closing: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  await worker.waitUntilReady();
  return {
    stop: () => {
      closing ??= (async () => {
        stopping.abort();
        // A graceful close needs Redis (the cells go back to the queue); with Redis gone it would
        // wait for ever, so it is bounded: after that the worker closes at once and its cells come
        // back through the stalled-job check like a dead worker's.
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), CLOSE_MS)));
        if ((await Promise.race([worker.close(), late])) === 'late') await Promise.race([worker.close(true), new Promise((r) => setTimeout(r, 1000).unref())]);
        clearTimeout(timer);
        resolveClosed();
      })();
      return closing;
    },
    closed,
  };
}
