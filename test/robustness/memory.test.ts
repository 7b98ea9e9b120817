/**
 * The memory estimates of src/util/memory.ts against the engine's measured peak: each case runs
 * one native call in a child process (memory-child.cjs) that reports the growth of its resident
 * set during the call (Linux VmHWM, reset just before). The estimate must be an upper bound of
 * that growth, and not a wildly pessimistic one (within 6×). Then the refusals of issue 10,
 * item 6, through the CLI: exit 2, one line with the estimate and the limit, nothing written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ngramFitBytes, transformerBytes, type TransformerShape } from '../../src/util/memory.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const linux = process.platform === 'linux';

function child(which: string): { growth: number; [k: string]: unknown } {
  const r = spawnSync(process.execPath, ['--expose-gc', join(here, 'memory-child.cjs'), which], { encoding: 'utf8', timeout: 300_000 });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  return JSON.parse(r.stdout.trim()) as { growth: number };
}

const withinBounds = (estimate: number, growth: number) => {
  expect(growth).toBeGreaterThan(0);
  expect(estimate).toBeGreaterThanOrEqual(growth);
  expect(estimate).toBeLessThanOrEqual(6 * growth);
};

(linux ? describe : describe.skip)('estimates bound the measured peak (Linux)', () => {
  test.each(['ngram-distinct', 'ngram-order6', 'ngram-dense'])('n-gram fit: %s', (which) => {
    const r = child(which) as unknown as { growth: number; order: number; vocabSize: number; tokens: number; sequences: number };
    withinBounds(ngramFitBytes(r, r.tokens, r.sequences), r.growth);
  });

  test('transformer: construction, then train and evaluate (growth beyond the constructed model)', () => {
    const c = child('tf-construct') as unknown as { growth: number; shape: TransformerShape };
    const base = transformerBytes(c.shape, { kind: 'construct' });
    withinBounds(base, c.growth);
    const t = child('tf-train') as unknown as { growth: number; shape: TransformerShape; batchSize: number; seqLen: number; tokens: number; sequences: number };
    withinBounds(transformerBytes(t.shape, { kind: 'train', ...t }) - base, t.growth);
    const e = child('tf-evaluate') as unknown as { growth: number; shape: TransformerShape; tokens: number; sequences: number };
    withinBounds(transformerBytes(e.shape, { kind: 'evaluate', ...e }) - base, e.growth);
  });
});

describe('collapse run refuses what cannot fit, before writing anything', () => {
  const cli = join(root, 'dist', 'cli', 'main.js');
  const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, [cli, 'run', '--quiet', ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...env } });

  test.each([
    ['--probes 100000 under an 8G limit', ['--probes', '100000', '--memory-limit', '8G']], // p0 alone is K × |V| × 8 B = 11 GB
    ['--train-tokens 4e9', ['--train-tokens', '4000000000']],
    ['--order 5 under a 1G limit', ['--order', '5', '--memory-limit', '1G']],
  ])('%s: exit 2, the estimate and the limit on one line', (_name, args) => {
    const out = join(tmpdir(), `collapse-mem-${process.pid}-${Math.random().toString(36).slice(2)}`);
    const r = run(['--corpus', 'brown', '--generations', '2', '--out', out, ...args], { COLLAPSE_MEMORY_LIMIT: '16G' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^collapse: error: this run \(.*\) needs about [\d.]+ [GT]iB of memory \(estimate\), more than the memory limit of (16\.0|8\.00|1\.00) GiB; .*--memory-limit.*\n$/);
    expect(existsSync(out)).toBe(false);
  });

  test('a bad --memory-limit is a usage error', () => {
    const r = run(['--corpus', 'brown', '--memory-limit', 'lots', '--out', join(tmpdir(), 'never')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^collapse: error: memoryLimit must be a byte count or a size such as 8G or 512M, got "lots"\n$/);
  });
});
