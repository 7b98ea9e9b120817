/**
 * Issue 10, part B: what a user (or a hostile one) does to paths and run folders never hangs the
 * process, never deletes their files, and a damaged run state is refused by name.
 *  - special files (FIFO, device, folder) wherever a path comes in: a typed one-line error;
 *  - `--out /proc/nope`: an error, not an endless loop;
 *  - `--force` replaces only a collapse-lab run folder;
 *  - a flipped byte in state/<paradigm>/gen-NNN.bin or state/progress.json: exit 2, file named;
 *  - `collapse theory` on 200,000 records; unknown flags; prototype keys in enum options.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CollapseError } from '../../src/errors.js';
import { resolveConfig } from '../../src/experiment/config.js';
import { readSample, runExperiment, type MetricsRecord } from '../../src/experiment/runner.js';
import { NGramModel } from '../../src/models/ngram.js';
import { listFiles, readProgress, readRecords, removeDir, requireBuiltCli, runCli, sentences, tempDir, writeLines, type CliResult } from './helpers.js';

let root: string;
let corpus: string;
let fifo: string;

beforeAll(() => {
  requireBuiltCli();
  root = tempDir('robust');
  corpus = writeLines(path.join(root, 'corpus.txt'), sentences(11, 300, { vocab: 25 }));
  fifo = path.join(root, 'fifo');
  execFileSync('mkfifo', [fifo]);
});
afterAll(() => removeDir(root));

/** Exactly one stderr line, `collapse: error: …`, matching `mentions`; exit 2; nothing on stdout. */
function expectOneLine(r: CliResult, mentions: RegExp, code = 2): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^collapse: error: /);
  expect(lines[0]).toMatch(mentions);
  expect(r.stdout).toBe('');
  expect(r.code).toBe(code);
}

const small = (out: string, extra: string[] = []) => ['run', '--corpus', `text:${corpus}`, '--generations', '2', '--paradigm', 'replace', '--seed', '5', '--out', out, '--quiet', ...extra];

describe('special files and impossible folders', () => {
  test.concurrent('--config FIFO: refused at once, not read', async () => {
    const r = await runCli(['run', '--config', fifo], { timeoutMs: 20_000 });
    expectOneLine(r, /--config .*fifo: it is a FIFO/);
  });

  test.concurrent('--config /dev/zero and a folder', async () => {
    expectOneLine(await runCli(['run', '--config', '/dev/zero'], { timeoutMs: 20_000 }), /character device/);
    expectOneLine(await runCli(['run', '--config', root], { timeoutMs: 20_000 }), /is a folder|it is a folder/);
  });

  test.concurrent('--out /proc/nope: an error naming the path, no endless mkdir', async () => {
    const r = await runCli(small('/proc/nope/deeper'), { timeoutMs: 30_000 });
    expectOneLine(r, /\/proc\/nope/);
  });

  test.concurrent('--out under a regular file', async () => {
    const r = await runCli(small(path.join(corpus, 'sub')), { timeoutMs: 30_000 });
    expectOneLine(r, /corpus\.txt is a regular file|not a folder/);
  });

  test.concurrent('--resume of a folder whose progress.json is a FIFO', async () => {
    const d = path.join(root, 'fifo-state');
    mkdirSync(path.join(d, 'state'), { recursive: true });
    writeFileSync(path.join(d, 'config.json'), JSON.stringify({ collapseLab: '0.1.0', config: { corpus: `text:${corpus}`, generations: 1 } }));
    execFileSync('mkfifo', [path.join(d, 'state', 'progress.json')]);
    const r = await runCli(['run', '--resume', d, '--quiet'], { timeoutMs: 30_000 });
    expectOneLine(r, /progress\.json: it is a FIFO/);
  });

  test.concurrent('collapse theory on a folder whose metrics.jsonl is a FIFO', async () => {
    const d = path.join(root, 'fifo-metrics');
    mkdirSync(d);
    execFileSync('mkfifo', [path.join(d, 'metrics.jsonl')]);
    expectOneLine(await runCli(['theory', d], { timeoutMs: 20_000 }), /metrics\.jsonl: it is a FIFO/);
  });

  test('NGramModel.load: FIFO, /dev/zero, a folder, a missing file', async () => {
    for (const [p, why] of [
      [fifo, /FIFO/],
      ['/dev/zero', /character device/],
      [root, /folder/],
      [path.join(root, 'none.bin'), /ENOENT/],
    ] as [string, RegExp][]) {
      const err = await NGramModel.load(p).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CollapseError);
      expect((err as CollapseError).code).toBe('E_BAD_MODEL_FILE');
      expect((err as CollapseError).message).toMatch(why);
      expect((err as CollapseError).message).toContain(p);
    }
  });
});

describe('--force replaces only a collapse-lab run folder', () => {
  test('a folder holding a user file is refused, and nothing in it is deleted', async () => {
    const d = path.join(root, 'project');
    mkdirSync(path.join(d, 'src'), { recursive: true });
    writeFileSync(path.join(d, 'notes.txt'), 'my notes');
    writeFileSync(path.join(d, 'src', 'main.c'), 'int main() {}');
    const r = await runCli(small(d, ['--force']));
    expectOneLine(r, /refusing to replace .*project with --force.*not a collapse-lab run folder/);
    expect(listFiles(d)).toEqual(['notes.txt', 'src/main.c']);
    expect(readFileSync(path.join(d, 'notes.txt'), 'utf8')).toBe('my notes');
  });

  test('a run folder with one user file added is refused too; without it, it is replaced', async () => {
    const d = path.join(root, 'run-plus');
    expect((await runCli(small(d))).code).toBe(0);
    const before = listFiles(d, { includeTimings: true });
    writeFileSync(path.join(d, 'samples', 'mine.txt'), 'keep me');
    const r = await runCli(small(d, ['--force', '--seed', '6']));
    expectOneLine(r, /samples\/mine\.txt/);
    expect(listFiles(d, { includeTimings: true })).toEqual([...before, 'samples/mine.txt'].sort());
    expect(readFileSync(path.join(d, 'samples', 'mine.txt'), 'utf8')).toBe('keep me');
    // Remove the user's file: now the folder is a run folder, and --force replaces it.
    execFileSync('rm', [path.join(d, 'samples', 'mine.txt')]);
    const again = await runCli(small(d, ['--force', '--seed', '6']));
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(JSON.parse(readFileSync(path.join(d, 'config.json'), 'utf8')).config.seed).toBe(6);
  });

  test('a config.json that collapse-lab did not write is refused (--out . in a project)', async () => {
    const d = path.join(root, 'npm-project');
    mkdirSync(path.join(d, 'state'), { recursive: true });
    writeFileSync(path.join(d, 'config.json'), '{"name": "my-app"}');
    writeFileSync(path.join(d, 'state', 'progress.json'), '{}');
    const r = await runCli(small('.', ['--force']), { cwd: d });
    expectOneLine(r, /config\.json is not one collapse-lab wrote/);
    expect(readFileSync(path.join(d, 'config.json'), 'utf8')).toBe('{"name": "my-app"}');
  });
});

describe('resume refuses damaged state files', () => {
  const config = () => resolveConfig({ corpus: `text:${corpus}`, generations: 6, paradigms: ['replace', 'accumulate'], seed: 9 });

  /** A run stopped (AbortSignal) after `stopAfter` records: its state files are on disk. */
  async function stoppedRun(name: string, stopAfter: number): Promise<string> {
    const dir = path.join(root, name);
    const controller = new AbortController();
    let seen = 0;
    const err = await runExperiment(config(), {
      out: dir,
      threads: 1,
      signal: controller.signal,
      onRecord: () => {
        if (++seen === stopAfter) controller.abort();
      },
    }).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as CollapseError).code).toBe('E_ABORTED');
    return dir;
  }

  test('an intact state resumes to the uninterrupted run; one flipped token byte is refused by name', async () => {
    const full = await runExperiment(config(), { out: path.join(root, 'state-full'), threads: 1 });
    const dir = await stoppedRun('state-flip', 3);
    const bins = readdirSync(path.join(dir, 'state', 'replace')).filter((f) => f.endsWith('.bin')).sort();
    expect(bins.length).toBeGreaterThanOrEqual(1);
    const target = path.join(dir, 'state', 'replace', bins[bins.length - 1]!);
    const original = readFileSync(target);
    // The sample reads back intact, and its CSR index is sound.
    const s = await readSample(target);
    expect(s.offsets[s.offsets.length - 1]).toBe(s.tokens.length);

    // Flip one bit of the last token: a valid id still, so only the checksum can tell.
    const bad = Buffer.from(original);
    bad[bad.length - 4]! ^= 0x01;
    writeFileSync(target, bad);
    const before = readProgress(dir);
    const r = await runCli(['run', '--resume', dir, '--quiet']);
    expectOneLine(r, new RegExp(`${bins[bins.length - 1]!.replace('.', '\\.')} is damaged \\(its checksum does not match`));
    expect(readProgress(dir)).toEqual(before); // nothing written
    const apiErr = await runExperiment({}, { resume: dir, threads: 1 }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(apiErr).toBeInstanceOf(CollapseError);
    expect((apiErr as CollapseError).code).toBe('E_BAD_CONFIG');

    // Put the byte back: the resume finishes with the records of the uninterrupted run.
    writeFileSync(target, original);
    const resumed = await runExperiment({}, { resume: dir, threads: 1 });
    const strip = (rs: MetricsRecord[]) => JSON.stringify(rs);
    expect(strip(resumed.records)).toBe(strip(full.records));
    expect(readRecords(dir)).toEqual(readRecords(path.join(root, 'state-full')));
  });

  test('a flipped byte in state/progress.json is refused by name', async () => {
    const dir = await stoppedRun('progress-flip', 2);
    const p = path.join(dir, 'state', 'progress.json');
    const text = readFileSync(p, 'utf8');
    // Change one digit of a recorded metric: still valid JSON, a different value.
    const at = text.search(/"tv":0\.[0-9]/) + 8;
    const digit = text[at]!;
    const changed = text.slice(0, at) + (digit === '9' ? '8' : String(Number(digit) + 1)) + text.slice(at + 1);
    expect(() => JSON.parse(changed)).not.toThrow();
    writeFileSync(p, changed);
    const r = await runCli(['run', '--resume', dir, '--quiet']);
    expectOneLine(r, /progress\.json is damaged/);
  });

  test('a truncated or empty sample file is refused by name', async () => {
    const dir = await stoppedRun('state-cut', 2);
    const f = path.join(dir, 'state', 'replace', 'gen-000.bin');
    writeFileSync(f, readFileSync(f).subarray(0, 30));
    expectOneLine(await runCli(['run', '--resume', dir, '--quiet']), /gen-000\.bin is damaged/);
    writeFileSync(f, '');
    expectOneLine(await runCli(['run', '--resume', dir, '--quiet']), /gen-000\.bin is damaged/);
  });
});

describe('smaller ones', () => {
  test.concurrent('an unknown flag: one `collapse:` line, exit 2', async () => {
    expectOneLine(await runCli(['run', '--generatoins', '3']), /unknown option '--generatoins'/);
    expectOneLine(await runCli(['--bogus']), /unknown option '--bogus'/);
  });

  test.concurrent('prototype keys in enum options name the allowed values', async () => {
    const cfg = path.join(root, 'proto.json');
    writeFileSync(cfg, JSON.stringify({ corpus: `text:${corpus}`, model: { smoothing: '__proto__' } }));
    expectOneLine(await runCli(['run', '--config', cfg, '--out', path.join(root, 'proto-out')]), /smoothing must be one of kneser-ney, mle, add-k/);
    expect(existsSync(path.join(root, 'proto-out'))).toBe(false);
    for (const key of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) {
      let err: unknown;
      try {
        new NGramModel({ order: 2, vocabSize: 10, smoothing: key as never });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CollapseError);
      expect((err as Error).message).toMatch(/smoothing must be one of kneser-ney, mle, add-k/);
    }
  });

  test.concurrent('collapse theory on 200,000 records prints the table', async () => {
    const d = path.join(root, 'many');
    mkdirSync(d);
    const theory = { epsL1: 0.1, deltaL1: 0.2, sigmaL1: 0.3, EL1: 0.4, realShare: 1, head: { E: 0.1, delta: 0.1 }, tail: { E: 0.1, delta: 0.1 }, vanished: 0, residual: 0, equalShares: null };
    const lines: string[] = [];
    for (let g = 0; g < 200_000; g++) lines.push(JSON.stringify({ paradigm: 'replace', generation: g, theory }));
    writeFileSync(path.join(d, 'metrics.jsonl'), lines.join('\n') + '\n');
    const r = await runCli(['theory', d]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = r.stdout.split('\n');
    expect(out.filter((l) => /^\d+ /.test(l))).toHaveLength(200_000);
    expect(out.some((l) => /^199999 /.test(l))).toBe(true);
  });

  test.concurrent('collapse theory: a record that is not a metrics record is one line, exit 2', async () => {
    const d = path.join(root, 'null-record');
    mkdirSync(d);
    writeFileSync(path.join(d, 'metrics.jsonl'), 'null\n');
    expectOneLine(await runCli(['theory', d]), /line 1 is not a collapse-lab metrics record/);
  });
});
