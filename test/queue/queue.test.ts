/**
 * Sweeps through a real Redis (redis-server started by the test, 127.0.0.1, a free port): two
 * worker processes give the same summary, byte for byte, as a local sweep; a worker SIGKILLed
 * mid-cell has its cell picked up again and the sweep ends the same; a killed coordinator re-attaches
 * with --resume without any cell running twice; and the error cases are one line each. The password
 * of the Redis under test never shows in any output or in the sweep folder.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Queue } from 'bullmq';
import { CLI, ROOT, listFiles, readProgress, removeDir, requireBuiltCli, runCli, sentences, tempDir, writeLines } from '../experiment/helpers.js';
import { startRedis, unusedPort, type TestRedis } from './redis.js';

const PASSWORD = 'pw-Zq81-secret';
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
let root: string;
let corpus: string;
let redis: TestRedis;
let open: TestRedis;
const procs = new Set<ChildProcess>();

interface Proc {
  child: ChildProcess;
  out: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function collapse(args: readonly string[], env: Record<string, string> = {}): Proc {
  const e = { ...process.env, ...env };
  delete e.FORCE_COLOR;
  const child = spawn(process.execPath, [CLI, ...args], { cwd: root, env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.add(child);
  let text = '';
  child.stdout!.on('data', (b: Buffer) => (text += b.toString('utf8')));
  child.stderr!.on('data', (b: Buffer) => (text += b.toString('utf8')));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('close', (code, signal) => {
      procs.delete(child);
      resolve({ code, signal });
    }),
  );
  return { child, out: () => text, exit };
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(t);
  }
}

/** Stops a worker with SIGTERM (its running cells go back to the queue) and waits for it. */
async function stopWorker(p: Proc): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  await within(p.exit, 60_000, 'worker stop');
}

const grid = (out: string, generations = 3) => [
  'sweep', '--corpus', `text:${corpus}`, '--generations', String(generations), '--paradigm', 'accumulate-subsample,replace', '--rate', '0.3,0.6',
  '--seeds', '1-2', '--out', out, '--no-report',
];
/** Cells that run (replace at two rates is one experiment: the second is a copy). */
const RUN_CELLS = 6;

const refs = new Map<number, string>();
async function reference(generations: number): Promise<string> {
  const have = refs.get(generations);
  if (have) return have;
  const ref = path.join(root, `ref-${generations}`);
  const r = await runCli([...grid(ref, generations), '--jobs', '1', '--threads', '1', '--quiet'], { timeoutMs: 180_000 });
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  refs.set(generations, ref);
  return ref;
}

function expectSameSummary(dir: string, ref: string): void {
  for (const f of ['summary.csv', 'summary.jsonl']) {
    const a = readFileSync(path.join(ref, f));
    const b = readFileSync(path.join(dir, f));
    if (!a.equals(b)) expect(`${f}:\n${b.toString('utf8')}`).toBe(`${f}:\n${a.toString('utf8')}`);
  }
  // Each cell's records are the local run's metrics.jsonl, record for record.
  const sweep = JSON.parse(readFileSync(path.join(dir, 'sweep.json'), 'utf8')) as { cells: { name: string }[] };
  for (const c of sweep.cells) {
    const result = JSON.parse(readFileSync(path.join(dir, c.name, 'result.json'), 'utf8')) as { records: unknown[]; name: string };
    const local = readFileSync(path.join(ref, c.name, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
    expect({ name: result.name, records: result.records }).toEqual({ name: c.name, records: local });
  }
}

/** "cell <sweep>/<name> started|resumed|collected" lines of worker logs, by cell. */
function starts(...logs: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const log of logs) for (const x of log.matchAll(/^cell [^/\s]+\/(\S+) (?:started|resumed|collected) in /gm)) m.set(x[1]!, (m.get(x[1]!) ?? 0) + 1);
  return m;
}

function folderText(dir: string): string {
  return listFiles(dir, { includeTimings: true, includeHidden: true })
    .map((f) => readFileSync(path.join(dir, f), 'utf8'))
    .join('\n');
}

beforeAll(async () => {
  requireBuiltCli();
  root = tempDir('queue');
  corpus = writeLines(path.join(root, 'corpus.txt'), sentences(17, 400, { vocab: 30, minLen: 2, maxLen: 9 }));
  redis = await startRedis({ password: PASSWORD });
  open = await startRedis();
}, 60_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await Promise.all([redis?.stop(), open?.stop()]);
  removeDir(root);
}, 60_000);

test('two worker processes: summary.csv and summary.jsonl byte-identical to a local sweep; the password shows nowhere', async () => {
  const ref = await reference(3);
  const url = `redis://:${PASSWORD}@127.0.0.1:${redis.port}`;
  const w1 = collapse(['worker', '--queue', url, '--out', path.join(root, 'w-two'), '--threads', '1']);
  const w2 = collapse(['worker', '--queue', `redis://127.0.0.1:${redis.port}`, '--out', path.join(root, 'w-two'), '--threads', '1'], { COLLAPSE_REDIS_PASSWORD: PASSWORD });
  const dir = path.join(root, 'two');
  const sweep = collapse([...grid(dir), '--queue', url]);
  const { code } = await within(sweep.exit, 180_000, 'queue sweep');
  expect({ code, out: code ? sweep.out() : '' }).toEqual({ code: 0, out: '' });
  expect(sweep.out()).toContain(`through the queue at redis://127.0.0.1:${redis.port}`);
  expectSameSummary(dir, ref);
  // Every cell that runs ran once, on one of the two workers.
  await stopWorker(w1);
  await stopWorker(w2);
  const ran = starts(w1.out(), w2.out());
  expect([...ran.values()]).toEqual(Array(RUN_CELLS).fill(1));
  // Nothing printed or stored holds the password.
  for (const text of [sweep.out(), w1.out(), w2.out(), folderText(dir)]) expect(text).not.toContain(PASSWORD);
  expect(JSON.parse(readFileSync(path.join(dir, 'queue.json'), 'utf8'))).toMatchObject({ version: 1, queue: `redis://127.0.0.1:${redis.port}` });
  // The jobs are gone from Redis once their results are in the sweep folder.
  const q = new Queue('collapse-lab', { connection: { host: '127.0.0.1', port: redis.port, password: PASSWORD } });
  try {
    const counts = await q.getJobCounts('wait', 'active', 'completed', 'failed', 'delayed');
    expect(counts).toEqual({ wait: 0, active: 0, completed: 0, failed: 0, delayed: 0 });
  } finally {
    await q.close();
  }
}, 300_000);

test('a worker SIGKILLed mid-cell: the cell is picked up again by another worker, resumes from its folder, and the sweep ends identical', async () => {
  const ref = await reference(8);
  const url = open.url;
  const out = path.join(root, 'w-kill');
  const dir = path.join(root, 'kill');
  const w1 = collapse(['worker', '--queue', url, '--out', out, '--threads', '1', '--lock', '2']);
  const sweep = collapse([...grid(dir, 8), '--queue', url]);
  // Wait until w1 is inside a cell: its run folder has finished a generation but not the cell.
  let victim = '';
  await until('a partial cell on the first worker', () => {
    if (!existsSync(out)) return false;
    for (const s of readdirSync(out)) {
      for (const c of readdirSync(path.join(out, s))) {
        const p = readProgress(path.join(out, s, c));
        if (p && !p.complete && Object.values(p.finished).some((n) => n >= 1)) {
          victim = c;
          return true;
        }
      }
    }
    return false;
  });
  w1.child.kill('SIGKILL');
  await within(w1.exit, 30_000, 'killed worker');
  // A second worker on the same --out root (a shared file system) takes the stalled cell.
  const w2 = collapse(['worker', '--queue', url, '--out', out, '--threads', '1', '--lock', '2']);
  const { code } = await within(sweep.exit, 240_000, 'queue sweep after the kill');
  expect({ code, out: code ? sweep.out() : '' }).toEqual({ code: 0, out: '' });
  expectSameSummary(dir, ref);
  await stopWorker(w2);
  // w2 took the victim's partial folder over (resumed; or, had w1 finished the folder just before
  // the kill, only read its result back).
  expect(w2.out()).toMatch(new RegExp(`^cell \\S+/${victim.replace(/\./g, '\\.')} (resumed|collected) in `, 'm'));
  // Every cell finished exactly once between them: the victim started on both, the rest once.
  const ran = starts(w1.out(), w2.out());
  expect(ran.get(victim)).toBe(2);
  expect([...ran.entries()].filter(([n]) => n !== victim).map(([, k]) => k)).toEqual(Array(RUN_CELLS - 1).fill(1));
}, 300_000);

test('the coordinator killed and re-attached with --resume DIR: no cell runs twice, same summary', async () => {
  const ref = await reference(8);
  const url = open.url;
  const out = path.join(root, 'w-coord');
  const dir = path.join(root, 'coord');
  const w = collapse(['worker', '--queue', url, '--out', out, '--threads', '1']);
  const first = collapse([...grid(dir, 8), '--queue', url]);
  await until('a first finished cell', () => existsSync(dir) && readdirSync(dir).some((c) => existsSync(path.join(dir, c, 'result.json'))));
  first.child.kill('SIGKILL');
  await within(first.exit, 30_000, 'killed coordinator');
  // The worker goes on with the queued cells meanwhile; the re-attached coordinator (queue from
  // queue.json) collects them.
  const again = collapse(['sweep', '--resume', dir, '--no-report']);
  const { code } = await within(again.exit, 240_000, 're-attached sweep');
  expect({ code, out: code ? again.out() : '' }).toEqual({ code: 0, out: '' });
  expect(again.out()).toMatch(/already done/);
  expectSameSummary(dir, ref);
  await stopWorker(w);
  expect([...starts(w.out()).values()]).toEqual(Array(RUN_CELLS).fill(1));
}, 300_000);

describe('errors: one line each, nothing enqueued twice', () => {
  const oneLine = (s: string) => s.trim().split('\n');

  test('Redis unreachable: exit 1 at once, no sweep folder made', async () => {
    const port = await unusedPort();
    const dir = path.join(root, 'unreachable');
    const r = await runCli([...grid(dir), '--queue', `redis://127.0.0.1:${port}`], { timeoutMs: 60_000, cwd: root });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toEqual([`collapse: error: cannot reach Redis at redis://127.0.0.1:${port}: connection refused (is redis-server running there?)`]);
    expect(existsSync(dir)).toBe(false);
    const w = await runCli(['worker', '--queue', `redis://127.0.0.1:${port}`], { timeoutMs: 60_000, cwd: root });
    expect({ code: w.code, err: oneLine(w.stderr) }).toEqual({ code: 1, err: [`collapse: error: cannot reach Redis at redis://127.0.0.1:${port}: connection refused (is redis-server running there?)`] });
  });

  test('--jobs or --threads with --queue: exit 2 (the workers decide), nothing made', async () => {
    const dir = path.join(root, 'jobs');
    const r = await runCli([...grid(dir), '--queue', open.url, '--jobs', '2', '--threads', '1'], { timeoutMs: 60_000, cwd: root });
    expect({ code: r.code, err: oneLine(r.stderr) }).toEqual({ code: 2, err: ['collapse: error: --jobs and --threads apply to local sweeps: through the queue, give the workers --concurrency and --threads'] });
    expect(existsSync(dir)).toBe(false);
  });

  test('no password, wrong password: exit 2, and the wrong password is not echoed', async () => {
    const none = await runCli(['worker', '--queue', redis.url], { timeoutMs: 60_000, cwd: root });
    expect({ code: none.code, err: oneLine(none.stderr) }).toEqual({
      code: 2,
      err: [`collapse: error: Redis at ${redis.url} asks for a password: give it in the URL (redis://:PASSWORD@HOST:PORT) or in COLLAPSE_REDIS_PASSWORD`],
    });
    const dir = path.join(root, 'wrongpw');
    const wrong = await runCli([...grid(dir), '--queue', `redis://:not-${PASSWORD}@127.0.0.1:${redis.port}`], { timeoutMs: 60_000, cwd: root });
    expect({ code: wrong.code, err: oneLine(wrong.stderr) }).toEqual({ code: 2, err: [`collapse: error: Redis at ${redis.url} refused the password: check the URL or COLLAPSE_REDIS_PASSWORD`] });
    expect(wrong.stdout + wrong.stderr).not.toContain(PASSWORD);
    expect(existsSync(dir)).toBe(false);
  });

  test('a queue holding this sweep\'s job from another version or another sweep: exit 1, nothing added; a worker of another version fails the job once', async () => {
    // A coordinator enqueues the cells (no worker is running) and is killed.
    const dir = path.join(root, 'foreign');
    const first = collapse([...grid(dir), '--queue', open.url]);
    const q = new Queue('collapse-lab', { connection: { host: '127.0.0.1', port: open.port } });
    try {
      await until('the cells in the queue', async () => (await q.getJobCounts('wait')).wait === RUN_CELLS);
      first.child.kill('SIGKILL');
      await within(first.exit, 30_000, 'killed coordinator');
      const jobs = await q.getJobs(['wait']);
      const job = jobs.find((j) => j.name.startsWith('paradigm-accumulate-subsample_rate-0.3_seed-1'))!;
      const data = job.data as { collapseLab: string; cell: { config: Record<string, unknown> } };

      await job.updateData({ ...data, collapseLab: '0.0.0-other' });
      const v = await runCli(['sweep', '--resume', dir, '--no-report'], { timeoutMs: 60_000, cwd: root });
      expect({ code: v.code, err: oneLine(v.stderr) }).toEqual({
        code: 1,
        err: [`collapse: error: the queue at ${open.url} holds job ${job.id} from collapse-lab 0.0.0-other (this is ${VERSION}): finish or remove it with that version, or use another Redis database`],
      });
      expect((await q.getJobCounts('wait')).wait).toBe(RUN_CELLS);

      await job.updateData({ ...data, cell: { ...(data as { cell: object }).cell, config: { ...data.cell.config, seed: 99 } } });
      const s = await runCli(['sweep', '--resume', dir, '--no-report'], { timeoutMs: 60_000, cwd: root });
      expect({ code: s.code, err: oneLine(s.stderr) }).toEqual({
        code: 1,
        err: [`collapse: error: the queue at ${open.url} holds job ${job.id} of another sweep (its cell differs from ${dir}/sweep.json): remove it, or use another Redis database`],
      });
      expect((await q.getJobCounts('wait')).wait).toBe(RUN_CELLS);

      // A worker takes a job queued by another version: it fails once with that line.
      await job.updateData({ ...data, collapseLab: '0.0.0-other' });
      for (const j of jobs) if (j.id !== job.id) await j.remove();
      const w = collapse(['worker', '--queue', open.url, '--out', path.join(root, 'w-foreign')]);
      await until('the foreign job failed', async () => (await q.getJobCounts('failed')).failed === 1, 60_000);
      await stopWorker(w);
      const failed = (await q.getJobs(['failed']))[0]!;
      expect(failed.attemptsMade).toBe(1);
      expect(failed.failedReason).toMatch(/^E_QUEUE: cell paradigm-accumulate-subsample_rate-0\.3_seed-1 was queued by collapse-lab 0\.0\.0-other and this worker \(.+\) runs .+: run workers of the coordinator's version$/);
      expect(w.out()).toContain(`collapse: cell ${failed.data.sweep}/paradigm-accumulate-subsample_rate-0.3_seed-1 failed: E_QUEUE: `);
    } finally {
      await q.obliterate({ force: true });
      await q.close();
    }
  });

  test('a cell failing for a reason in its config fails once, shown by the coordinator (exit 2)', async () => {
    const bad = writeLines(path.join(root, 'gone.txt'), sentences(3, 50));
    const dir = path.join(root, 'badcell');
    // The corpus is there when the sweep is made (configs resolve) and gone when the worker runs it.
    const sweep = collapse(['sweep', '--corpus', `text:${bad}`, '--generations', '2', '--paradigm', 'replace', '--out', dir, '--no-report', '--queue', open.url]);
    const q = new Queue('collapse-lab', { connection: { host: '127.0.0.1', port: open.port } });
    try {
      await until('the cell in the queue', async () => (await q.getJobCounts('wait')).wait === 1);
      removeDir(bad);
      const w = collapse(['worker', '--queue', open.url, '--out', path.join(root, 'w-bad')]);
      const { code } = await within(sweep.exit, 60_000, 'failing sweep');
      await stopWorker(w);
      expect(code).toBe(2);
      const lines = sweep.out().split('\n').filter((l) => l.startsWith('collapse: ') || l.startsWith('cell '));
      expect(lines.filter((l) => l.includes('failed')).length).toBe(2);
      expect(sweep.out()).toMatch(/cell seed-1 failed: .*gone\.txt/);
      expect(sweep.out()).toContain(`1 of 1 cells failed (see above); fix and continue with: collapse sweep --resume ${dir}`);
      expect([...starts(w.out()).values()]).toEqual([1]);
      // The failed job is removed: a --resume after the fix adds it again.
      expect(await q.getJobCounts('wait', 'active', 'failed')).toEqual({ wait: 0, active: 0, failed: 0 });
    } finally {
      await q.close();
    }
  });
});

test('Ctrl-C on a worker mid-cell: its cell goes straight back to the queue (no wait for the lock) and another worker resumes it', async () => {
  const ref = await reference(8);
  const url = open.url;
  const out = path.join(root, 'w-int');
  const dir = path.join(root, 'int');
  // A lock far longer than the test's bound: only the worker putting the cell back lets it finish.
  const w1 = collapse(['worker', '--queue', url, '--out', out, '--threads', '1', '--lock', '3600']);
  const sweep = collapse([...grid(dir, 8), '--queue', url]);
  await until('a partial cell on the first worker', () => {
    if (!existsSync(out)) return false;
    return readdirSync(out).some((s) => readdirSync(path.join(out, s)).some((c) => {
      const p = readProgress(path.join(out, s, c));
      return p !== null && !p.complete && Object.values(p.finished).some((k) => k >= 1);
    }));
  });
  w1.child.kill('SIGINT');
  const e1 = await within(w1.exit, 60_000, 'worker after SIGINT');
  expect(e1.code).toBe(0);
  const stopped = /^cell \S+\/(\S+) stopped; back in the queue$/m.exec(w1.out());
  expect(stopped).not.toBeNull();
  const w2 = collapse(['worker', '--queue', url, '--out', out, '--threads', '1', '--lock', '3600']);
  const { code } = await within(sweep.exit, 120_000, 'queue sweep after the SIGINT');
  expect({ code, out: code ? sweep.out() : '' }).toEqual({ code: 0, out: '' });
  expectSameSummary(dir, ref);
  await stopWorker(w2);
  expect(w2.out()).toMatch(new RegExp(`^cell \\S+/${stopped![1]!.replace(/\./g, '\\.')} resumed in `, 'm'));
}, 300_000);

test('rediss:// (TLS) with the password in COLLAPSE_REDIS_PASSWORD: the same summary as a local sweep', async () => {
  const ref = await reference(3);
  const tls = await startRedis({ password: PASSWORD, tls: true });
  try {
    // The test's self-signed certificate is trusted through Node's own NODE_EXTRA_CA_CERTS.
    const env = { COLLAPSE_REDIS_PASSWORD: PASSWORD, NODE_EXTRA_CA_CERTS: tls.cert! };
    const w = collapse(['worker', '--queue', tls.url, '--out', path.join(root, 'w-tls'), '--threads', '1'], env);
    const dir = path.join(root, 'tls');
    const sweep = collapse([...grid(dir), '--queue', tls.url], env);
    const { code } = await within(sweep.exit, 180_000, 'TLS queue sweep');
    expect({ code, out: code ? sweep.out() : '' }).toEqual({ code: 0, out: '' });
    expect(sweep.out()).toContain(`through the queue at rediss://127.0.0.1:${tls.port}`);
    expectSameSummary(dir, ref);
    await stopWorker(w);
    expect([...starts(w.out()).values()]).toEqual(Array(RUN_CELLS).fill(1));
    for (const text of [sweep.out(), w.out(), folderText(dir)]) expect(text).not.toContain(PASSWORD);
    // Without the certificate trusted, one line and exit 1.
    const untrusted = await runCli(['worker', '--queue', tls.url], { timeoutMs: 60_000, cwd: root });
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^collapse: error: cannot reach Redis at rediss://127\\.0\\.0\\.1:${tls.port}: .*certificate`))]);
  } finally {
    await tls.stop();
  }
}, 300_000);
