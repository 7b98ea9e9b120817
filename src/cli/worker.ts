/**
 * `collapse worker --queue URL`: takes sweep cells from the queue and runs them until stopped
 * (Ctrl-C or SIGTERM: the running cells stop at their next step and go back to the queue; a second
 * signal exits at once, and the cells are picked up again once their lock runs out).
 */
import type { Command } from 'commander';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { CollapseError } from '../errors.js';
import { MAX_THREADS } from '../util/check.js';

interface WorkerFlags {
  queue: string;
  concurrency?: string;
  threads?: string;
  out?: string;
  lock?: string;
  quiet?: boolean;
}

const intIn = (flag: string, max: number) => (v: string) => {
  const x = Number(v);
  if (!/^\d+$/.test(v.trim()) || x < 1 || x > max) throw new CollapseError('E_BAD_ARGUMENT', `${flag} must be an integer in [1, ${max}], got "${v}"`);
  return x;
};

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('run sweep cells taken from a Redis queue (see `collapse sweep --queue`); run folders go under --out, results go back through the queue')
    .requiredOption('--queue <url>', 'redis://HOST:PORT[/DB] or rediss://…; a password in the URL or in COLLAPSE_REDIS_PASSWORD')
    .option('--concurrency <n>', 'cells run at once (default 1)')
    .option('--threads <n>', 'threads per cell (default: the cores over --concurrency; results do not depend on it)')
    .option('--out <root>', 'root of the run folders, <root>/<sweep id>/<cell>/ (default runs/worker); on a shared file system a cell whose worker died resumes where it stopped')
    .option('--lock <seconds>', 'seconds without a heartbeat before a running cell is given to another worker (default 30)')
    .option('--quiet', 'print nothing but errors')
    .option('--verbose', 'print stack traces on errors')
    .action(async (f: WorkerFlags) => {
      await workerCommand(f);
    });
}

async function workerCommand(f: WorkerFlags): Promise<void> {
  const { availableParallelism } = await import('node:os');
  const { parseQueueUrl } = await import('../queue/url.js');
  const { startQueueWorker } = await import('../queue/worker.js');
  const concurrency = f.concurrency === undefined ? 1 : intIn('--concurrency', MAX_THREADS)(f.concurrency);
  const threads = f.threads === undefined ? Math.max(1, Math.floor(availableParallelism() / concurrency)) : intIn('--threads', MAX_THREADS)(f.threads);
  let lockMs: number | undefined;
  if (f.lock !== undefined) {
    const s = Number(f.lock);
    if (!Number.isFinite(s) || s < 1 || s > 86400) throw new CollapseError('E_BAD_ARGUMENT', `--lock must be a number of seconds in [1, 86400], got "${f.lock}"`);
    lockMs = Math.round(s * 1000);
  }
  const address = parseQueueUrl(f.queue);
  const root = resolve(f.out ?? 'runs/worker');
  const log = (s: string) => {
    if (!f.quiet) process.stderr.write(s + '\n');
  };
  const worker = await startQueueWorker(address, {
    concurrency,
    threads,
    root,
    ...(lockMs ? { lockMs } : {}),
    onEvent: (e) => {
      if (e.type === 'cell-start') log(`cell ${e.sweep}/${e.name} ${{ fresh: 'started', partial: 'resumed', done: 'collected' }[e.from]} in ${e.folder}`);
      else if (e.type === 'cell-done') log(`cell ${e.sweep}/${e.name} done (${(e.ms / 1000).toFixed(1)} s)`);
      else if (e.type === 'cell-stopped') log(`cell ${e.sweep}/${e.name} stopped; back in the queue`);
      else process.stderr.write(`collapse: cell ${e.sweep}/${e.name} failed: ${e.message}\n`);
    },
  });
  log(`collapse: worker on ${hostname()} taking cells from ${address.display} (${concurrency} at once, ${threads} thread${threads > 1 ? 's' : ''} each; run folders under ${root}/)`);
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) process.exit(130);
    log('stopping: running cells go back to the queue (again to exit at once)');
    void worker.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await worker.closed;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  log('worker stopped');
  // Connections to a Redis that went away keep reconnecting in the background: once stopped, the
  // worker exits even so (the timer itself keeps nothing alive).
  setTimeout(() => process.exit(process.exitCode ?? 0), 2000).unref();
}
