/**
 * Fuzzing the corpus readers: text, JSON lines and TinyStories files (byte mutations of valid
 * files, and arbitrary bytes), loaded through loadCorpus, plus parseCorpusSpec on arbitrary
 * strings. A loaded corpus or a CollapseError (E_BAD_CORPUS, E_CORPUS_EMPTY, …), never another error.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { loadCorpus } from '../../src/corpus/loaders.js';
import { parseCorpusSpec } from '../../src/corpus/spec.js';
import { loadOrCollapse, mutate, mutationsArb, params, RUNS, timeoutFor } from './fuzz-helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'collapse-fuzz-corpus-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const lines = Array.from({ length: 40 }, (_, i) => `the cat ${i % 7} sat on the mat , said ${'abcde'[i % 5]} .`);
const VALID = {
  text: Buffer.from(lines.join('\n') + '\n'),
  jsonl: Buffer.from(lines.map((l, i) => JSON.stringify({ text: l, id: i })).join('\n') + '\n'),
  tinystories: Buffer.from(lines.map((l) => `Once upon a time, ${l}\nThe end.`).join('\n<|endoftext|>\n') + '\n'),
};
const specOf = (kind: keyof typeof VALID, p: string) => (kind === 'jsonl' ? `jsonl:${p}:text` : `${kind}:${p}`);

let n = 0;
async function load(kind: keyof typeof VALID, bytes: Uint8Array): Promise<string> {
  const p = join(dir, `c${n++}.${kind === 'jsonl' ? 'jsonl' : 'txt'}`);
  writeFileSync(p, bytes);
  try {
    return await loadOrCollapse(`loadCorpus ${kind}`, async () => {
      const c = await loadCorpus(specOf(kind, p));
      // A loaded corpus is a sound CSR index over its vocabulary.
      for (const split of [c.train, c.valid, c.test]) {
        expect(split.offsets[0]).toBe(0);
        expect(split.offsets[split.offsets.length - 1]).toBe(split.tokens.length);
        for (const t of split.tokens) if (t >= c.vocab.size) throw new Error(`token ${t} outside the vocabulary ${c.vocab.size}`);
      }
    });
  } finally {
    rmSync(p, { force: true });
  }
}

test('the valid files load', async () => {
  for (const kind of ['text', 'jsonl', 'tinystories'] as const) expect(await load(kind, VALID[kind])).toBe('ok');
});

test(
  'text, jsonl and tinystories: byte mutations',
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('text' as const, 'jsonl' as const, 'tinystories' as const), mutationsArb(6), async (kind, ms) => {
        await load(kind, mutate(VALID[kind], ms));
      }),
      params(RUNS * 2),
    );
  },
  timeoutFor(RUNS * 2, 100),
);

test(
  'text, jsonl and tinystories: arbitrary bytes and strings',
  async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('text' as const, 'jsonl' as const, 'tinystories' as const),
        fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.string({ unit: 'binary', maxLength: 256 }).map((s) => Buffer.from(s, 'utf8'))),
        async (kind, bytes) => {
          await load(kind, bytes);
        },
      ),
      params(RUNS),
    );
  },
  timeoutFor(RUNS, 100),
);

test(
  'parseCorpusSpec on arbitrary strings',
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('text:', 'jsonl:a:', 'jsonl::x', 'files:,', 'files:a,b,c,d', 'brown:', '__proto__', 'constructor:x')), async (s) => {
        await loadOrCollapse('parseCorpusSpec', () => parseCorpusSpec(s));
      }),
      params(RUNS * 4),
    );
  },
  timeoutFor(RUNS * 4, 5),
);
