/**
 * Estimators against known answers: a toy corpus worked by hand (see the arithmetic in the
 * comments), and an independent naive implementation (test/helpers/reference-ngram.ts) on random
 * corpora for every estimator and orders 1–4.
 */
import { NGramModel, type Smoothing } from '../src/index.js';
import { randomCorpus, referenceModel, toCorpus } from './helpers/reference-ngram.js';

// Vocabulary: 0 <unk>, 1 <s>, 2 </s>, 3 a, 4 b (V = 5, so the uniform is 1/4 over ids ≠ <s>).
const UNK = 0, BOS = 1, EOS = 2, A = 3, B = 4;
// Sequences: "a b", "a", "b a b".
const toy = toCorpus([[A, B], [A], [B, A, B]]);

async function rows(m: NGramModel, contexts: number[][]): Promise<number[][]> {
  const width = contexts[0]!.length;
  const r = await m.conditional(Uint32Array.from(contexts.flat()), { width, float64: true });
  return contexts.map((_, i) => Array.from(r.subarray(i * m.vocabSize, (i + 1) * m.vocabSize)));
}

describe('hand-computed toy corpus, order 2', () => {
  // Positions (target|context): a|<s> b|a </s>|b · a|<s> </s>|a · b|<s> a|b b|a </s>|b
  // Bigram counts: <s>a 2, <s>b 1, ab 2, a</s> 1, b</s> 2, ba 1.

  test('MLE: relative frequencies, unseen contexts back off to the unigram', async () => {
    const m = new NGramModel({ order: 2, vocabSize: 5, smoothing: 'mle' });
    await m.fit(toy);
    const [s, a, b, unk] = await rows(m, [[BOS], [A], [B], [UNK]]);
    expect(s![A]).toBeCloseTo(2 / 3, 15);
    expect(s![B]).toBeCloseTo(1 / 3, 15);
    expect(a![B]).toBeCloseTo(2 / 3, 15);
    expect(a![EOS]).toBeCloseTo(1 / 3, 15);
    expect(b![EOS]).toBeCloseTo(2 / 3, 15);
    expect(b![A]).toBeCloseTo(1 / 3, 15);
    // <unk> never occurs: unigram MLE over the 9 positions: a 3, b 3, </s> 3.
    expect(unk).toEqual([0, 0, 1 / 3, 1 / 3, 1 / 3].map((x) => expect.closeTo(x, 15)));
  });

  test('add-k (k = 1): (c + 1) / (c(x) + 4)', async () => {
    const m = new NGramModel({ order: 2, vocabSize: 5, smoothing: 'add-k', k: 1 });
    await m.fit(toy);
    const [a] = await rows(m, [[A]]);
    // c(a·) = 3: b 2, </s> 1.
    expect(a![B]).toBeCloseTo(3 / 7, 15);
    expect(a![EOS]).toBeCloseTo(2 / 7, 15);
    expect(a![A]).toBeCloseTo(1 / 7, 15);
    expect(a![UNK]).toBeCloseTo(1 / 7, 15);
    expect(a![BOS]).toBe(0);
    const m2 = new NGramModel({ order: 2, vocabSize: 5, smoothing: 'add-k', k: 0.5 });
    await m2.fit(toy);
    const [a2] = await rows(m2, [[A]]);
    expect(a2![B]).toBeCloseTo(2.5 / 5, 15);
  });

  test('modified Kneser–Ney with the fallback discounts (counts-of-counts too sparse)', async () => {
    const m = new NGramModel({ order: 2, vocabSize: 5, smoothing: 'kneser-ney' });
    await m.fit(toy);
    const info = m.info();
    // Order 1 adjusted counts (left extensions): a 2 (<s>, b), b 2 (<s>, a), </s> 2 (a, b) → n1 = 0.
    // Order 2 counts 2,1,2,1,2,1 → n3 = 0. Both fall back to D = 0.5, 1, 1.5 (KenLM's defaults).
    expect(info.discountFallback).toEqual([true, true]);
    expect(info.discounts).toEqual([[0.5, 1, 1.5], [0.5, 1, 1.5]]);
    // Unigram: Σa = 6, u(w) = (2 − 1)/6 = 1/6 for a, b, </s>; γ = 3·1/6 = 1/2 → p(w) = 1/6 + 1/8 = 7/24,
    // p(<unk>) = 1/8 = 3/24. Context <s>: a 2, b 1, Σ = 3: u(a) = 1/3, u(b) = 0.5/3, γ = (0.5 + 1)/3 = 1/2.
    const [s, a, b, unk] = await rows(m, [[BOS], [A], [B], [UNK]]);
    expect(s).toEqual([3 / 48, 0, 7 / 48, 23 / 48, 15 / 48].map((x) => expect.closeTo(x, 14)));
    expect(a).toEqual([3 / 48, 0, 15 / 48, 7 / 48, 23 / 48].map((x) => expect.closeTo(x, 14)));
    expect(b).toEqual([3 / 48, 0, 23 / 48, 15 / 48, 7 / 48].map((x) => expect.closeTo(x, 14)));
    // <unk> is an unseen context: the unigram distribution itself.
    expect(unk).toEqual([3 / 24, 0, 7 / 24, 7 / 24, 7 / 24].map((x) => expect.closeTo(x, 14)));
  });

  test('contexts are read left-padded with BOS; tokens before the last BOS are ignored', async () => {
    const m = new NGramModel({ order: 3, vocabSize: 5, smoothing: 'kneser-ney' });
    await m.fit(toy);
    const [x, y, z] = await rows(m, [[BOS, BOS, A], [B, BOS, A], [BOS, A, A]]);
    expect(x).toEqual(y);
    expect(x).not.toEqual(z);
  });
});

describe('KN discounts from counts of counts', () => {
  test('D_j = j − (j+1)·Y·n_{j+1}/n_j with Y = n1/(n1 + 2 n2), per order', async () => {
    const V = 40;
    const c = randomCorpus(7, 400, V, 10);
    const m = new NGramModel({ order: 3, vocabSize: V, smoothing: 'kneser-ney' });
    await m.fit(c);
    const ref = referenceModel(c.seqs, { order: 3, smoothing: 'kneser-ney', V });
    const info = m.info();
    expect(info.discountFallback).toEqual(ref.fallback);
    expect(ref.fallback).toContain(false); // at least one order really estimated its discounts
    info.discounts!.forEach((d, n) => d.forEach((x, j) => expect(x).toBeCloseTo(ref.discounts[n]![j]!, 12)));
  });
});

describe('engine = naive reference on random corpora', () => {
  const cases: [Smoothing, number][] = [];
  for (const s of ['mle', 'add-k', 'kneser-ney'] as Smoothing[]) for (const order of [1, 2, 3, 4]) cases.push([s, order]);
  test.each(cases)('%s, order %i', async (smoothing, order) => {
    const V = 12;
    const c = randomCorpus(order * 31 + smoothing.length, 60, V, 7);
    const m = new NGramModel({ order, vocabSize: V, smoothing, k: 0.3 });
    await m.fit(c);
    const ref = referenceModel(c.seqs, { order, smoothing, k: 0.3, V });
    // Contexts: every history of the corpus, plus random (often unseen) ones, width 3.
    const contexts: number[][] = [];
    for (const s of c.seqs.slice(0, 15)) {
      const full = [BOS, BOS, BOS, ...s];
      for (let j = 3; j < full.length; j++) contexts.push(full.slice(j - 2, j + 1));
    }
    for (let i = 0; i < 20; i++) contexts.push([3 + (i % 9), 3 + ((i * 7) % 9), 3 + ((i * 5) % 9)]);
    const got = await rows(m, contexts);
    contexts.forEach((ctx, i) => {
      for (let w = 0; w < V; w++) expect(got[i]![w]).toBeCloseTo(ref.prob(ctx, w), 12);
    });
  });
});
