import { CollapseError } from '../../src/errors.js';
import {
  REAL,
  Rng,
  appendSynthetic,
  concatCorpora,
  corpusPositions,
  deriveSeed,
  emptyCorpus,
  fromSequences,
  provenanceShares,
  selectSequences,
  sequenceCount,
  subsampleIndices,
  subsampleSequences,
  validateCorpus,
  type Corpus,
} from '../../src/corpus/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CollapseError);
    return (e as CollapseError).code;
  }
  return undefined;
}

/** Sequences as plain arrays, for comparisons. */
function seqs(c: Corpus): number[][] {
  const out: number[][] = [];
  for (let i = 0; i + 1 < c.offsets.length; i++) out.push(Array.from(c.tokens.subarray(c.offsets[i], c.offsets[i + 1])));
  return out;
}

/** A corpus of n sequences with lengths 1..maxLen from a fixed generator; token = sequence index. */
function syntheticCorpus(n: number, maxLen: number, seed = 7): Corpus {
  const rng = new Rng(seed, 'test-corpus');
  const list: number[][] = [];
  for (let i = 0; i < n; i++) list.push(new Array<number>(1 + rng.below(maxLen)).fill(i));
  return fromSequences(list);
}

describe('corpus store', () => {
  test('fromSequences builds CSR arrays with provenance', () => {
    const c = fromSequences([[5, 6], [], [7]], [REAL, 0, 3]);
    expect(Array.from(c.tokens)).toEqual([5, 6, 7]);
    expect(Array.from(c.offsets)).toEqual([0, 2, 2, 3]);
    expect(Array.from(c.provenance)).toEqual([-1, 0, 3]);
    expect(sequenceCount(c)).toBe(3);
    expect(corpusPositions(c)).toBe(6); // 3 tokens + 3 EOS
    expect(Array.from(fromSequences([[1]]).provenance)).toEqual([REAL]);
    expect(codeOf(() => fromSequences([[1]], [-2]))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => fromSequences([[1], [2]], [0]))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => fromSequences([[1.5]]))).toBe('E_BAD_ARGUMENT');
  });

  test('memory: 4 bytes per token plus per-sequence arrays', () => {
    const c = fromSequences([[1, 2, 3], [4]]);
    expect(c.tokens.BYTES_PER_ELEMENT).toBe(4);
    expect(c.tokens.byteLength).toBe(16);
    expect(c.offsets.byteLength + c.provenance.byteLength).toBe(4 * 3 + 4 * 2);
  });

  test('concatCorpora and appendSynthetic keep order and provenance', () => {
    const a = fromSequences([[1, 2], [3]]);
    const b = fromSequences([[4]], 0);
    const c = concatCorpora([a, emptyCorpus(), b]);
    expect(seqs(c)).toEqual([[1, 2], [3], [4]]);
    expect(Array.from(c.provenance)).toEqual([-1, -1, 0]);
    validateCorpus(c);
    const d = appendSynthetic(c, { tokens: new Uint32Array([8, 9, 9]), offsets: new Uint32Array([0, 1, 3]) }, 2);
    expect(seqs(d)).toEqual([[1, 2], [3], [4], [8], [9, 9]]);
    expect(Array.from(d.provenance)).toEqual([-1, -1, 0, 2, 2]);
    expect(concatCorpora([]).offsets.length).toBe(1);
    expect(codeOf(() => appendSynthetic(c, { tokens: new Uint32Array([1]), offsets: new Uint32Array([0, 2]) }, 1))).toBe('E_OFFSETS');
    expect(codeOf(() => appendSynthetic(c, { tokens: new Uint32Array(0), offsets: new Uint32Array([0]) }, -1))).toBe('E_BAD_ARGUMENT');
  });

  test('validateCorpus catches broken offsets and provenance', () => {
    const bad: Corpus = { tokens: new Uint32Array(3), offsets: new Uint32Array([0, 2, 1, 3]), provenance: new Int32Array(3) };
    expect(codeOf(() => validateCorpus(bad))).toBe('E_OFFSETS');
    const bad2: Corpus = { tokens: new Uint32Array(3), offsets: new Uint32Array([0, 3]), provenance: new Int32Array(2) };
    expect(codeOf(() => validateCorpus(bad2))).toBe('E_BAD_ARGUMENT');
    const bad3: Corpus = { tokens: new Uint32Array(3), offsets: new Uint32Array([1, 3]), provenance: new Int32Array(1) };
    expect(codeOf(() => validateCorpus(bad3))).toBe('E_OFFSETS');
  });

  test('selectSequences copies the chosen sequences in the given order', () => {
    const c = fromSequences([[1], [2, 2], [3, 3, 3]], [REAL, 0, 1]);
    const s = selectSequences(c, [2, 0]);
    expect(seqs(s)).toEqual([[3, 3, 3], [1]]);
    expect(Array.from(s.provenance)).toEqual([1, -1]);
    expect(codeOf(() => selectSequences(c, [3]))).toBe('E_BAD_ARGUMENT');
  });
});

describe('seeded randomness', () => {
  test('Rng streams are reproducible and separated by seed and purpose', () => {
    const draw = (r: Rng): number[] => Array.from({ length: 8 }, () => r.nextU32());
    expect(draw(new Rng(42, 'a'))).toEqual(draw(new Rng(42, 'a')));
    expect(draw(new Rng(42, 'a'))).not.toEqual(draw(new Rng(42, 'b')));
    expect(draw(new Rng(42, 'a'))).not.toEqual(draw(new Rng(43, 'a')));
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(1, '2'));
    expect(deriveSeed(2 ** 40, 'x')).not.toBe(deriveSeed(0, 'x'));
    expect(codeOf(() => deriveSeed(0.5))).toBe('E_BAD_ARGUMENT');
  });

  test('below(n) is in range and roughly uniform; nextFloat in [0, 1)', () => {
    const r = new Rng(1, 'uniform');
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20000; i++) {
      const x = r.below(10);
      expect(x >= 0 && x < 10).toBe(true);
      counts[x]!++;
    }
    for (const c of counts) expect(Math.abs(c - 2000)).toBeLessThan(200);
    for (let i = 0; i < 1000; i++) {
      const f = r.nextFloat();
      expect(f >= 0 && f < 1).toBe(true);
    }
    expect(r.below(1)).toBe(0);
    expect(r.below(2 ** 32)).toBeLessThan(2 ** 32);
    expect(codeOf(() => r.below(0))).toBe('E_BAD_ARGUMENT');
  });
});

describe('subsampleSequences', () => {
  const corpus = syntheticCorpus(1000, 20);
  const total = corpusPositions(corpus);
  const lengths = Array.from({ length: 1000 }, (_, i) => corpus.offsets[i + 1]! - corpus.offsets[i]!);

  test('draws whole sequences without replacement until the target is reached', () => {
    const target = Math.floor(total / 3);
    const idx = subsampleIndices(corpus, target, 123);
    expect(new Set(idx).size).toBe(idx.length); // no duplicates
    for (let i = 1; i < idx.length; i++) expect(idx[i]!).toBeGreaterThan(idx[i - 1]!); // corpus order
    let held = 0;
    for (const s of idx) held += lengths[s]! + 1;
    expect(held).toBeGreaterThanOrEqual(target);
    expect(held - 21).toBeLessThan(target); // the last draw (≤ 21 positions) was needed

    const sub = subsampleSequences(corpus, target, 123);
    expect(corpusPositions(sub)).toBe(held);
    // token = original sequence index, so the output shows which sequences were kept, in order
    expect(Array.from({ length: idx.length }, (_, i) => sub.tokens[sub.offsets[i]!])).toEqual(Array.from(idx));
  });

  test('seeded: same seed same subset, different seed different subset', () => {
    const a = subsampleIndices(corpus, total / 2, 5);
    const b = subsampleIndices(corpus, total / 2, 5);
    const c = subsampleIndices(corpus, total / 2, 6);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a)).not.toEqual(Array.from(c));
  });

  test('target at or above the corpus size keeps everything; 0 keeps nothing', () => {
    expect(sequenceCount(subsampleSequences(corpus, total, 1))).toBe(1000);
    expect(sequenceCount(subsampleSequences(corpus, total * 10, 1))).toBe(1000);
    expect(sequenceCount(subsampleSequences(corpus, 0, 1))).toBe(0);
    expect(codeOf(() => subsampleIndices(corpus, -1, 1))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => subsampleIndices(corpus, 10, 0.5))).toBe('E_BAD_ARGUMENT');
  });

  test('every sequence is equally likely to be drawn', () => {
    const c = fromSequences(Array.from({ length: 20 }, () => [1, 1]));
    const hits = new Array<number>(20).fill(0);
    for (let seed = 0; seed < 2000; seed++) for (const s of subsampleIndices(c, 15, seed)) hits[s]!++; // 5 sequences each
    for (const h of hits) expect(Math.abs(h - 500)).toBeLessThan(80);
  });
});

describe('provenanceShares', () => {
  test('shares by positions sum to 1 and match provenance counts', () => {
    const real = fromSequences([[1, 2, 3], [4]]); // 4 + 2 = 6 positions
    const g0 = fromSequences([[5]], 0); // 2 positions
    const c = appendSynthetic(concatCorpora([real, g0]), { tokens: new Uint32Array([6, 6, 6, 6]), offsets: new Uint32Array([0, 4]) }, 3); // 5 positions
    const s = provenanceShares(c);
    expect(s.positions).toBe(13);
    expect(s.real).toBeCloseTo(6 / 13, 12);
    expect([...s.byGeneration.entries()]).toEqual([
      [0, 2 / 13],
      [3, 5 / 13],
    ]);
    expect(s.counts.get(REAL)).toBe(6);
    const sum = s.real + [...s.byGeneration.values()].reduce((x, y) => x + y, 0);
    expect(sum).toBeCloseTo(1, 12);
  });

  test('after subsampling, shares equal the provenance counts of the kept sequences', () => {
    const base = syntheticCorpus(300, 10, 3);
    const mixed = appendSynthetic(appendSynthetic(base, syntheticCorpus(300, 10, 4), 0), syntheticCorpus(300, 10, 5), 1);
    const sub = subsampleSequences(mixed, corpusPositions(base), 99);
    const s = provenanceShares(sub);
    const counts = new Map<number, number>();
    for (let i = 0; i < sub.provenance.length; i++) {
      const p = sub.provenance[i]!;
      counts.set(p, (counts.get(p) ?? 0) + sub.offsets[i + 1]! - sub.offsets[i]! + 1);
    }
    const n = corpusPositions(sub);
    expect(s.real).toBeCloseTo((counts.get(REAL) ?? 0) / n, 12);
    for (const g of [0, 1]) expect(s.byGeneration.get(g)).toBeCloseTo((counts.get(g) ?? 0) / n, 12);
    expect(s.real + (s.byGeneration.get(0) ?? 0) + (s.byGeneration.get(1) ?? 0)).toBeCloseTo(1, 12);
    // all three sources are present in a uniform draw of a third of the sequences
    expect(s.real).toBeGreaterThan(0.2);
    expect(s.byGeneration.get(1)!).toBeGreaterThan(0.2);
  });

  test('an empty corpus has zero shares', () => {
    const s = provenanceShares(emptyCorpus());
    expect(s).toMatchObject({ real: 0, positions: 0 });
    expect(s.byGeneration.size).toBe(0);
  });
});
