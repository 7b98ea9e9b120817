/**
 * Refitting: fit() lets the previous model go as it starts (so a refit never holds two models), calls
 * already running finish on the model they started with, and a failed refit leaves the object
 * unfitted rather than half-fitted.
 */
import { CollapseError, NGramModel } from '../src/index.js';
import { randomCorpus } from './helpers/reference-ngram.js';

const V = 40;

test('a call running when a refit starts finishes on its own model, with its own answer', async () => {
  const a = randomCorpus(1, 3000, V, 8);
  const b = randomCorpus(2, 3000, V, 8);
  const m = new NGramModel({ order: 3, vocabSize: V, threads: 2 });
  await m.fit(a);
  const onA = await m.evaluate(a);
  const running = m.evaluate(a); // captures the model fitted on a
  const refit = m.fit(b);
  expect((await running).logLikelihood).toBe(onA.logLikelihood);
  await refit;
  const onB = await m.evaluate(a);
  expect(onB.logLikelihood).not.toBe(onA.logLikelihood);
  // The refitted model is the one a fresh object fits on b.
  const fresh = new NGramModel({ order: 3, vocabSize: V });
  await fresh.fit(b);
  expect(onB.logLikelihood).toBe((await fresh.evaluate(a)).logLikelihood);
});

test('a failed refit leaves the model unfitted (E_NOT_FITTED), and a good fit restores it', async () => {
  const a = randomCorpus(3, 500, V, 8);
  const m = new NGramModel({ order: 2, vocabSize: V });
  await m.fit(a);
  await expect(m.fit({ tokens: Uint32Array.from([3, V + 5]), offsets: Uint32Array.from([0, 2]) })).rejects.toMatchObject({ code: 'E_TOKEN_RANGE' });
  expect(m.info().fitted).toBe(false);
  const err = await m.evaluate(a).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CollapseError);
  expect((err as CollapseError).code).toBe('E_NOT_FITTED');
  await m.fit(a);
  expect(m.info().fitted).toBe(true);
});
