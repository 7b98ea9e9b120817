/** `collapse sweep --queue`: the glue between the sweep command and src/queue. */
import { CollapseError } from '../errors.js';
import type { CellRunner, SweepFile } from '../sweep/run.js';
// Only what a local sweep needs is loaded up front: BullMQ and ioredis come in with a queue.
import { readQueueFile } from '../queue/file.js';
import { parseQueueUrl, type QueueAddress } from '../queue/url.js';

/** --jobs / --threads given: they are the workers' business in a queue sweep. */
export interface LocalFlags {
  jobs: boolean;
  threads: boolean;
}

function refuseLocal(local: LocalFlags): void {
  const given = [local.jobs ? '--jobs' : '', local.threads ? '--threads' : ''].filter(Boolean);
  if (given.length) throw new CollapseError('E_BAD_ARGUMENT', `${given.join(' and ')} appl${given.length > 1 ? 'y' : 'ies'} to local sweeps: through the queue, give the workers --concurrency and --threads`);
}

/** Parses --queue and checks that Redis answers (before any sweep folder is made). */
export async function queueAddress(url: string, local: LocalFlags = { jobs: false, threads: false }): Promise<QueueAddress> {
  refuseLocal(local);
  const a = parseQueueUrl(url);
  const { probe } = await import('../queue/connect.js');
  await probe(a);
  return a;
}

export interface QueueSweep {
  id: string;
  display: string;
  runner: CellRunner;
  close(): Promise<void>;
}

/**
 * The queue a sweep runs through: --queue's, or for a resumed queue sweep the one in its
 * queue.json (its password, which is never stored, from the environment); null for a local sweep.
 */
export async function attach(dir: string, sweep: SweepFile, given: QueueAddress | null, local: LocalFlags = { jobs: false, threads: false }): Promise<QueueSweep | null> {
  const qf = await readQueueFile(dir);
  let address = given;
  if (!address && qf) {
    refuseLocal(local);
    if (qf.queue.includes(':***@')) throw new CollapseError('E_BAD_ARGUMENT', `${dir} is a queue sweep on ${qf.queue}: give its URL with --queue (or the password in COLLAPSE_REDIS_PASSWORD)`);
    address = await queueAddress(qf.queue);
  }
  if (!address) return null;
  const { attachQueue } = await import('../queue/coordinator.js');
  const c = await attachQueue(dir, sweep, address);
  return { id: c.id, display: address.display, runner: c.runner, close: c.close };
}
