/**
 * Fuzzing the tokenizer readers: tokenizer.json (HfTokenizer.fromJSON, then encode and decode with
 * what was built) and a checkpoint's vocabulary.json (Vocabulary.fromJSON). Byte mutations of the
 * valid files, and field edits at any depth of their JSON. A result or a CollapseError, always.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { Vocabulary } from '../../src/corpus/vocabulary.js';
import { HfTokenizer } from '../../src/tokenizers/hf.js';
import { editJson, jsonEditArb, loadOrCollapse, mutate, mutationsArb, params, RUNS, timeoutFor } from './fuzz-helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const TOK = readFileSync(join(HERE, '..', 'fixtures', 'tokenizers', 'tiny-gpt2-tokenizer.json'));
const TOK_JSON = JSON.parse(TOK.toString('utf8')) as unknown;
const VOC_JSON = Vocabulary.build('the cat sat on the mat and the dog ran off'.split(' ')).toJSON();
const VOC = Buffer.from(JSON.stringify(VOC_JSON));
const TEXTS = ['hello world!', 'the cat', '', ' \u00e9\u4e2d\ud83d\ude00 <|endoftext|> x', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'];

/** Builds the tokenizer and uses it: every text encoded and decoded, every id decoded. */
function useTokenizer(text: string): void {
  const t = HfTokenizer.fromJSON(text, { source: 'tokenizer.json' });
  for (const s of TEXTS) t.decode(t.encode(s));
  const all = Array.from({ length: Math.min(t.vocabSize, 512) }, (_, i) => i);
  t.decode(all);
}

test('the valid tokenizer round-trips', () => {
  const t = HfTokenizer.fromJSON(TOK.toString('utf8'));
  expect(t.decode(t.encode('hello world!'))).toBe('hello world!');
});

test(
  'tokenizer.json: byte mutations',
  async () => {
    await fc.assert(
      fc.asyncProperty(mutationsArb(), async (ms) => {
        await loadOrCollapse('HfTokenizer', () => useTokenizer(mutate(TOK, ms).toString('utf8')));
      }),
      params(),
    );
  },
  timeoutFor(RUNS, 50),
);

test(
  'tokenizer.json: field edits',
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(jsonEditArb, { minLength: 1, maxLength: 3 }), async (edits) => {
        await loadOrCollapse('HfTokenizer', () => useTokenizer(JSON.stringify(editJson(TOK_JSON, edits)) ?? 'null'));
      }),
      params(RUNS * 2),
    );
  },
  timeoutFor(RUNS * 2, 50),
);

test(
  'vocabulary.json: byte mutations and field edits',
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(mutationsArb().map((ms) => mutate(VOC, ms).toString('utf8')), fc.array(jsonEditArb, { minLength: 1, maxLength: 3 }).map((e) => JSON.stringify(editJson(VOC_JSON, e)) ?? 'null')), async (text) => {
        await loadOrCollapse('Vocabulary.fromJSON', () => {
          const v = Vocabulary.fromJSON(text);
          v.decode(v.encode(['the', 'cat', 'zebra']));
        });
      }),
      params(RUNS * 2),
    );
  },
  timeoutFor(RUNS * 2, 5),
);
