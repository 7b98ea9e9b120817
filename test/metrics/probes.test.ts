import { describe, expect, it } from '@jest/globals';
import { CollapseError } from '../../src/errors.js';
import { empiricalRows, probeContexts } from '../../src/metrics/index.js';
import { corpusOf, naivePositions, randomCorpus } from './helpers.js';

// Ids: 0 = <unk>, 1 = BOS, 2 = EOS, words 3, 4, 5. V = 6.
//   A = BOS 3 4 3 EOS   (4 positions)
//   B = BOS 3 4 EOS     (3 positions)
//   C = BOS 4 EOS       (2 positions)          → 9 positions in all.
const toy = corpusOf([[3, 4, 3], [3, 4], [4]]);
const V = 6;

describe('probeContexts', () => {
  it('width 1: counts, weights and the lexicographic tie-break', () => {
    // (context → target) per position:
    //   A: [1]→3, [3]→4, [4]→3, [3]→EOS;  B: [1]→3, [3]→4, [4]→EOS;  C: [1]→4, [4]→EOS
    // c([1]) = 3, c([3]) = 3, c([4]) = 3: a three-way tie, broken by ids → [1], [3], [4].
    const p = probeContexts(toy, { width: 1, k: 2, bos: 1 });
    expect(Array.from(p.contexts)).toEqual([1, 3]);
    expect(Array.from(p.counts)).toEqual([3, 3]);
    expect(Array.from(p.weights)).toEqual([3 / 9, 3 / 9]);
    expect(p.positions).toBe(9);
    expect(p.distinctContexts).toBe(3);
    expect(p.coverage).toBeCloseTo(6 / 9, 15);
  });

  it('width 2: BOS left padding, count order then lexicographic order', () => {
    // A: [1,1]→3, [1,3]→4, [3,4]→3, [4,3]→EOS;  B: [1,1]→3, [1,3]→4, [3,4]→EOS;  C: [1,1]→4, [1,4]→EOS
    // counts: [1,1]=3, [1,3]=2, [3,4]=2, [1,4]=1, [4,3]=1 (5 distinct)
    const p = probeContexts(toy, { width: 2, k: 4 });
    expect(Array.from(p.contexts)).toEqual([1, 1, 1, 3, 3, 4, 1, 4]);
    expect(Array.from(p.counts)).toEqual([3, 2, 2, 1]);
    expect(Array.from(p.weights)).toEqual([3 / 9, 2 / 9, 2 / 9, 1 / 9]);
    expect(p.distinctContexts).toBe(5);
    // Σπ over the chosen probes = 8/9 ≤ 1; with k ≥ 5 every context is chosen and Σπ = 1.
    expect(p.coverage).toBeCloseTo(8 / 9, 15);
    const all = probeContexts(toy, { width: 2, k: 100 });
    expect(all.weights.length).toBe(5);
    expect(all.coverage).toBeCloseTo(1, 15);
    expect(Array.from(all.contexts.subarray(8))).toEqual([4, 3]);
  });

  it('width 0: a single empty context with π = 1; k = 0 gives nothing', () => {
    const p = probeContexts(toy, { width: 0, k: 5 });
    expect(p.contexts.length).toBe(0);
    expect(Array.from(p.weights)).toEqual([1]);
    expect(Array.from(p.counts)).toEqual([9]);
    const none = probeContexts(toy, { width: 2, k: 0 });
    expect(none.weights.length).toBe(0);
    expect(none.coverage).toBe(0);
  });

  it('an empty sequence still has one position (its EOS) with context BOS', () => {
    // [] → [1,1]→EOS ; [3] → [1,1]→3, [1,3]→EOS. 3 positions.
    const p = probeContexts(corpusOf([[], [3]]), { width: 2, k: 10 });
    expect(Array.from(p.contexts)).toEqual([1, 1, 1, 3]);
    expect(Array.from(p.weights)).toEqual([2 / 3, 1 / 3]);
  });

  it('uses the given BOS id for padding', () => {
    const p = probeContexts(corpusOf([[3, 4]]), { width: 2, k: 10, bos: 7 });
    // positions: [7,7]→3, [7,3]→4, [3,4]→EOS
    expect(Array.from(p.contexts)).toEqual([3, 4, 7, 3, 7, 7]);
  });

  // Small ids use the packed tables; 2^20 is too large to pack 3 per double (width 3 falls back to
  // the id-keyed table) and 2^30 too large for 2 (width 2 falls back as well).
  it.each([
    ['small ids', [3, 4, 5, 6, 7, 8, 9, 10, 11, 12]],
    ['ids up to 2^20', [3, 4, 5, 2 ** 20, 6, 7, 2 ** 20 - 1, 8, 9, 10]],
    ['ids up to 2^30', [3, 2 ** 30, 4, 5, 2 ** 26, 6, 7, 8, 2 ** 32 - 1, 10]],
  ])('matches a naive string-keyed count on a random corpus (%s), top-k prefix property', (_name, ids) => {
    const seqs = randomCorpus(42, 400, 12, ids);
    const corpus = corpusOf(seqs);
    for (const width of [1, 2, 3, 5]) {
      const naive = new Map<string, number>();
      const pos = naivePositions(seqs, width, 1, 2);
      for (const { ctx } of pos) naive.set(ctx.join(','), (naive.get(ctx.join(',')) ?? 0) + 1);
      const expected = [...naive.entries()]
        .map(([k, c]) => ({ ids: k.split(',').map(Number), c }))
        .sort((a, b) => {
          if (a.c !== b.c) return b.c - a.c;
          for (let i = 0; i < width; i++) if (a.ids[i] !== b.ids[i]) return a.ids[i]! - b.ids[i]!;
          return 0;
        });
      const K = Math.min(25, naive.size); // width 1 has at most 11 contexts
      const p = probeContexts(corpus, { width, k: 25 });
      expect(p.weights.length).toBe(K);
      expect(p.distinctContexts).toBe(naive.size);
      expect(p.positions).toBe(pos.length);
      for (let r = 0; r < K; r++) {
        expect(Array.from(p.contexts.subarray(r * width, r * width + width))).toEqual(expected[r]!.ids);
        expect(p.counts[r]).toBe(expected[r]!.c);
        expect(p.weights[r]).toBe(expected[r]!.c / pos.length);
      }
      // Asking for fewer probes returns a prefix of the longer list.
      const small = probeContexts(corpus, { width, k: 7 });
      expect(Array.from(small.contexts)).toEqual(Array.from(p.contexts.subarray(0, 7 * width)));
    }
  });

  it('rejects bad input with typed errors', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(CollapseError);
        return (e as CollapseError).code;
      }
      return undefined;
    };
    expect(code(() => probeContexts(corpusOf([]), { width: 2, k: 3 }))).toBe('E_CORPUS_EMPTY');
    expect(code(() => probeContexts(toy, { width: -1, k: 3 }))).toBe('E_BAD_ARGUMENT');
    expect(code(() => probeContexts(toy, { width: 1.5, k: 3 }))).toBe('E_BAD_ARGUMENT');
    expect(code(() => probeContexts(toy, { width: 1, k: -2 }))).toBe('E_BAD_ARGUMENT');
    const bad = { tokens: new Uint32Array([3, 4]), offsets: new Uint32Array([0, 3]) };
    expect(code(() => probeContexts(bad, { width: 1, k: 3 }))).toBe('E_OFFSETS');
    const dec = { tokens: new Uint32Array([3, 4]), offsets: new Uint32Array([0, 2, 1, 2]) };
    expect(code(() => probeContexts(dec, { width: 1, k: 3 }))).toBe('E_OFFSETS');
  });
});

describe('empiricalRows', () => {
  it('width 1: emp(v|x) = c(x,v)/c(x), EOS as a target, BOS never', () => {
    // [1]: targets 3, 3, 4      → p(3) = 2/3, p(4) = 1/3
    // [3]: targets 4, EOS, 4    → p(4) = 2/3, p(EOS) = 1/3
    // [4]: targets 3, EOS, EOS  → p(3) = 1/3, p(EOS) = 2/3
    const { rows, counts, positions } = empiricalRows(toy, new Uint32Array([1, 3, 4]), 1, V, 1, 2);
    expect(positions).toBe(9);
    expect(Array.from(counts)).toEqual([3, 3, 3]);
    expect(Array.from(rows.subarray(0, 6))).toEqual([0, 0, 0, 2 / 3, 1 / 3, 0]);
    expect(Array.from(rows.subarray(6, 12))).toEqual([0, 0, 1 / 3, 0, 2 / 3, 0]);
    expect(Array.from(rows.subarray(12, 18))).toEqual([0, 0, 2 / 3, 1 / 3, 0, 0]);
  });

  it('width 2: unseen contexts give a zero row and c = 0; repeated rows are filled alike', () => {
    // [3,4]: targets 3 (A), EOS (B) → ½, ½.  [1,3]: targets 4, 4 → 1.  [5,5]: never seen.
    const ctx = new Uint32Array([3, 4, 1, 3, 5, 5, 3, 4]);
    const { rows, counts } = empiricalRows(toy, ctx, 2, V);
    expect(Array.from(counts)).toEqual([2, 2, 0, 2]);
    expect(Array.from(rows.subarray(0, 6))).toEqual([0, 0, 0.5, 0.5, 0, 0]);
    expect(Array.from(rows.subarray(6, 12))).toEqual([0, 0, 0, 0, 1, 0]);
    expect(Array.from(rows.subarray(12, 18))).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(rows.subarray(18, 24))).toEqual(Array.from(rows.subarray(0, 6)));
  });

  it('width 0: the unigram distribution over positions (tokens + EOS)', () => {
    // 3 occurs 3×, 4 occurs 3×, EOS 3× out of 9 positions.
    const { rows, counts } = empiricalRows(toy, new Uint32Array(0), 0, V);
    expect(Array.from(counts)).toEqual([9]);
    expect(Array.from(rows)).toEqual([0, 0, 1 / 3, 1 / 3, 1 / 3, 0]);
  });

  it('agrees with probeContexts counts and rows sum to 1 on a random corpus', () => {
    const seqs = randomCorpus(7, 300, 10, [0, 3, 4, 5, 6, 7, 8, 9]);
    const corpus = corpusOf(seqs);
    const p = probeContexts(corpus, { width: 2, k: 30 });
    const e = empiricalRows(corpus, p.contexts, 2, 10);
    expect(Array.from(e.counts)).toEqual(Array.from(p.counts));
    for (let r = 0; r < 30; r++) {
      let s = 0;
      for (let v = 0; v < 10; v++) s += e.rows[r * 10 + v]!;
      expect(s).toBeCloseTo(1, 12);
      expect(e.rows[r * 10 + 1]).toBe(0); // BOS is never a target
    }
    // Cross-check one row against a naive count.
    const pos = naivePositions(seqs, 2, 1, 2);
    const ctx0 = Array.from(p.contexts.subarray(0, 2));
    const hits = pos.filter((q) => q.ctx[0] === ctx0[0] && q.ctx[1] === ctx0[1]);
    for (let v = 0; v < 10; v++) {
      // c(x,v) · (1/c(x)): the engine's MLE operation, so emp_D matches an MLE model bit for bit.
      expect(e.rows[v]).toBe(hits.filter((q) => q.target === v).length * (1 / hits.length));
    }
  });

  it('rejects tokens outside the vocabulary and malformed contexts', () => {
    expect(() => empiricalRows(toy, new Uint32Array([1]), 1, 4)).toThrow( // token 4 ≥ V = 4
      expect.objectContaining({ code: 'E_TOKEN_RANGE' }) as unknown as Error,
    );
    expect(() => empiricalRows(corpusOf([[3]]), new Uint32Array([1]), 1, 4, 1, 9)).toThrow(
      expect.objectContaining({ code: 'E_TOKEN_RANGE' }) as unknown as Error,
    );
    expect(() => empiricalRows(toy, new Uint32Array([1, 2, 3]), 2, V)).toThrow(
      expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as unknown as Error,
    );
    expect(() => empiricalRows(toy, new Uint32Array([1]), 0, V)).toThrow(
      expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as unknown as Error,
    );
  });
});
