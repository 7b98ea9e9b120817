/**
 * `collapse sweep` and `collapse report`: registered on the program by main.ts. The sweep takes
 * every flag of `collapse run` (read from the run command itself, so a new run flag is sweepable
 * without a change here), each as a comma-separated list, and --seeds as a list or range.
 */
import cliProgress from 'cli-progress';
import type { Command, Option } from 'commander';
import { CollapseError } from '../errors.js';
import { MAX_THREADS, MIN_THREADS } from '../util/check.js';
import { expandGrid, parseGrid, type FlagSpec } from '../sweep/grid.js';
import { createSweep, loadSweep, runSweep, type SweepEvent } from '../sweep/run.js';
import { attach as attachQueueSweep, queueAddress } from './queue-sweep.js';

/** Run flags the sweep handles itself (or that make no sense per cell). */
const OWN = new Set(['out', 'resume', 'force', 'json', 'quiet', 'verbose', 'seed', 'threads', 'report', 'queue']);
/** Run flags that take one value in a sweep. */
const SINGLE = ['config'];

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function fmtDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '?';
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const positiveInt = (flag: string) => (v: string) => {
  const x = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(x) || x < MIN_THREADS || x > MAX_THREADS) throw new CollapseError('E_BAD_ARGUMENT', `${flag} must be an integer in [${MIN_THREADS}, ${MAX_THREADS}], got "${v}"`);
  return x;
};

interface SweepFlags extends Record<string, string | boolean | undefined> {
  seeds?: string;
  jobs?: string;
  threads?: string;
  out?: string;
  resume?: string;
  force?: boolean;
  report?: boolean;
  quiet?: boolean;
  queue?: string;
}

export function registerSweep(program: Command, run: Command, buildConfig: (flags: never) => Promise<unknown>): void {
  const specs: FlagSpec[] = [];
  const cmd = program
    .command('sweep')
    .description('run a grid of experiments: each run flag may take a comma-separated list, --seeds a list or range (1-5); one run folder per cell, statistics across seeds, and a report');
  for (const o of run.options as Option[]) {
    const key = o.attributeName();
    if (OWN.has(key) || !o.long) continue;
    if (o.required || o.optional) {
      const parse = o.parseArg;
      specs.push({ flag: o.long, key, ...(o.argChoices ? { choices: o.argChoices } : {}), ...(parse ? { parse: (v: string) => parse.call(o, v, undefined) } : {}) });
      cmd.option(`${o.long} <list>`, `${o.description}${SINGLE.includes(key) ? '' : ' (a list sweeps it)'}`);
    } else {
      specs.push({ flag: o.long, key });
      cmd.option(o.long, o.description);
    }
  }
  cmd
    .option('--seeds <list>', 'run seeds: a list and/or ranges, e.g. 1-5 or 1,4,9 (default 1)')
    .option('--jobs <n>', 'cells run at once (default: the cores over each cell\'s threads)')
    .option('--threads <n>', 'threads per cell (default: 1 for n-gram cells, all cores for transformer cells; results do not depend on it)')
    .option('--out <dir>', 'sweep folder (default runs/sweep-<timestamp>)')
    .option('--resume <dir>', 'continue an interrupted sweep (finished cells are kept; partial ones resume)')
    .option('--force', 'replace the cells of an existing sweep folder')
    .option('--queue <url>', 'enqueue the cells on Redis (redis://HOST:PORT[/DB] or rediss://…; a password in the URL or in COLLAPSE_REDIS_PASSWORD) for `collapse worker`s to run, and follow them')
    .option('--no-report', 'do not write report.html at the end')
    .option('--quiet', 'print nothing but errors')
    .option('--verbose', 'print stack traces on errors')
    .action(async (flags: SweepFlags) => {
      await sweepCommand(flags, specs, buildConfig as (flags: Record<string, unknown>) => Promise<unknown>);
    });

  program
    .command('report')
    .argument('<dir>', 'a run folder or a sweep folder')
    .description('write report.html (self-contained, offline) and figures/*.svg for a run or sweep folder')
    .option('--verbose', 'print stack traces on errors')
    .action(async (dir: string) => {
      const t0 = performance.now();
      const { writeReport } = await import('../report/html.js');
      const out = await writeReport(dir);
      process.stdout.write(`report: ${out.html} (${out.figures.length} figures in ${dir}/figures/, ${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
    });
}

async function sweepCommand(f: SweepFlags, specs: FlagSpec[], buildConfig: (flags: Record<string, unknown>) => Promise<unknown>): Promise<void> {
  const jobs = f.jobs === undefined ? undefined : positiveInt('--jobs')(f.jobs);
  const threads = f.threads === undefined ? undefined : positiveInt('--threads')(f.threads);
  const given: Record<string, string | boolean | undefined> = {};
  for (const s of specs) if (f[s.key] !== undefined) given[s.key] = f[s.key];
  let dir: string;
  let sweep;
  // Queue sweeps: Redis is checked before the sweep folder is made (see src/queue).
  const queueing = f.queue !== undefined ? await queueAddress(f.queue, { jobs: f.jobs !== undefined, threads: f.threads !== undefined }) : null;
  if (f.resume) {
    const clash = Object.keys(given).concat(f.seeds !== undefined ? ['seeds'] : [], f.out !== undefined ? ['out'] : [], f.force ? ['force'] : []);
    if (clash.length) throw new CollapseError('E_BAD_ARGUMENT', `--resume continues the sweep with its own sweep.json; drop ${clash.map((k) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())).join(', ')}`);
    dir = f.resume;
    sweep = await loadSweep(dir);
  } else {
    // A files: corpus spec holds commas of its own: it is one value.
    const single = typeof given.corpus === 'string' && given.corpus.startsWith('files:') ? [...SINGLE, 'corpus'] : SINGLE;
    const grid = parseGrid(given, specs, { single, ...(f.seeds !== undefined ? { seeds: f.seeds } : {}) });
    // Every cell's config is resolved (and so validated) before anything runs.
    const cells = await expandGrid(grid, (flags) => buildConfig(flags));
    dir = f.out ?? `runs/sweep-${timestamp()}`;
    sweep = await createSweep(dir, grid, cells, f.force === true);
  }
  const queue = await attachQueueSweep(dir, sweep, queueing, { jobs: f.jobs !== undefined, threads: f.threads !== undefined });

  const tty = process.stderr.isTTY && !f.quiet;
  const log = (s: string) => {
    if (!f.quiet) process.stderr.write(s + '\n');
  };
  const controller = new AbortController();
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    process.stderr.write(
      queue
        ? `\ninterrupted: the workers go on with the queued cells; re-attach with: collapse sweep --resume ${dir}\n`
        : `\ninterrupted: stopping the running cells; resume with: collapse sweep --resume ${dir}\n`,
    );
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let bar: cliProgress.SingleBar | undefined;
  const t0 = performance.now();
  let setup = { jobs: 0, threads: 0 };
  const onEvent = (e: SweepEvent) => {
    if (e.type === 'start') {
      setup = { jobs: e.jobs, threads: e.threads };
      if (queue) log(`collapse: sweep of ${e.total} cells in ${dir}/ (${e.done} already done) through the queue at ${queue.display} (sweep id ${queue.id}); start workers with: collapse worker --queue ${queue.display}`);
      else log(`collapse: sweep of ${e.total} cells in ${dir}/ (${e.done} already done; ${e.jobs} at once, ${e.threads} thread${e.threads > 1 ? 's' : ''} each)`);
      if (tty) {
        bar = new cliProgress.SingleBar({ format: '{bar} {value}/{total} cells done | running {running} | left {left} | failed {failed} | ETA {eta}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic);
        bar.start(e.total, e.done, { running: 0, left: e.total - e.done, failed: 0, eta: '?' });
      }
    } else if (e.type === 'cell-start') {
      bar?.update(e.done, { running: e.running, left: e.left });
    } else if (e.type === 'cell-done') {
      if (bar) bar.update(e.done, { running: e.running, left: e.left, failed: e.failed, eta: fmtDuration(e.etaMs) });
      else log(`cell ${e.done}/${e.total} done: ${e.name} (${(e.ms / 1000).toFixed(1)} s); ${queue ? 'in the queue' : 'running'} ${e.running}, left ${e.left}, ETA ${fmtDuration(e.etaMs)}`);
    } else if (e.type === 'cell-error') {
      bar?.update(e.done, { running: e.running, left: e.left, failed: e.failed });
      if (!bar) log(`cell ${e.name} failed: ${e.message.split('\n')[0]}`);
    }
  };
  let outcome;
  try {
    const how = queue ? { jobs: Math.max(1, sweep.cells.length), runner: queue.runner } : { ...(jobs ? { jobs } : {}), ...(threads ? { threads } : {}) };
    outcome = await runSweep(dir, sweep, { ...how, signal: controller.signal, onEvent });
  } finally {
    await queue?.close();
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  let report = '';
  if (f.report !== false) {
    const { writeReport } = await import('../report/html.js');
    const r = await writeReport(dir);
    report = `, ${r.html}`;
  }
  if (!f.quiet) {
    process.stdout.write(`sweep done: ${outcome.results.length}/${sweep.cells.length} cells in ${secs} s (${queue ? `through the queue at ${queue.display}` : `${setup.jobs} at once, ${setup.threads} thread${setup.threads > 1 ? 's' : ''} each`}); ${dir}/summary.csv, summary.jsonl${report}\n`);
  }
  if (outcome.failed.length) {
    // Without a terminal each failure was already printed as it came.
    if (tty || f.quiet) for (const x of outcome.failed) process.stderr.write(`collapse: cell ${x.name} failed: ${x.message}\n`);
    // One shared cause (a corpus that cannot be read, say) keeps its code: exit 2 for bad input.
    const codes = new Set(outcome.failed.map((x) => x.code));
    const code = (codes.size === 1 ? [...codes][0]! : 'E_INTERNAL') as 'E_INTERNAL';
    throw new CollapseError(code, `${outcome.failed.length} of ${sweep.cells.length} cells failed (see above); fix and continue with: collapse sweep --resume ${dir}`);
  }
}
