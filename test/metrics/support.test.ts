import { describe, expect, it } from '@jest/globals';
import { ngramSupport, supportStats, tailRetention } from '../../src/metrics/index.js';
import { corpusOf, naivePositions, randomCorpus } from './helpers.js';

describe('supportStats', () => {
  // BOS = 1, EOS = 2.
  // Reference D: A = [3 4 3], B = [3 4].  n-grams (one per position, BOS-left-padded):
  //   order 1: A 3,4,3,EOS  B 3,4,EOS                       → {3,4,EOS}                    = 3
  //   order 2: A (1,3)(3,4)(4,3)(3,2)  B (1,3)(3,4)(4,2)     → {13,34,43,32,42}             = 5
  //   order 3: A (1,1,3)(1,3,4)(3,4,3)(4,3,2)  B (1,1,3)(1,3,4)(3,4,2)
  //                                                          → {113,134,343,432,342}        = 5
  // Sample S: [3 5], [3 4].
  //   order 1: 3,5,EOS,3,4,EOS → {3,5,2,4} = 4; in D: 3,4,2 → both 3, novel 1 (the 5)
  //   order 2: (1,3)(3,5)(5,2)(1,3)(3,4)(4,2) → {13,35,52,34,42} = 5; both {13,34,42} = 3
  //   order 3: (1,1,3)(1,3,5)(3,5,2)(1,1,3)(1,3,4)(3,4,2) → 5 distinct; both {113,134,342} = 3
  const D = corpusOf([[3, 4, 3], [3, 4]]);
  const S = corpusOf([[3, 5], [3, 4]]);
  const expected = [
    { order: 1, sample: 4, reference: 3, both: 3, novel: 1, coverage: 1 },
    { order: 2, sample: 5, reference: 5, both: 3, novel: 2, coverage: 3 / 5 },
    { order: 3, sample: 5, reference: 5, both: 3, novel: 2, coverage: 3 / 5 },
  ];

  it('hand-computed distinct counts of orders 1–3', () => {
    expect(supportStats(S, D, { orders: [1, 2, 3], bos: 1, eos: 2 })).toEqual(expected);
    expect(supportStats(S, D)).toEqual(expected); // defaults: orders 1–3, bos 1, eos 2
  });

  it('a prebuilt reference support gives the same answer and is reusable', () => {
    const ref = ngramSupport(D);
    expect(ref.positions).toBe(7);
    expect(supportStats(S, ref)).toEqual(expected);
    expect(supportStats(D, ref).map((o) => o.coverage)).toEqual([1, 1, 1]);
    expect(() => supportStats(S, ref, { orders: [1, 2] })).toThrow(
      expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as unknown as Error,
    );
  });

  it('a sample identical to the reference covers it exactly; an empty sample covers nothing', () => {
    for (const o of supportStats(D, D)) {
      expect(o.sample).toBe(o.reference);
      expect(o.both).toBe(o.reference);
      expect(o.novel).toBe(0);
    }
    const empty = supportStats(corpusOf([]), D);
    expect(empty.map((o) => [o.sample, o.both, o.coverage])).toEqual([
      [0, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  it('large ids (≥ 2^21, up to 2^32−1) stay distinct: no packing collisions', () => {
    // Under a 21-bit-per-id packing, 3 and 3 + 2^21 would collide; here they must not.
    const big = 3 + 2 ** 21;
    const top = 2 ** 32 - 1;
    const ref = corpusOf([[3, 4]]);
    const smp = corpusOf([[big, 4], [top, top, top]]);
    // sample order 1: big,4,EOS,top,top,top,EOS → {big,4,2,top} = 4, both {4,2} = 2
    // sample order 2: (1,big)(big,4)(4,2)(1,top)(top,top)(top,top)(top,2) → 6 distinct, both {(4,2)} = 1
    const st = supportStats(smp, ref, { orders: [1, 2] });
    expect(st[0]).toMatchObject({ sample: 4, reference: 3, both: 2 });
    expect(st[1]).toMatchObject({ sample: 6, reference: 3, both: 1 });
  });

  it('matches a naive string-keyed count on random corpora', () => {
    const ids = [3, 4, 5, 6, 7, 8, 9, 10, 11, 3_000_000];
    const dSeqs = randomCorpus(1, 300, 9, ids);
    const sSeqs = randomCorpus(2, 200, 9, ids.slice(2));
    const grams = (seqs: number[][], n: number): Set<string> =>
      new Set(naivePositions(seqs, n - 1, 1, 2).map((p) => [...p.ctx, p.target].join(',')));
    const st = supportStats(corpusOf(sSeqs), corpusOf(dSeqs), { orders: [1, 2, 3, 4] });
    for (const o of st) {
      const a = grams(sSeqs, o.order);
      const b = grams(dSeqs, o.order);
      expect(o.sample).toBe(a.size);
      expect(o.reference).toBe(b.size);
      expect(o.both).toBe([...a].filter((g) => b.has(g)).length);
    }
  });

  it('rejects bad orders', () => {
    for (const orders of [[], [0], [1, 1], [1.5]]) {
      expect(() => supportStats(S, D, { orders })).toThrow(
        expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as unknown as Error,
      );
    }
  });
});

describe('tailRetention', () => {
  // Reference type counts: 10:5, 11:1, 12:1, 13:2, 14:3, 15:1, 16:4, 17:6   (8 types)
  const ref = corpusOf([
    [10, 10, 10, 10, 10, 11, 12],
    [13, 13, 14, 14, 14, 15],
    [16, 16, 16, 16, 17, 17, 17, 17, 17, 17],
  ]);
  // The sample holds 12 and 15 (and 10) but not 11.
  const smp = corpusOf([[12, 15, 10]]);

  it('lowest quartile: ceil(8/4) = 2 types, ties at count 1 broken by id', () => {
    // Order (count asc, id asc): 11(1) 12(1) 15(1) 13(2) 14(3) 16(4) 10(5) 17(6).
    // Tail = {11, 12}; 15 also has count 1 but falls outside (tieCut). Retained: 12 → 1/2.
    const t = tailRetention(smp, ref);
    expect(Array.from(t.tail)).toEqual([11, 12]);
    expect(t).toMatchObject({ share: 0.5, tailTypes: 2, retained: 1, types: 8, maxTailCount: 1, tieCut: true });
  });

  it('excluded ids are not types', () => {
    // Without 11: 7 types, tail = ceil(7/4) = 2 = {12, 15}, both in the sample; next count is 2 → no tie cut.
    const t = tailRetention(smp, ref, { exclude: [11] });
    expect(Array.from(t.tail)).toEqual([12, 15]);
    expect(t).toMatchObject({ share: 1, tailTypes: 2, retained: 2, types: 7, maxTailCount: 1, tieCut: false });
  });

  it('another quantile: half of the types', () => {
    // Tail = {11, 12, 15, 13}; retained 12, 15 → 2/4.
    const t = tailRetention(smp, ref, { quantile: 0.5 });
    expect(Array.from(t.tail)).toEqual([11, 12, 15, 13]);
    expect(t).toMatchObject({ share: 0.5, maxTailCount: 2, tieCut: false });
  });

  it('the reference retains all of its own tail; an empty sample none', () => {
    expect(tailRetention(ref, ref).share).toBe(1);
    expect(tailRetention(corpusOf([[]]), ref).share).toBe(0);
  });

  it('works with ids far above a dense-array range', () => {
    // Counts: 4e9:3, 7:1, 5e8:2 → 3 types, tail = ceil(3/4) = 1 type = {7}.
    const big = corpusOf([[4e9, 4e9, 7, 5e8, 4e9, 5e8]]);
    const t = tailRetention(corpusOf([[7]]), big);
    expect(Array.from(t.tail)).toEqual([7]);
    expect(t.share).toBe(1);
    expect(Array.from(tailRetention(corpusOf([[5e8]]), big, { quantile: 0.6 }).tail)).toEqual([7, 5e8]);
  });

  it('rejects an empty reference and a bad quantile', () => {
    expect(() => tailRetention(smp, corpusOf([[], []]))).toThrow(
      expect.objectContaining({ code: 'E_CORPUS_EMPTY' }) as unknown as Error,
    );
    expect(() => tailRetention(smp, ref, { quantile: 0 })).toThrow(
      expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as unknown as Error,
    );
  });
});
