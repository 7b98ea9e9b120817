/**
 * Interrupted runs: a run killed (SIGKILL) or stopped with Ctrl-C (SIGINT) part-way, then continued
 * with `collapse run --resume DIR`, ends with the same files, byte for byte, as an uninterrupted run
 * of the same config (timings.jsonl excluded).
 */
import path from 'node:path';
import { readdirSync } from 'node:fs';
import {
  expectSameRun,
  hiddenFiles,
  readProgress,
  removeDir,
  requireBuiltCli,
  runCli,
  sentences,
  sleep,
  spawnCli,
  tempDir,
  waitExit,
  writeLines,
  type CliResult,
  type ProgressFile,
} from './helpers.js';

const PARADIGMS = ['replace', 'accumulate', 'accumulate-subsample', 'replace-with-real'];
const GENERATIONS = 12;
const TOTAL = PARADIGMS.length * GENERATIONS;

let root: string;
let corpus: string;
const args = (out: string) => [
  'run',
  '--corpus', `text:${corpus}`,
  '--generations', String(GENERATIONS),
  '--paradigm', PARADIGMS.join(','),
  '--accumulate-rate', '0.5',
  '--rate', '0.2',
  '--real-fraction', '0.2',
  '--seed', '7',
  '--out', out,
  '--quiet',
];
const reference = () => path.join(root, 'reference');

/** Generations finished so far, over all paradigms. */
const doneOf = (p: ProgressFile | null): number => (p ? Object.values(p.finished).reduce((a, n) => a + n + 1, 0) : 0);

/**
 * Spawns the CLI and sends `signal` once state/progress.json shows at least `atLeast` finished
 * generations and the run is not complete. Returns the exit and the progress seen at the signal.
 */
async function interrupt(cliArgs: string[], dir: string, signal: NodeJS.Signals, atLeast: number): Promise<{ exit: CliResult; seen: ProgressFile }> {
  const child = spawnCli(cliArgs);
  const exited = waitExit(child, 60_000);
  let closed = false;
  void exited.then(() => (closed = true));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (closed) throw new Error(`the run ended before it could be interrupted (progress ${JSON.stringify(readProgress(dir))})`);
    if (Date.now() > deadline) throw new Error('timed out waiting for progress');
    const p = readProgress(dir);
    if (p && !p.complete && doneOf(p) >= atLeast) {
      child.kill(signal);
      return { exit: await exited, seen: p };
    }
    await sleep(3);
  }
}

beforeAll(async () => {
  requireBuiltCli();
  root = tempDir('resume');
  corpus = writeLines(path.join(root, 'corpus.txt'), sentences(31, 1500, { vocab: 100, minLen: 3, maxLen: 12 }));
  const r = await runCli(args(reference()));
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  expect(readProgress(reference())!.complete).toBe(true);
});

afterAll(() => removeDir(root));

describe('resume after SIGKILL', () => {
  test('killed twice (once during the resumed run), then resumed: identical to an uninterrupted run', async () => {
    const dir = path.join(root, 'killed');
    const first = await interrupt(args(dir), dir, 'SIGKILL', 6);
    expect(first.exit.signal).toBe('SIGKILL');
    const after1 = readProgress(dir)!;
    expect(after1.complete).toBe(false);
    expect(doneOf(after1)).toBeGreaterThanOrEqual(6);
    expect(doneOf(after1)).toBeLessThan(TOTAL);
    // The records so far are a prefix, per paradigm, of the reference run's records.
    const refRecords = readProgress(reference())!.records as { paradigm: string; generation: number }[];
    for (const rec of after1.records as { paradigm: string; generation: number }[]) {
      expect(refRecords).toContainEqual(rec);
    }

    // Resume, and kill the resumed run too, further on.
    const second = await interrupt(['run', '--resume', dir, '--quiet'], dir, 'SIGKILL', doneOf(after1) + 6);
    expect(second.exit.signal).toBe('SIGKILL');
    expect(readProgress(dir)!.complete).toBe(false);

    const last = await runCli(['run', '--resume', dir, '--quiet']);
    expect(last.stderr).toBe('');
    expect(last.code).toBe(0);
    expect(readProgress(dir)!.complete).toBe(true);
    expectSameRun(reference(), dir);
    // The per-paradigm sample state is gone at the end.
    expect(readdirSync(path.join(dir, 'state'))).toEqual(['progress.json']);
    // Only hidden temp files of writes cut short by the kill may differ from the reference.
    for (const f of hiddenFiles(dir)) expect(path.basename(f)).toMatch(/^\..+\.\d+\.[0-9a-f]+\.tmp$/);
  });
});

describe('Ctrl-C (SIGINT)', () => {
  test('exits non-zero naming --resume; the resumed run (with --json) completes identically', async () => {
    const dir = path.join(root, 'interrupted');
    const { exit } = await interrupt(args(dir), dir, 'SIGINT', 4);
    expect(exit.signal).toBeNull();
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(exit.stderr).toContain('--resume');
    expect(exit.stderr).toContain(dir);
    expect(exit.stderr).not.toMatch(/^\s+at /m);
    const p = readProgress(dir)!;
    expect(p.complete).toBe(false);
    const done = doneOf(p);
    expect(done).toBeGreaterThanOrEqual(4);
    expect(done).toBeLessThan(TOTAL);

    // --json on resume: one line per generation still to do.
    const resumed = await runCli(['run', '--resume', dir, '--json']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const lines = resumed.stdout.split('\n').filter((l) => l !== '');
    expect(lines).toHaveLength(TOTAL - done);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expectSameRun(reference(), dir);
  });
});

describe('resume with the error accounting (--theory)', () => {
  test('killed, then resumed: the theory records are identical too', async () => {
    const theoryArgs = (out: string) => [
      'run', '--corpus', `text:${corpus}`, '--generations', '8', '--paradigm', 'replace,accumulate-subsample',
      '--rate', '0.3', '--seed', '11', '--theory', '--out', out, '--quiet',
    ];
    const ref = path.join(root, 'theory-reference');
    const r = await runCli(theoryArgs(ref));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const dir = path.join(root, 'theory-killed');
    const { exit } = await interrupt(theoryArgs(dir), dir, 'SIGKILL', 4);
    expect(exit.signal).toBe('SIGKILL');
    expect(readProgress(dir)!.complete).toBe(false);
    const resumed = await runCli(['run', '--resume', dir, '--quiet']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expectSameRun(ref, dir);
  });
});
