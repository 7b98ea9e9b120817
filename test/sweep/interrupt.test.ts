/**
 * Ctrl-C on a sweep running on two worker processes: the coordinator stops the running cells,
 * exits 130 naming --resume; `collapse sweep --resume` then finishes with the same files, byte for
 * byte, as an uninterrupted sweep run in one process (timings and the report excluded).
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { listFiles, readProgress, removeDir, requireBuiltCli, runCli, sentences, sleep, spawnCli, tempDir, waitExit, writeLines } from '../experiment/helpers.js';

let root: string;
let corpus: string;
const args = (out: string, jobs: number) => [
  'sweep', '--corpus', `text:${corpus}`, '--generations', '12', '--paradigm', 'accumulate-subsample,replace', '--rate', '0.3',
  '--seeds', '1-2', '--jobs', String(jobs), '--threads', '1', '--out', out, '--no-report',
];

beforeAll(() => {
  requireBuiltCli();
  root = tempDir('sweep-int');
  corpus = writeLines(path.join(root, 'corpus.txt'), sentences(31, 1500, { vocab: 100, minLen: 3, maxLen: 12 }));
});
afterAll(() => removeDir(root));

test('SIGINT mid-sweep (2 workers), then --resume: identical to an uninterrupted one-process sweep', async () => {
  const ref = path.join(root, 'ref');
  const r = await runCli(args(ref, 1), { timeoutMs: 120_000 });
  expect({ code: r.code, stderr: r.code ? r.stderr : '' }).toEqual({ code: 0, stderr: '' });

  const dir = path.join(root, 'cut');
  const child = spawnCli(args(dir, 2));
  const exited = waitExit(child, 120_000);
  let closed = false;
  void exited.then(() => (closed = true));
  const cellDirs = () => {
    try {
      return readdirSync(dir).filter((f) => f.includes('seed-'));
    } catch {
      return [];
    }
  };
  for (;;) {
    if (closed) throw new Error('the sweep ended before it could be interrupted');
    const started = cellDirs().map((c) => readProgress(path.join(dir, c))).filter((p) => p && !p.complete && Object.values(p.finished).some((n) => n >= 1));
    if (started.length) break;
    await sleep(5);
  }
  child.kill('SIGINT');
  const exit = await exited;
  expect(exit.code).toBe(130);
  expect(exit.stderr).toContain(`collapse sweep --resume ${dir}`);
  const unfinished = cellDirs().filter((c) => !readProgress(path.join(dir, c))?.complete);
  expect(unfinished.length).toBeGreaterThan(0);

  const again = await runCli(['sweep', '--resume', dir, '--jobs', '2', '--no-report'], { timeoutMs: 120_000 });
  expect({ code: again.code, stderr: again.code ? again.stderr : '' }).toEqual({ code: 0, stderr: '' });
  const keep = (f: string) => !f.endsWith('timings.jsonl');
  const files = listFiles(ref).filter(keep);
  expect(listFiles(dir).filter(keep)).toEqual(files);
  expect(files).toContain('summary.csv');
  for (const f of files) {
    const a = readFileSync(path.join(ref, f));
    const b = readFileSync(path.join(dir, f));
    if (!a.equals(b)) expect(`${f}:\n${b.toString('utf8')}`).toBe(`${f}:\n${a.toString('utf8')}`);
  }
}, 300_000);
