/**
 * Paradigms as data (src/paradigms): each paradigm's composition of C_n (the accounting's view) is
 * what its own next() actually builds, generation by generation; its rate and its peak sizes are the
 * figures docs/theory.md gives (|S_k| = r·N, the pool D ∪ S_0 ∪ … ∪ S_{G−2}). And the model drivers
 * are registered by kind, one each, for every kind the config schema accepts.
 */
import { corpusPositions, fromSequences, REAL, type Corpus } from '../../src/corpus/index.js';
import { driverFor } from '../../src/experiment/drivers/index.js';
import { resolveConfig } from '../../src/experiment/config.js';
import { settings } from '../../src/experiment/spec.js';
import { composition, paradigm, PARADIGMS, PARADIGM_TABLE, type ParadigmParams } from '../../src/paradigms/index.js';
import { rng } from './helpers.js';

function corpus(seed: number, nseq: number): Corpus {
  const r = rng(seed);
  const seqs: number[][] = [];
  for (let i = 0; i < nseq; i++) seqs.push(Array.from({ length: 1 + Math.floor(r() * 6) }, () => 3 + Math.floor(r() * 20)));
  return fromSequences(seqs);
}

/** A synthetic sample of about `positions` positions (content is irrelevant to the bookkeeping). */
function sample(seed: number, positions: number) {
  const seqs: number[][] = [];
  let held = 0;
  const r = rng(seed);
  while (held < positions) {
    const s = Array.from({ length: 1 + Math.floor(r() * 6) }, () => 3 + Math.floor(r() * 20));
    seqs.push(s);
    held += s.length + 1;
  }
  const f = fromSequences(seqs);
  return { tokens: f.tokens, offsets: f.offsets };
}

const D = corpus(3, 200);
const N = corpusPositions(D);
const p: ParadigmParams = { trainTokens: N, rate: 0.3, accumulateRate: 0.5, realFraction: 0.2, seed: 7 };

describe('paradigm objects', () => {
  test.each(PARADIGMS)('%s: the sources of T_n are those its composition names', (name) => {
    const P = paradigm(name);
    let state = P.initial(D, p);
    for (let n = 0; n < 5; n++) {
      const comp = composition(name, n);
      const present = new Set(Array.from(state.train.provenance));
      // T_n holds only sources of C_n; when T_n = C_n it holds all of them (each is non-empty here).
      for (const src of present) expect(src === REAL ? comp.real : comp.synthetic.includes(src)).toBe(true);
      if (comp.trainIsPool) {
        expect(present.has(REAL)).toBe(comp.real);
        for (const k of comp.synthetic) expect(present.has(k)).toBe(true);
      } else {
        // The pool C_n is kept beside T_n and holds every source the composition names.
        const pool = new Set(Array.from(state.pool!.provenance));
        expect(pool.has(REAL)).toBe(comp.real);
        for (const k of comp.synthetic) expect(pool.has(k)).toBe(true);
      }
      state = P.next(state, D, sample(100 + n, P.sampleSize(p)), p);
    }
  });

  test('rates and peak sizes: r·N samples, pools of D plus G − 1 samples', () => {
    expect(PARADIGMS.map((n) => PARADIGM_TABLE[n].rate(p))).toEqual([null, 0.5, 0.3, null]);
    const G = 6;
    expect(paradigm('replace').peakSizes(p, G)).toEqual({ train: N, pool: N });
    expect(paradigm('replace-with-real').peakSizes(p, G)).toEqual({ train: N, pool: N });
    const acc = N + (G - 1) * Math.round(0.5 * N);
    expect(paradigm('accumulate').peakSizes(p, G)).toEqual({ train: acc, pool: acc });
    expect(paradigm('accumulate-subsample').peakSizes(p, G)).toEqual({ train: N, pool: N + (G - 1) * Math.round(0.3 * N) });
  });
});

describe('model drivers', () => {
  test('one driver per model kind of the schema, chosen by kind', () => {
    const kinds = settings().find((s) => s.path === 'model.kind')!.values!;
    expect(kinds).toEqual(['ngram', 'transformer']);
    for (const kind of kinds) expect(driverFor(resolveConfig({ model: { kind } })).kind).toBe(kind);
    expect(driverFor(resolveConfig({})).csvColumns).toEqual([]);
    expect(driverFor(resolveConfig({ model: { kind: 'transformer' } })).csvColumns).toEqual(['trainSteps', 'trainLoss']);
  });
});
