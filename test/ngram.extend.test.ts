/**
 * Incremental fitting: fit() on the previously fitted corpus followed by more sequences (the
 * Accumulate paradigm's T_{n+1} = T_n + S_n) counts only the new sequences and merges the counts
 * (the engine's extend()). The model must be the one a full fit gives, byte for byte (the saved
 * model holds every count, estimate and discount), and the shortcut must not be taken when the
 * corpus is not such an extension or the old arrays were changed in place.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jest } from '@jest/globals';
import { concatCorpora, NGramModel, type Corpus, type Smoothing } from '../src/index.js';
import { randomCorpus } from './helpers/reference-ngram.js';

const V = 50;
const dir = mkdtempSync(join(tmpdir(), 'ngram-extend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function corpus(seed: number, nseq: number): Corpus {
  const c = randomCorpus(seed, nseq, V, 9);
  return { tokens: c.tokens, offsets: c.offsets, provenance: new Int32Array(nseq) };
}

let files = 0;
async function bytesOf(m: NGramModel): Promise<Buffer> {
  const p = join(dir, `m${files++}.bin`);
  await m.save(p);
  return readFileSync(p);
}

/**
 * Counts the engine's extend() calls; each call goes through to the engine. (The addon's methods
 * are read-only prototype properties, so the counter is defined on the instance.)
 */
function spyExtend(m: NGramModel) {
  const h = m.nativeHandle;
  const real = h.extend.bind(h);
  const spy = jest.fn(real);
  Object.defineProperty(h, 'extend', { value: spy });
  return spy;
}

test.each<[number, Smoothing]>([
  [3, 'kneser-ney'],
  [2, 'mle'],
  [4, 'add-k'],
  [1, 'kneser-ney'],
])('order %i %s: refits on a growing corpus extend, and equal full fits byte for byte', async (order, smoothing) => {
  const m = new NGramModel({ order, smoothing, vocabSize: V, threads: 2 });
  const spy = spyExtend(m);
  let train = corpus(1, 400);
  await m.fit(train);
  for (let g = 1; g <= 4; g++) {
    train = concatCorpora([train, corpus(10 + g, 100 * g)]);
    await m.fit(train);
    const full = new NGramModel({ order, smoothing, vocabSize: V, threads: 1 });
    await full.fit(train);
    expect((await bytesOf(m)).equals(await bytesOf(full))).toBe(true);
    expect((await m.evaluate(train)).logLikelihood).toBe((await full.evaluate(train)).logLikelihood);
    const s = { tokens: 2000, seed: g, maxLength: 50 };
    expect(await m.sample(s)).toEqual(await full.sample(s));
  }
  expect(spy).toHaveBeenCalledTimes(4);
});

test('no shortcut for a corpus that is not an extension, nor when the old arrays changed in place', async () => {
  const m = new NGramModel({ order: 3, vocabSize: V });
  const spy = spyExtend(m);
  const a = corpus(1, 300);
  const b = corpus(2, 200);
  await m.fit(a);
  await m.fit(b); // not an extension of a
  await m.fit(concatCorpora([a, b])); // extends b? no: a comes first
  expect(spy).toHaveBeenCalledTimes(0);
  await m.fit(a);
  a.tokens[5] = (a.tokens[5]! % (V - 4)) + 4; // the fitted arrays change in place
  a.tokens[6] = 3;
  const ab = concatCorpora([a, b]); // its prefix equals the changed a, not the corpus fitted
  await m.fit(ab);
  expect(spy).toHaveBeenCalledTimes(0);
  const full = new NGramModel({ order: 3, vocabSize: V });
  await full.fit(ab);
  expect((await bytesOf(m)).equals(await bytesOf(full))).toBe(true);
  // The same corpus again (no new sequence) is a plain refit too.
  await m.fit(ab);
  expect(spy).toHaveBeenCalledTimes(0);
  await m.fit(concatCorpora([ab, corpus(3, 50)]));
  expect(spy).toHaveBeenCalledTimes(1);
});

test('after a failed fit the next fit counts everything', async () => {
  const m = new NGramModel({ order: 2, vocabSize: V });
  const spy = spyExtend(m);
  const a = corpus(4, 200);
  await m.fit(a);
  const bad = concatCorpora([a, { tokens: Uint32Array.of(3, V + 1), offsets: Uint32Array.of(0, 2), provenance: Int32Array.of(0) }]);
  await expect(m.fit(bad)).rejects.toMatchObject({ code: 'E_TOKEN_RANGE' });
  expect(spy).toHaveBeenCalledTimes(1); // the bad part was an extension, refused by the engine
  expect(m.info().fitted).toBe(false);
  const ab = concatCorpora([a, corpus(5, 100)]);
  await m.fit(ab);
  expect(spy).toHaveBeenCalledTimes(1);
  const full = new NGramModel({ order: 2, vocabSize: V });
  await full.fit(ab);
  expect((await bytesOf(m)).equals(await bytesOf(full))).toBe(true);
});
