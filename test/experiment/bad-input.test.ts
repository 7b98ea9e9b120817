/**
 * Bad input to `collapse run`: exit code 2, one error line on stderr (no stack trace), and no run
 * folder left behind (in particular none that looks complete); a folder that already holds files
 * is never touched without --force.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { listFiles, mtimes, readProgress, removeDir, requireBuiltCli, runCli, sentences, tempDir, writeLines, type CliResult } from './helpers.js';

let root: string;
let good: string;
let outCount = 0;
const freshOut = () => path.join(root, 'out', `run-${++outCount}`);

beforeAll(() => {
  requireBuiltCli();
  root = tempDir('bad');
  mkdirSync(path.join(root, 'out'));
  good = writeLines(path.join(root, 'good.txt'), sentences(5, 200, { vocab: 20 }));
});
afterAll(() => removeDir(root));

/** The non-empty lines of stderr (commander's errors included: they are one `collapse:` line too). */
function errorLines(r: CliResult): string[] {
  return r.stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l !== '');
}

function expectUsageError(r: CliResult, mentions?: RegExp): void {
  const lines = errorLines(r);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^collapse: error: /);
  if (mentions) expect(lines[0]).toMatch(mentions);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stdout).toBe('');
  expect(r.code).toBe(2);
}

/** Runs `collapse run ARGS --out <fresh> --quiet`; asserts exit 2, one error line, no folder. */
async function rejects(args: string[], mentions?: RegExp): Promise<CliResult> {
  const out = freshOut();
  const r = await runCli(['run', ...args, '--out', out, '--quiet']);
  expectUsageError(r, mentions);
  expect(existsSync(out)).toBe(false);
  return r;
}

describe('bad corpora', () => {
  test.concurrent('a missing corpus path', async () => {
    await rejects(['--corpus', `text:${path.join(root, 'nope.txt')}`], /nope\.txt/);
  });

  test.concurrent('an empty corpus file', async () => {
    const f = path.join(root, 'empty.txt');
    writeFileSync(f, '');
    await rejects(['--corpus', `text:${f}`], /empty\.txt/);
  });

  test.concurrent('a corpus of blank lines only', async () => {
    const f = path.join(root, 'blank.txt');
    writeFileSync(f, '\n  \n\t\n\n');
    await rejects(['--corpus', `text:${f}`]);
  });

  test.concurrent('a binary file', async () => {
    const f = path.join(root, 'binary.dat');
    const b = Buffer.alloc(4096);
    for (let i = 0; i < b.length; i++) b[i] = (i * 7919) & 0xff;
    writeFileSync(f, b);
    await rejects(['--corpus', `text:${f}`], /binary\.dat/);
  });

  test.concurrent('invalid UTF-8', async () => {
    const f = path.join(root, 'latin1.txt');
    const text = sentences(6, 100, { vocab: 20 }).join('\n') + '\ncaf\xe9 cr\xe8me\n';
    writeFileSync(f, Buffer.from(text, 'latin1'));
    await rejects(['--corpus', `text:${f}`], /latin1\.txt/);
  });

  test.concurrent('a corpus too small to hold out a test split', async () => {
    const f = writeLines(path.join(root, 'tiny.txt'), sentences(7, 5, { vocab: 10 }));
    await rejects(['--corpus', `text:${f}`]);
  });

  test.concurrent('files: with a missing test file', async () => {
    await rejects(['--corpus', `files:${good},${good},${path.join(root, 'missing-test.txt')}`], /missing-test\.txt/);
  });

  test.concurrent('an unknown corpus kind', async () => {
    await rejects(['--corpus', 'parquet:x.parquet'], /parquet/);
  });
});

describe('bad options', () => {
  const corpus = () => ['--corpus', `text:${good}`];
  test.concurrent.each([
    ['unknown paradigm', ['--paradigm', 'replace,collapse'], /paradigm/],
    ['--generations -1', ['--generations', '-1'], /generations/],
    ['--generations 2.5', ['--generations', '2.5'], /generations/],
    ['--generations NaN', ['--generations', 'NaN'], /generations/],
    ['--rate nan', ['--rate', 'nan'], /rate/],
    ['--rate 0', ['--rate', '0'], /rate/],
    ['--accumulate-rate 0', ['--accumulate-rate', '0'], /accumulateRate|accumulate-rate/],
    ['--real-fraction 1.5', ['--real-fraction', '1.5'], /realFraction|real-fraction/],
    ['--order 0', ['--order', '0'], /order/],
    ['--top-p 2', ['--top-p', '2'], /topP|top-p/],
    ['--top-k -1', ['--top-k', '-1'], /topK|top-k/],
    ['--temperature 0', ['--temperature', '0'], /temperature/],
    ['--max-length 0', ['--max-length', '0'], /maxLength|max-length/],
    ['--train-tokens 0', ['--train-tokens', '0'], /trainTokens|train-tokens/],
    ['--min-count 0', ['--min-count', '0'], /minCount|min-count/],
    ['--seed -1', ['--seed', '-1'], /seed/],
    ['--threads 0', ['--threads', '0'], /threads/],
    ['--smoothing witten-bell', ['--smoothing', 'witten-bell'], /smoothing/],
    ['an unknown option', ['--generatoins', '3'], /generatoins/],
    ['an option without its value', ['--generations'], /generations/],
  ] as [string, string[], RegExp][])('%s', async (_label, args, mentions) => {
    await rejects([...corpus(), ...args], mentions);
  });

  test.concurrent('a malformed --config JSON', async () => {
    const f = path.join(root, 'bad.json');
    writeFileSync(f, '{"generations": 2,');
    await rejects(['--config', f], /bad\.json/);
  });

  test.concurrent('a --config that is JSON but not an object', async () => {
    const arr = path.join(root, 'array.json');
    writeFileSync(arr, '[1, 2]');
    await rejects(['--config', arr], /array\.json|object/);
  });

  test.concurrent('a --config with an unknown field', async () => {
    const unknown = path.join(root, 'unknown.json');
    writeFileSync(unknown, JSON.stringify({ corpus: `text:${good}`, generation: 2 }));
    await rejects(['--config', unknown], /generation/);
  });

  test.concurrent('a missing --config file', async () => {
    await rejects(['--config', path.join(root, 'nothere.json')], /nothere\.json/);
  });

  test.concurrent('an unknown command', async () => {
    const r = await runCli(['runn', '--corpus', `text:${good}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

describe('the run folder is protected', () => {
  test('a non-empty --out without --force: exit 2, the folder untouched', async () => {
    const out = path.join(root, 'keep');
    mkdirSync(path.join(out, 'sub'), { recursive: true });
    writeFileSync(path.join(out, 'notes.txt'), 'my notes\n');
    writeFileSync(path.join(out, 'sub', 'data.csv'), 'a,b\n1,2\n');
    const before = mtimes(out);
    const r = await runCli(['run', '--corpus', `text:${good}`, '--generations', '1', '--out', out, '--quiet']);
    expectUsageError(r, /--force|--resume|not empty/);
    expect(listFiles(out, { includeHidden: true, includeTimings: true })).toEqual(['notes.txt', 'sub/data.csv']);
    expect(mtimes(out)).toEqual(before);
    expect(readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('my notes\n');
  });

  test('--out naming a file: exit 2, the file untouched', async () => {
    const f = path.join(root, 'a-file');
    writeFileSync(f, 'x');
    const r = await runCli(['run', '--corpus', `text:${good}`, '--generations', '1', '--out', f, '--quiet']);
    expectUsageError(r);
    expect(readFileSync(f, 'utf8')).toBe('x');
  });

  test('bad input with a non-empty --out and --force: exit 2, the folder still untouched', async () => {
    const out = path.join(root, 'keep2');
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'notes.txt'), 'mine\n');
    const r = await runCli(['run', '--corpus', `text:${path.join(root, 'nope.txt')}`, '--out', out, '--force', '--quiet']);
    expectUsageError(r);
    expect(listFiles(out, { includeHidden: true, includeTimings: true })).toEqual(['notes.txt']);
  });
});

describe('--resume on something that is not a run', () => {
  test('a folder of other files', async () => {
    const d = path.join(root, 'not-a-run');
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'readme.md'), '# hi\n');
    const before = mtimes(d);
    const r = await runCli(['run', '--resume', d, '--quiet']);
    expectUsageError(r, /not-a-run/);
    expect(mtimes(d)).toEqual(before);
  });

  test('a folder that does not exist', async () => {
    const d = path.join(root, 'no-such-run');
    const r = await runCli(['run', '--resume', d, '--quiet']);
    expectUsageError(r, /no-such-run/);
    expect(existsSync(d)).toBe(false);
  });

  test('a folder whose config.json is not JSON', async () => {
    const d = path.join(root, 'broken-config');
    mkdirSync(path.join(d, 'state'), { recursive: true });
    writeFileSync(path.join(d, 'config.json'), '{oops');
    writeFileSync(path.join(d, 'state', 'progress.json'), '{"version":1,"complete":false,"finished":{},"records":[]}\n');
    const r = await runCli(['run', '--resume', d, '--quiet']);
    expectUsageError(r, /config\.json/);
  });

  test('a folder whose state is not a collapse-lab run state', async () => {
    const d = path.join(root, 'broken-state');
    mkdirSync(path.join(d, 'state'), { recursive: true });
    writeFileSync(path.join(d, 'config.json'), JSON.stringify({ config: { corpus: `text:${good}`, generations: 1 } }));
    writeFileSync(path.join(d, 'state', 'progress.json'), '{"version":7}\n');
    const r = await runCli(['run', '--resume', d, '--quiet']);
    expectUsageError(r, /progress\.json/);
    expect(readProgress(d)).toEqual({ version: 7 });
  });

  // A state file or config.json that parses to JSON null is a usage error, not a crash.
  test('a folder whose progress.json is JSON null', async () => {
    const d = path.join(root, 'null-state');
    mkdirSync(path.join(d, 'state'), { recursive: true });
    writeFileSync(path.join(d, 'config.json'), JSON.stringify({ config: { corpus: `text:${good}`, generations: 1 } }));
    writeFileSync(path.join(d, 'state', 'progress.json'), 'null\n');
    const r = await runCli(['run', '--resume', d, '--quiet']);
    expectUsageError(r, /progress\.json/);
  });

  test('a folder whose config.json is JSON null', async () => {
    const d = path.join(root, 'null-config');
    mkdirSync(path.join(d, 'state'), { recursive: true });
    writeFileSync(path.join(d, 'config.json'), 'null\n');
    writeFileSync(path.join(d, 'state', 'progress.json'), '{"version":1,"complete":false,"finished":{},"records":[]}\n');
    const r = await runCli(['run', '--resume', d, '--quiet']);
    expectUsageError(r, /config\.json/);
  });
});

describe('values the config accepts but the engine rejects', () => {
  // Values outside what the engine takes are rejected before the run folder is created.
  const cases: [string, string[], RegExp][] = [
    ['--max-length 1e12', ['--max-length', '1e12'], /maxLength/],
    ['--top-k 1e11', ['--top-k', '1e11'], /topK/],
  ];
  const results = new Map<string, { r: CliResult; out: string }>();
  beforeAll(async () => {
    await Promise.all(
      cases.map(async ([label, args]) => {
        const out = freshOut();
        const r = await runCli(['run', '--corpus', `text:${good}`, '--generations', '1', '--paradigm', 'replace', ...args, '--out', out, '--quiet']);
        results.set(label, { r, out });
      }),
    );
  });

  test.each(cases)('%s: exit 2 with one line, no complete run folder', (label, _args, mentions) => {
    const { r, out } = results.get(label)!;
    expectUsageError(r, mentions);
    expect(readProgress(out)?.complete ?? false).toBe(false);
  });

  test.each(cases)('%s: no run folder is created', (label) => {
    const { r, out } = results.get(label)!;
    expect(r.code).toBe(2);
    expect(existsSync(out)).toBe(false);
  });
});
