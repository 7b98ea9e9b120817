/**
 * The coordinator side of a queue sweep: a CellRunner for runSweep that adds the cell's job (or
 * finds it already there) and follows it to its end. The finished cell's result is kept in the sweep
 * folder as <sweep>/<cell>/result.json, which is what makes the cell finished for a later --resume,
 * for the summary and for the report; the job is then removed from Redis.
 *
 * queue.json in the sweep folder names the sweep's id and the queue (URL without its password), so
 * `collapse sweep --resume DIR` re-attaches to the same jobs.
 */
import { Queue, QueueEvents, type Job } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { CollapseError, type ErrorCode } from '../errors.js';
import { CELL_RESULT_FILE, cellState, type CellResult } from '../sweep/cell.js';
import type { CellRunner, SweepFile } from '../sweep/run.js';
import { writeFileAtomic } from '../util/fs.js';
import { bullConnection, collapseVersion, probe, QUEUE_NAME } from './connect.js';
import { jobId, type CellJob, type CellJobProgress, type CellJobResult } from './jobs.js';
import { QUEUE_FILE, readQueueFile, type QueueFile } from './file.js';
import { scrub, type QueueAddress } from './url.js';

export interface Coordinator {
  id: string;
  runner: CellRunner;
  close(): Promise<void>;
}

export interface CoordinatorOptions {
  /** Backstop poll of each followed job's state, besides Redis's events (default max(2 s, 20 ms × cells)). */
  pollMs?: number;
}

const ERROR_CODES = new Set<string>(['E_BAD_ARGUMENT', 'E_TOKEN_RANGE', 'E_OFFSETS', 'E_CORPUS_EMPTY', 'E_NOT_FITTED', 'E_BAD_MODEL_FILE', 'E_BAD_CORPUS', 'E_BAD_CONFIG', 'E_NATIVE_LOAD', 'E_ABORTED', 'E_IO', 'E_QUEUE', 'E_INTERNAL']);

/** A worker's failure reason "<CODE>: message" as a CollapseError. */
function failure(reason: string | undefined, name: string): CollapseError {
  const m = /^(E_[A-Z_]+): (.*)$/s.exec(reason ?? '');
  if (m && ERROR_CODES.has(m[1]!)) return new CollapseError(m[1] as ErrorCode, m[2]!);
  return new CollapseError('E_INTERNAL', `cell ${name} failed in the queue: ${reason ?? 'no reason given'}`);
}

/**
 * Connects to the queue (failing fast), writes or reads queue.json, and checks that no job this
 * sweep would add is already in the queue for another sweep or another collapse-lab version — before
 * anything is added.
 */
export async function attachQueue(dir: string, sweep: SweepFile, address: QueueAddress, options: CoordinatorOptions = {}): Promise<Coordinator> {
  await probe(address);
  let qf = await readQueueFile(dir);
  if (!qf) {
    const stem = basename(resolve(dir)).replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 40);
    qf = { version: 1, id: `${stem}-${randomBytes(4).toString('hex')}`, queue: address.display };
    await writeFileAtomic(join(dir, QUEUE_FILE), JSON.stringify(qf, null, 2) + '\n');
  }
  const id = qf.id;
  const connection = bullConnection(address);
  const queue = new Queue<CellJob, CellJobResult>(QUEUE_NAME, { connection });
  const events = new QueueEvents(QUEUE_NAME, { connection });
  queue.on('error', () => undefined);
  events.on('error', () => undefined);
  const close = async () => {
    await Promise.allSettled([events.close(), queue.close()]);
  };
  // Events do the work; the poll is a backstop, spread out for large sweeps.
  const pollMs = options.pollMs ?? Math.max(2000, 20 * sweep.cells.length);
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    // Jobs already there (a re-attached coordinator): they must be this sweep's, of this version.
    const stale = new Set<string>();
    for (const c of sweep.cells) {
      const job = await queue.getJob(jobId(id, c.name));
      if ((await cellState(join(dir, c.name))) === 'done') {
        // Kept here already (a coordinator stopped before it removed the job): tidy up.
        if (job && job.data?.sweep === id && (await job.getState()) === 'completed') await job.remove().catch(() => undefined);
        continue;
      }
      if (!job) continue;
      const d = job.data;
      if (d?.collapseLab !== collapseVersion) {
        throw new CollapseError('E_QUEUE', `the queue at ${address.display} holds job ${job.id} from collapse-lab ${d?.collapseLab ?? '?'} (this is ${collapseVersion}): finish or remove it with that version, or use another Redis database`);
      }
      if (d.sweep !== id || JSON.stringify(d.cell?.config) !== JSON.stringify(c.config)) {
        throw new CollapseError('E_QUEUE', `the queue at ${address.display} holds job ${job.id} of another sweep (its cell differs from ${dir}/sweep.json): remove it, or use another Redis database`);
      }
      if ((await job.getState()) === 'failed') stale.add(c.name);
    }

    interface Follow {
      onEvent: () => void;
      onProgress: (p: CellJobProgress) => void;
    }
    const follows = new Map<string, Follow>();
    const wake = ({ jobId: jid }: { jobId: string }) => follows.get(jid)?.onEvent();
    events.on('completed', wake);
    events.on('failed', wake);
    events.on('progress', ({ jobId: jid, data }) => follows.get(jid)?.onProgress(data as CellJobProgress));

    const runner: CellRunner = async (cell, { signal, onGeneration }) => {
      const jid = jobId(id, cell.name);
      let seen = 0;
      let kick: () => void = () => undefined;
      let poked = false;
      follows.set(jid, {
        onEvent: () => {
          poked = true;
          kick();
        },
        onProgress: (p) => {
          while (seen < (p?.generationsDone ?? 0)) {
            seen++;
            onGeneration();
          }
        },
      });
      try {
        let job: Job<CellJob, CellJobResult> | undefined = await queue.getJob(jid);
        if (job && stale.has(cell.name)) {
          // Failed in an earlier session: this --resume tries it once more.
          stale.delete(cell.name);
          await job.retry('failed');
        }
        // Adding an id already in the queue returns that job: nothing is added twice.
        job ??= await queue.add(cell.name, { v: 1, collapseLab: collapseVersion, sweep: id, cell }, { jobId: jid, attempts: 1, removeOnComplete: false, removeOnFail: false });
        for (;;) {
          if (signal.aborted) throw new CollapseError('E_ABORTED', 'the sweep was interrupted');
          poked = false;
          const fresh = await queue.getJob(jid);
          if (!fresh) throw new CollapseError('E_QUEUE', `job ${jid} was removed from the queue at ${address.display} before it finished; continue with --resume to add it again`);
          const state = await fresh.getState();
          if (state === 'completed') {
            const out = fresh.returnvalue;
            if (!out?.result || out.result.name !== cell.name) throw new CollapseError('E_QUEUE', `job ${jid} finished without the result of cell ${cell.name}`);
            const result: CellResult = out.result;
            await mkdir(join(dir, cell.name), { recursive: true });
            await writeFileAtomic(join(dir, cell.name, CELL_RESULT_FILE), JSON.stringify(result) + '\n');
            await fresh.remove().catch(() => undefined);
            return result;
          }
          if (state === 'failed') {
            const err = failure(fresh.failedReason, cell.name);
            await fresh.remove().catch(() => undefined);
            throw err;
          }
          if (poked) continue;
          // Wait for an event about this job, the poll interval, or the abort.
          await new Promise<void>((res) => {
            const t = setTimeout(done, pollMs);
            function done() {
              clearTimeout(t);
              signal.removeEventListener('abort', done);
              kick = () => undefined;
              res();
            }
            kick = done;
            signal.addEventListener('abort', done);
          });
        }
      } catch (err) {
        if (err instanceof CollapseError) throw err;
        throw new CollapseError('E_QUEUE', `following cell ${cell.name} in the queue at ${address.display}: ${scrub((err as Error).message ?? String(err), address)}`);
      } finally {
        follows.delete(jid);
      }
    };
    return { id, runner, close };
  } catch (err) {
    await close();
    if (err instanceof CollapseError) throw err;
    throw new CollapseError('E_QUEUE', `the queue at ${address.display}: ${scrub((err as Error).message ?? String(err), address)}`);
  }
}
