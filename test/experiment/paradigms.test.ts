/**
 * Paradigm invariants (THEORY.md, "Paradigms"), checked on real NGramModel samples:
 * sizes of S_n and T_n, provenance and real shares, Accumulate-Subsample drawing whole sequences of
 * C_n without replacement under a seed, Replace-with-real's fresh real draw, and the held-out test
 * split H never entering any training set.
 */
import path from 'node:path';
import {
  REAL,
  corpusPositions,
  deriveSeed,
  fromSequences,
  loadCorpus,
  provenanceShares,
  type Corpus,
} from '../../src/corpus/index.js';
import { NGramModel } from '../../src/models/ngram.js';
import type { TokenCorpus } from '../../src/models/types.js';
import { PARADIGMS, initialState, isParadigm, nextState, sampleSize, type ParadigmName, type ParadigmParams, type ParadigmState } from '../../src/paradigms/index.js';
import { removeDir, rng, sentences, tempDir, writeLines } from './helpers.js';

const V = 40;
const MAX_LEN = 25;

/** A real corpus D of ids 3..V-1 (0 = <unk>, 1 = BOS, 2 = EOS are never in real text here). */
function realCorpus(seed: number, nseq: number): Corpus {
  const r = rng(seed);
  const seqs: number[][] = [];
  for (let i = 0; i < nseq; i++) {
    const len = 1 + Math.floor(r() * 12);
    const s: number[] = [];
    let prev = 3 + Math.floor(r() * (V - 3));
    for (let j = 0; j < len; j++) {
      const w = r() < 0.6 ? 3 + ((prev - 3 + 1) % (V - 3)) : 3 + Math.floor((V - 3) * r() * r());
      s.push(w);
      prev = w;
    }
    seqs.push(s);
  }
  return fromSequences(seqs);
}

/** Copies a (native, other-realm) TokenCorpus into this realm's typed arrays. */
function local(s: TokenCorpus): TokenCorpus {
  return { tokens: Uint32Array.from(s.tokens), offsets: Uint32Array.from(s.offsets) };
}

const seqsOf = (c: TokenCorpus): number[][] => {
  const out: number[][] = [];
  for (let i = 0; i + 1 < c.offsets.length; i++) out.push(Array.from(c.tokens.subarray(c.offsets[i]!, c.offsets[i + 1]!)));
  return out;
};
const keyOf = (prov: number, s: number[]) => `${prov}|${s.join(',')}`;
const keys = (c: Corpus): string[] => seqsOf(c).map((s, i) => keyOf(c.provenance[i]!, s));
const maxPositions = (c: TokenCorpus): number => {
  let m = 0;
  for (let i = 0; i + 1 < c.offsets.length; i++) m = Math.max(m, c.offsets[i + 1]! - c.offsets[i]! + 1);
  return m;
};
const sameCorpus = (a: TokenCorpus, b: TokenCorpus): boolean =>
  Buffer.from(a.tokens.buffer, a.tokens.byteOffset, a.tokens.byteLength).equals(Buffer.from(b.tokens.buffer, b.tokens.byteOffset, b.tokens.byteLength)) &&
  Buffer.from(a.offsets.buffer, a.offsets.byteOffset, a.offsets.byteLength).equals(Buffer.from(b.offsets.buffer, b.offsets.byteOffset, b.offsets.byteLength));

/**
 * True when `sub`'s sequences (with provenance) appear in `sup` in the same order, each sequence of
 * `sup` used at most once: an order-preserving sub-multiset, i.e. a draw without replacement.
 */
function isSubsequence(sub: Corpus, sup: Corpus): boolean {
  const a = keys(sub);
  const b = keys(sup);
  let j = 0;
  for (const k of a) {
    while (j < b.length && b[j] !== k) j++;
    if (j === b.length) return false;
    j++;
  }
  return true;
}

/** The REAL-provenance sequences of a corpus, as a corpus. */
function realPart(c: Corpus): Corpus {
  const seqs = seqsOf(c).filter((_, i) => c.provenance[i] === REAL);
  return fromSequences(seqs);
}

interface Run {
  states: ParadigmState[];
  samples: TokenCorpus[];
}

/** Generation after generation as the runner does it: fit M_n on T_n, sample S_n, build T_{n+1}. */
async function simulate(name: ParadigmName, D: Corpus, p: ParadigmParams, generations: number): Promise<Run> {
  const model = new NGramModel({ order: 3, vocabSize: V, threads: 1 });
  let state = initialState(name, D, p);
  const states = [state];
  const samples: TokenCorpus[] = [];
  for (let n = 0; n < generations; n++) {
    await model.fit(state.train);
    const S = local(await model.sample({ tokens: sampleSize(name, p), maxLength: MAX_LEN, seed: deriveSeed(p.seed, 'sample', name, n) }));
    samples.push(S);
    state = nextState(state, D, S, p);
    states.push(state);
  }
  return { states, samples };
}

const D = realCorpus(11, 300);
const ND = corpusPositions(D);
const base: ParadigmParams = { trainTokens: ND, rate: 0.1, accumulateRate: 1, realFraction: 0.25, seed: 5 };

describe('sampleSize (|S_n| in positions)', () => {
  const p: ParadigmParams = { trainTokens: 1000, rate: 0.01, accumulateRate: 0.25, realFraction: 0.1, seed: 1 };
  test('replace: N; accumulate: accumulateRate·N; accumulate-subsample: rate·N; replace-with-real: (1−α)·N', () => {
    expect(sampleSize('replace', p)).toBe(1000);
    expect(sampleSize('accumulate', p)).toBe(250);
    expect(sampleSize('accumulate-subsample', p)).toBe(10);
    expect(sampleSize('replace-with-real', p)).toBe(900);
    expect(sampleSize('replace-with-real', { ...p, realFraction: 0 })).toBe(1000);
  });
  test('a tiny rate still samples at least one position', () => {
    expect(sampleSize('accumulate-subsample', { ...p, rate: 1e-9 })).toBe(1);
    expect(sampleSize('accumulate', { ...p, accumulateRate: 1e-9 })).toBe(1);
    expect(sampleSize('replace-with-real', { ...p, realFraction: 0.9999999 })).toBe(1);
  });
  test('every name of PARADIGMS is a paradigm, others are not', () => {
    for (const n of PARADIGMS) expect(isParadigm(n)).toBe(true);
    expect(isParadigm('Replace')).toBe(false);
    expect(isParadigm('')).toBe(false);
  });
});

describe('initial state T_0', () => {
  test.each(PARADIGMS)('%s: T_0 = D (|D| ≤ N), generation 0, real share 1', (name) => {
    const s = initialState(name, D, base);
    expect(s.generation).toBe(0);
    expect(s.name).toBe(name);
    expect(sameCorpus(s.train, D)).toBe(true);
    expect(Array.from(s.train.provenance).every((v) => v === REAL)).toBe(true);
    expect(provenanceShares(s.train).real).toBe(1);
    if (name === 'accumulate' || name === 'accumulate-subsample') expect(sameCorpus(s.pool!, D)).toBe(true);
  });

  test('accumulate-subsample with N < |D|: T_0 is a seeded subset of whole sequences of D, ≥ N and < N + longest', () => {
    const N = Math.floor(ND / 3);
    const p = { ...base, trainTokens: N };
    const a = initialState('accumulate-subsample', D, p);
    const b = initialState('accumulate-subsample', D, p);
    const c = initialState('accumulate-subsample', D, { ...p, seed: p.seed + 1 });
    expect(isSubsequence(a.train, D)).toBe(true);
    expect(corpusPositions(a.train)).toBeGreaterThanOrEqual(N);
    expect(corpusPositions(a.train)).toBeLessThan(N + maxPositions(D));
    expect(sameCorpus(a.train, b.train)).toBe(true);
    expect(sameCorpus(a.train, c.train)).toBe(false);
    expect(provenanceShares(a.train).real).toBe(1);
    // C_0 is still the whole of D.
    expect(sameCorpus(a.pool!, D)).toBe(true);
  });
});

describe('samples S_n', () => {
  test.each(PARADIGMS)('%s: whole sequences, at least sampleSize positions, less than sampleSize + maxLength + 1', async (name) => {
    const { samples } = await simulate(name, D, base, 3);
    const target = sampleSize(name, base);
    for (const S of samples) {
      const n = corpusPositions(S);
      expect(n).toBeGreaterThanOrEqual(target);
      expect(n).toBeLessThan(target + MAX_LEN + 1);
      expect(S.offsets[0]).toBe(0);
      expect(S.offsets[S.offsets.length - 1]).toBe(S.tokens.length);
      for (let i = 0; i + 1 < S.offsets.length; i++) expect(S.offsets[i + 1]! - S.offsets[i]!).toBeLessThanOrEqual(MAX_LEN);
    }
  });
});

describe('replace', () => {
  test('T_n = S_{n−1} exactly for n ≥ 1: no real sequence, provenance n−1, |T_n| ≥ N', async () => {
    const { states, samples } = await simulate('replace', D, base, 4);
    for (let n = 1; n < states.length; n++) {
      const T = states[n]!.train;
      expect(states[n]!.generation).toBe(n);
      expect(sameCorpus(T, samples[n - 1]!)).toBe(true);
      expect(Array.from(T.provenance).every((v) => v === n - 1)).toBe(true);
      const sh = provenanceShares(T);
      expect(sh.real).toBe(0);
      expect(sh.byGeneration.get(n - 1)).toBe(1);
      expect(corpusPositions(T)).toBeGreaterThanOrEqual(base.trainTokens);
      expect(states[n]!.pool).toBeUndefined();
    }
  });
});

describe('accumulate', () => {
  test('T_n = C_n = D ∪ S_0 ∪ … ∪ S_{n−1} with provenance; real share = |D|/|C_n|', async () => {
    const p = { ...base, accumulateRate: 0.5 };
    const { states, samples } = await simulate('accumulate', D, p, 4);
    for (let n = 1; n < states.length; n++) {
      const T = states[n]!.train;
      expect(sameCorpus(T, states[n]!.pool!)).toBe(true);
      // Content: D then S_0 … S_{n-1}, in order.
      const expected = [...seqsOf(D).map((s) => keyOf(REAL, s))];
      for (let k = 0; k < n; k++) expected.push(...seqsOf(samples[k]!).map((s) => keyOf(k, s)));
      expect(keys(T)).toEqual(expected);
      const sh = provenanceShares(T);
      const total = ND + samples.slice(0, n).reduce((a, s) => a + corpusPositions(s), 0);
      expect(corpusPositions(T)).toBe(total);
      expect(sh.counts.get(REAL)).toBe(ND);
      expect(sh.real).toBeCloseTo(ND / total, 12);
      for (let k = 0; k < n; k++) {
        expect(sh.counts.get(k)).toBe(corpusPositions(samples[k]!));
        expect(sh.byGeneration.get(k)).toBeCloseTo(corpusPositions(samples[k]!) / total, 12);
      }
      // |S_k| = r·N (at least; whole sequences).
      for (const S of samples) expect(corpusPositions(S)).toBeGreaterThanOrEqual(Math.round(0.5 * ND));
    }
    // The real share falls generation after generation.
    const shares = states.map((s) => provenanceShares(s.train).real);
    for (let n = 1; n < shares.length; n++) expect(shares[n]!).toBeLessThan(shares[n - 1]!);
  });
});

describe('accumulate-subsample', () => {
  const p = { ...base, rate: 0.5 };
  let run: Run;
  beforeAll(async () => {
    run = await simulate('accumulate-subsample', D, p, 4);
  });

  test('C_n = D ∪ S_0 ∪ … ∪ S_{n−1}; T_n ⊆ C_n drawn without replacement, ≥ N and < N + longest sequence', () => {
    const { states, samples } = run;
    for (let n = 1; n < states.length; n++) {
      const C = states[n]!.pool!;
      const T = states[n]!.train;
      const expected = [...seqsOf(D).map((s) => keyOf(REAL, s))];
      for (let k = 0; k < n; k++) expected.push(...seqsOf(samples[k]!).map((s) => keyOf(k, s)));
      expect(keys(C)).toEqual(expected);
      // Order-preserving sub-multiset of C_n (no sequence of C_n taken twice).
      expect(isSubsequence(T, C)).toBe(true);
      const multiset = new Map<string, number>();
      for (const k of keys(C)) multiset.set(k, (multiset.get(k) ?? 0) + 1);
      const overdrawn: string[] = [];
      for (const k of keys(T)) {
        const left = (multiset.get(k) ?? 0) - 1;
        if (left < 0) overdrawn.push(k);
        multiset.set(k, left);
      }
      expect(overdrawn).toEqual([]);
      expect(corpusPositions(C)).toBeGreaterThan(p.trainTokens);
      expect(corpusPositions(T)).toBeGreaterThanOrEqual(p.trainTokens);
      expect(corpusPositions(T)).toBeLessThan(p.trainTokens + maxPositions(C));
      // A proper subset: some of C_n is left out.
      expect(T.offsets.length).toBeLessThan(C.offsets.length);
    }
  });

  test('provenance shares of T_n follow C_n roughly (uniform draw) and sum to 1', () => {
    for (let n = 1; n < run.states.length; n++) {
      const T = provenanceShares(run.states[n]!.train);
      const C = provenanceShares(run.states[n]!.pool!);
      expect(Math.abs(T.real - C.real)).toBeLessThan(0.15);
      let sum = T.real;
      for (const v of T.byGeneration.values()) sum += v;
      expect(sum).toBeCloseTo(1, 12);
      for (const g of T.byGeneration.keys()) expect(g).toBeLessThan(n);
    }
  });

  test('seeded: same seed ⇒ same T_n; another seed ⇒ another T_n (same C_n)', () => {
    const { states, samples } = run;
    for (let n = 0; n < samples.length; n++) {
      const again = nextState(states[n]!, D, samples[n]!, p);
      expect(sameCorpus(again.train, states[n + 1]!.train)).toBe(true);
      expect(Buffer.from(again.train.provenance.buffer).equals(Buffer.from(states[n + 1]!.train.provenance.buffer))).toBe(true);
      const other = nextState(states[n]!, D, samples[n]!, { ...p, seed: p.seed + 1 });
      expect(sameCorpus(other.pool!, states[n + 1]!.pool!)).toBe(true);
      expect(sameCorpus(other.train, states[n + 1]!.train)).toBe(false);
    }
  });

  test('a tiny rate (0.01) still adds a sample every generation and the real share keeps falling in C_n', async () => {
    const q = { ...base, rate: 0.01 };
    const { states, samples } = await simulate('accumulate-subsample', D, q, 3);
    for (const S of samples) expect(corpusPositions(S)).toBeGreaterThanOrEqual(Math.max(1, Math.round(0.01 * ND)));
    const realC = states.map((s) => provenanceShares(s.pool!).real);
    for (let n = 1; n < realC.length; n++) expect(realC[n]!).toBeLessThan(realC[n - 1]!);
  });

  test('when C_n holds fewer than N positions, T_n is all of C_n', async () => {
    const q = { ...base, trainTokens: ND * 3, rate: 0.2 };
    const { states } = await simulate('accumulate-subsample', D, q, 2);
    expect(sameCorpus(states[0]!.train, D)).toBe(true);
    for (const s of states) {
      if (corpusPositions(s.pool!) <= q.trainTokens) expect(keys(s.train)).toEqual(keys(s.pool!));
    }
  });
});

describe('replace-with-real', () => {
  test('T_n = a fresh draw of ≈ α·N from D plus S_{n−1}; real share ≈ α', async () => {
    const alpha = 0.25;
    const p = { ...base, realFraction: alpha };
    const { states, samples } = await simulate('replace-with-real', D, p, 4);
    const realTarget = Math.round(alpha * p.trainTokens);
    const realParts: Corpus[] = [];
    for (let n = 1; n < states.length; n++) {
      const T = states[n]!.train;
      const R = realPart(T);
      realParts.push(R);
      // The real part: whole sequences of D, without replacement, ≥ α·N and < α·N + longest.
      expect(isSubsequence(R, D)).toBe(true);
      expect(corpusPositions(R)).toBeGreaterThanOrEqual(realTarget);
      expect(corpusPositions(R)).toBeLessThan(realTarget + maxPositions(D));
      // The synthetic part: exactly S_{n−1}.
      const synth = seqsOf(T).filter((_, i) => T.provenance[i] !== REAL);
      expect(synth).toEqual(seqsOf(samples[n - 1]!));
      expect(Array.from(T.provenance).every((v) => v === REAL || v === n - 1)).toBe(true);
      const sh = provenanceShares(T);
      const slack = (maxPositions(D) + MAX_LEN + 1) / p.trainTokens;
      expect(Math.abs(sh.real - alpha)).toBeLessThan(slack);
      expect(corpusPositions(T)).toBeGreaterThanOrEqual(p.trainTokens);
    }
    // Drawn afresh each generation.
    expect(keys(realParts[0]!)).not.toEqual(keys(realParts[1]!));
    expect(keys(realParts[1]!)).not.toEqual(keys(realParts[2]!));
  });

  test('α = 0: no real data after generation 0', async () => {
    const p = { ...base, realFraction: 0 };
    const { states } = await simulate('replace-with-real', D, p, 2);
    for (let n = 1; n < states.length; n++) expect(provenanceShares(states[n]!.train).real).toBe(0);
  });
});

describe('the test split H never enters training', () => {
  let dir: string;
  afterAll(() => removeDir(dir));

  test('no sequence of H is in any T_n or C_n, under every paradigm', async () => {
    dir = tempDir('holdout');
    const train = writeLines(path.join(dir, 'train.txt'), sentences(1, 300, { vocab: 30 }));
    const valid = writeLines(path.join(dir, 'valid.txt'), sentences(2, 30, { vocab: 30 }));
    // Test sentences: a marker word absent from train, and long, so they are recognisable.
    const testLines = sentences(3, 30, { vocab: 30, minLen: 14, maxLen: 18 }).map((s, i) => `zzmarker${i % 3} ${s}`);
    const test = writeLines(path.join(dir, 'test.txt'), testLines);
    const corpus = await loadCorpus(`files:${train},${valid},${test}`);
    const { vocab, train: Dr, test: H } = corpus;
    expect(vocab.has('zzmarker0')).toBe(false);
    expect(seqsOf(H).length).toBe(30);
    // Every test sequence carries <unk> (the marker); D has none (min count 1: all train words known).
    for (const s of seqsOf(H)) expect(s).toContain(vocab.id('<unk>'));
    expect(Array.from(Dr.tokens)).not.toContain(vocab.id('<unk>'));

    const testKeys = new Set(seqsOf(H).map((s) => s.join(',')));
    const trainKeys = new Set(seqsOf(Dr).map((s) => s.join(',')));
    const Vc = vocab.size;
    const p: ParadigmParams = { trainTokens: corpusPositions(Dr), rate: 0.3, accumulateRate: 1, realFraction: 0.3, seed: 2 };
    const leaks: string[] = [];
    for (const name of PARADIGMS) {
      const model = new NGramModel({ order: 3, vocabSize: Vc, threads: 1 });
      let st = initialState(name, Dr, p);
      for (let n = 0; n < 3; n++) {
        for (const c of [st.train, st.pool].filter((x): x is Corpus => x !== undefined)) {
          seqsOf(c).forEach((s, i) => {
            const k = s.join(',');
            if (testKeys.has(k)) leaks.push(`${name} T_${n}: test sequence ${k}`);
            if (c.provenance[i] === REAL && !trainKeys.has(k)) leaks.push(`${name} T_${n}: real sequence ${k} not in D`);
          });
        }
        await model.fit(st.train);
        const S = local(await model.sample({ tokens: sampleSize(name, p), maxLength: 40, seed: deriveSeed(p.seed, 'sample', name, n) }));
        st = nextState(st, Dr, S, p);
      }
    }
    expect(leaks).toEqual([]);
  });
});

describe('native samples from another realm', () => {
  // Under jest, typed arrays made by the native addon belong to the main realm, not the test's vm
  // context: corpus checks must not use `instanceof Uint32Array` (an earlier validateTokenCorpus
  // did, and nextState → appendSynthetic rejected the addon's own samples).
  test('nextState accepts S_n straight from NGramModel.sample', async () => {
    const model = new NGramModel({ order: 2, vocabSize: V, threads: 1 });
    await model.fit(D);
    const S = await model.sample({ tokens: 50, maxLength: MAX_LEN, seed: 1 });
    const s0 = initialState('accumulate', D, base);
    const s1 = nextState(s0, D, S, base);
    expect(corpusPositions(s1.train)).toBe(ND + corpusPositions(S));
  });
});
