import { describe, expect, it } from '@jest/globals';
import { PackedTable, TupleTable, makeCountTable, packedIdLimit, type CountTable } from '../../src/metrics/index.js';
import { rng } from './helpers.js';

/** All (tuple → count) pairs of a table, as a string-keyed map. */
function contents(t: CountTable): Map<string, number> {
  const out = new Map<string, number>();
  const ids = new Uint32Array(t.width);
  for (let h = 0; h < t.handleLimit; h++) {
    if (!t.used(h)) continue;
    t.writeTuple(h, ids, 0);
    out.set(Array.from(ids).join(','), t.count(h));
  }
  return out;
}

describe('count tables', () => {
  it('packing limits: 2^32 for width ≤ 1, 2^26 for 2, 2^17 for 3, 2^13 for 4', () => {
    expect([0, 1, 2, 3, 4].map(packedIdLimit)).toEqual([2 ** 32, 2 ** 32, 2 ** 26, 2 ** 17, 2 ** 13]);
    expect(makeCountTable(2, 2 ** 26 - 1, 8)).toBeInstanceOf(PackedTable);
    expect(makeCountTable(2, 2 ** 26, 8)).toBeInstanceOf(TupleTable);
    expect(makeCountTable(3, 2 ** 17, 8)).toBeInstanceOf(TupleTable);
  });

  it('packed and tuple tables agree, through growth, with a naive map', () => {
    for (const width of [1, 2, 3]) {
      const limit = packedIdLimit(width);
      // Ids at the very top of the packed range, where rounding would show first.
      const pool = [0, 1, 2, 5, limit - 1, limit - 2, Math.floor(limit / 2)];
      const r = rng(width);
      const src = new Uint32Array(width * 5000);
      for (let i = 0; i < src.length; i++) src[i] = pool[Math.floor(r() * pool.length)]!;
      const packed = new PackedTable(width, 4); // tiny start: forces many doublings
      const tuple = new TupleTable(width, 4);
      const naive = new Map<string, number>();
      for (let i = 0; i < 5000; i++) {
        packed.add(src, i * width, 2);
        tuple.add(src, i * width, 2);
        const key = Array.from(src.subarray(i * width, i * width + width)).join(',');
        naive.set(key, (naive.get(key) ?? 0) + 2);
      }
      expect(packed.size).toBe(naive.size);
      expect(tuple.size).toBe(naive.size);
      expect(contents(packed)).toEqual(naive);
      expect(contents(tuple)).toEqual(naive);
      // find: present tuples are found, with their count.
      for (let i = 0; i < 50; i++) {
        expect(packed.count(packed.find(src, i * width))).toBe(tuple.count(tuple.find(src, i * width)));
      }
    }
  });

  it('find returns −1 for absent tuples, including ids too large to pack', () => {
    const t = new PackedTable(2, 8);
    t.add(Uint32Array.of(3, 4), 0, 1);
    expect(t.find(Uint32Array.of(4, 3), 0)).toBe(-1);
    expect(t.find(Uint32Array.of(3, 4 + 2 ** 26), 0)).toBe(-1); // would alias (3, 4) if unchecked
    expect(() => t.add(Uint32Array.of(2 ** 26, 0), 0, 1)).toThrow(RangeError);
  });

  it('compareTuples is lexicographic (first id first) in both tables', () => {
    for (const t of [new PackedTable(2, 8), new TupleTable(2, 8)] as CountTable[]) {
      for (const tup of [[1, 900], [2, 0], [1, 5]]) t.add(Uint32Array.from(tup), 0, 1);
      // Handles of a PackedTable are stable once insertion is over: find them now.
      const [ha, hb, hc] = [[1, 900], [2, 0], [1, 5]].map((tup) => t.find(Uint32Array.from(tup), 0));
      expect(Math.sign(t.compareTuples(hc!, ha!))).toBe(-1);
      expect(Math.sign(t.compareTuples(ha!, hb!))).toBe(-1);
      expect(t.compareTuples(hb!, hb!)).toBe(0);
    }
  });

  it('width 0: one empty tuple', () => {
    for (const t of [new PackedTable(0, 1), new TupleTable(0, 1)] as CountTable[]) {
      const empty = new Uint32Array(0);
      t.add(empty, 0, 1);
      t.add(empty, 0, 1);
      expect(t.size).toBe(1);
      expect(t.count(t.find(empty, 0))).toBe(2);
    }
  });
});
