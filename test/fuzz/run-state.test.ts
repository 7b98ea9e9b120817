/**
 * Fuzzing what `collapse run` reads back: the run's --config (resolveConfig on arbitrary JSON and
 * on edits of a valid config), the sample state files state/<paradigm>/gen-NNN.bin (readSample:
 * raw mutations, which the checksum must catch, and mutations re-sealed with a fresh SHA-256, which
 * reach the index checks), and state/progress.json (a whole resume with the file mutated, raw or
 * re-sealed). A result or a CollapseError, always; a damaged file is never resumed silently.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { CollapseError } from '../../src/errors.js';
import { resolveConfig } from '../../src/experiment/config.js';
import { readSample, runExperiment } from '../../src/experiment/runner.js';
import { editJson, jsonEditArb, jsonValueArb, loadOrCollapse, mutate, mutationsArb, params, RUNS, timeoutFor } from './fuzz-helpers.js';

let dir: string;
let corpus: string;
let stopped: string; // a run folder stopped after two generations
let sample: Buffer;

const CONFIG = () => ({
  corpus: `text:${corpus}`,
  generations: 4,
  paradigms: ['replace', 'accumulate-subsample'],
  seed: 2,
  model: { kind: 'ngram', order: 2, smoothing: 'kneser-ney' },
  sampling: { temperature: 1, topK: 0, topP: 1, maxLength: 20 },
  probes: 50,
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collapse-fuzz-run-'));
  corpus = join(dir, 'corpus.txt');
  const words = 'a b c d e f g h i j k l'.split(' ');
  writeFileSync(corpus, Array.from({ length: 120 }, (_, i) => Array.from({ length: 3 + (i % 6) }, (_, j) => words[(i * 7 + j * (i % 5 + 1)) % words.length]).join(' ')).join('\n') + '\n');
  stopped = join(dir, 'stopped');
  const controller = new AbortController();
  let seen = 0;
  await runExperiment(resolveConfig(CONFIG()), {
    out: stopped,
    threads: 1,
    signal: controller.signal,
    onRecord: () => {
      if (++seen === 2) controller.abort();
    },
  }).catch((e: unknown) => {
    if ((e as CollapseError).code !== 'E_ABORTED') throw e;
  });
  const bins = readdirSync(join(stopped, 'state', 'replace')).filter((f) => f.endsWith('.bin'));
  expect(bins.length).toBeGreaterThanOrEqual(1);
  sample = readFileSync(join(stopped, 'state', 'replace', bins[0]!));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test(
  'the run config: arbitrary JSON and edits of a valid config',
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(jsonValueArb, fc.array(jsonEditArb, { minLength: 1, maxLength: 4 }).map((e) => editJson(CONFIG(), e))), async (input) => {
        await loadOrCollapse('resolveConfig', () => resolveConfig(input));
      }),
      params(RUNS * 4),
    );
  },
  timeoutFor(RUNS * 4, 5),
);

/** Re-seals a sample file's SHA-256 after a mutation (header layout: see writeSample in runner.ts). */
function reseal(b: Buffer): Buffer {
  if (b.length < 48) return b;
  const out = Buffer.from(b);
  createHash('sha256').update(out.subarray(0, 16)).update(out.subarray(48)).digest().copy(out, 16);
  return out;
}

let n = 0;
async function readBack(bytes: Buffer): Promise<string> {
  const p = join(dir, `gen-${n++}.bin`);
  writeFileSync(p, bytes);
  try {
    return await loadOrCollapse('readSample', async () => {
      const s = await readSample(p);
      // What is read back is a sound CSR index.
      expect(s.offsets[0]).toBe(0);
      expect(s.offsets[s.offsets.length - 1]).toBe(s.tokens.length);
      for (let i = 1; i < s.offsets.length; i++) expect(s.offsets[i]! >= s.offsets[i - 1]!).toBe(true);
    });
  } finally {
    rmSync(p, { force: true });
  }
}

test(
  'sample state files: every raw mutation is refused (the checksum), re-sealed ones read soundly or are refused',
  async () => {
    expect(await readBack(sample)).toBe('ok');
    await fc.assert(
      fc.asyncProperty(mutationsArb(), async (ms) => {
        const bad = mutate(sample, ms);
        const code = await readBack(bad);
        if (!bad.equals(sample)) expect(code).toBe('E_BAD_CONFIG');
        await readBack(reseal(bad));
      }),
      params(RUNS * 2),
    );
  },
  timeoutFor(RUNS * 2, 20),
);

test(
  'progress.json: a resume with the file mutated (raw or re-sealed) finishes or fails with a CollapseError',
  async () => {
    const text = readFileSync(join(stopped, 'state', 'progress.json'));
    const obj = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
    const resealJson = (o: unknown): Buffer => {
      if (o === null || typeof o !== 'object' || Array.isArray(o)) return Buffer.from(JSON.stringify(o) ?? 'null');
      const { checksum: _c, ...body } = o as Record<string, unknown>;
      return Buffer.from(JSON.stringify({ ...body, checksum: `sha256:${createHash('sha256').update(JSON.stringify(body)).digest('hex')}` }) + '\n');
    };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          mutationsArb().map((ms) => ({ raw: true, bytes: mutate(text, ms) })),
          fc.array(jsonEditArb, { minLength: 1, maxLength: 3 }).map((e) => ({ raw: false, bytes: resealJson(editJson(obj, e)) })),
        ),
        async ({ raw, bytes }) => {
          const d = join(dir, `resume-${n++}`);
          execFileSync('cp', ['-r', stopped, d]);
          writeFileSync(join(d, 'state', 'progress.json'), bytes);
          try {
            const code = await loadOrCollapse('resume', () => runExperiment({}, { resume: d, threads: 1 }), 30_000);
            // A raw mutation that changes the content is never resumed.
            if (raw && !bytes.equals(text) && code === 'ok') {
              const same = (() => {
                try {
                  return JSON.stringify(JSON.parse(bytes.toString('utf8'))) === JSON.stringify(obj);
                } catch {
                  return false;
                }
              })();
              expect(same).toBe(true);
            }
          } finally {
            execFileSync('rm', ['-rf', d]);
          }
        },
      ),
      params(Math.max(10, RUNS >> 1)),
    );
  },
  timeoutFor(Math.max(10, RUNS >> 1), 1000),
);
