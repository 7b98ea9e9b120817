/**
 * A worker thread never reads memory that JavaScript can take away or change (issue 10, item 1).
 * Each case runs one native operation for real in a child `node --expose-gc` process on a large
 * corpus and, while it runs, either transfers its input buffers away (structuredClone with
 * `transfer`, then gc()) or overwrites them with fill(0xfffffff0). The child must exit cleanly
 * (before the fix: SIGSEGV, exit 139, or a result computed from the overwritten ids) and print
 * exactly the result of the same call on untouched data.
 */
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const child = join(dirname(fileURLToPath(import.meta.url)), 'detach-child.cjs');

function run(op: string, mode: 'clean' | 'detach' | 'mutate'): { status: number | null; signal: NodeJS.Signals | null; out: unknown; stderr: string } {
  const r = spawnSync(process.execPath, ['--expose-gc', child, op, mode], { encoding: 'utf8', timeout: 120_000, env: process.env });
  let out: unknown;
  try {
    out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {
    out = r.stdout;
  }
  return { status: r.status, signal: r.signal, out, stderr: r.stderr };
}

const ops = ['ngram.fit', 'ngram.evaluate', 'ngram.conditional', 'stats', 'theory', 'tf.train', 'tf.evaluate', 'tf.conditional', 'tf.forwardBackward'];

describe.each(ops)('%s with its input buffers taken away while it runs', (op) => {
  let clean: ReturnType<typeof run>;
  beforeAll(() => {
    clean = run(op, 'clean');
  });

  test('the untouched run succeeds', () => {
    expect({ status: clean.status, signal: clean.signal, stderr: clean.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(clean.out).toEqual(expect.any(Object));
    expect((clean.out as { error?: string }).error).toBeUndefined();
  });

  test.each(['detach', 'mutate'] as const)('%s: no crash, and the same result as on untouched data', (mode) => {
    const r = run(op, mode);
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' });
    expect(r.out).toEqual(clean.out);
  });
});
