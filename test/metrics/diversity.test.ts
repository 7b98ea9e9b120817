import { describe, expect, it } from '@jest/globals';
import { countRepeatedSequences, diversity } from '../../src/metrics/index.js';
import { corpusOf, randomCorpus } from './helpers.js';

describe('diversity', () => {
  it('hand-computed values on a toy sample', () => {
    // S1 = [3 4 3 4], S2 = [5 3], S3 = [3 4 3 4], S4 = [], S5 = []
    // tokens: 4 + 2 + 4 = 10 in 5 sequences → meanLength 2
    // counts: 3 → 5, 4 → 4, 5 → 1 → H = −(½ ln ½ + 0.4 ln 0.4 + 0.1 ln 0.1)
    // distinct-1 = 3 types / 10 tokens
    // bigrams (inside sequences): S1 (3,4)(4,3)(3,4), S2 (5,3), S3 as S1 → 7 in all,
    //   distinct {(3,4),(4,3),(5,3)} = 3 → 3/7   (no (4,5) across the S1|S2 boundary)
    // trigrams: S1 (3,4,3)(4,3,4), S2 none, S3 as S1 → 4 in all, 2 distinct → ½
    // repeated: S3 copies S1, S5 copies S4 → 2 of 5 = 0.4
    const d = diversity(corpusOf([[3, 4, 3, 4], [5, 3], [3, 4, 3, 4], [], []]));
    expect(d.unigramEntropy).toBeCloseTo(-(0.5 * Math.log(0.5) + 0.4 * Math.log(0.4) + 0.1 * Math.log(0.1)), 14);
    expect(d.distinct1).toBe(0.3);
    expect(d.distinct2).toBe(3 / 7);
    expect(d.distinct3).toBe(0.5);
    expect(d.meanLength).toBe(2);
    expect(d.repeatedShare).toBe(0.4);
    expect(d).toMatchObject({ sequences: 5, tokens: 10, repeated: 2 });
  });

  it('a uniform sample over 4 types has entropy ln 4; a single type has 0', () => {
    expect(diversity(corpusOf([[3, 4], [5, 6]])).unigramEntropy).toBeCloseTo(Math.log(4), 15);
    const one = diversity(corpusOf([[7, 7, 7]]));
    expect(one.unigramEntropy).toBe(0);
    expect(one.distinct1).toBe(1 / 3);
    expect(one.distinct2).toBe(1 / 2);
    expect(one.distinct3).toBe(1);
  });

  it('an empty sample gives zeros, not NaN', () => {
    expect(diversity(corpusOf([]))).toEqual({
      unigramEntropy: 0,
      distinct1: 0,
      distinct2: 0,
      distinct3: 0,
      meanLength: 0,
      repeatedShare: 0,
      sequences: 0,
      tokens: 0,
      repeated: 0,
    });
  });
});

describe('duplicate detection', () => {
  it('only exact copies count: permutations, prefixes and extensions do not', () => {
    // [3,4] (new) [4,3] (new) [3,4] (dup) [3,4,5] (new) [3] (new) [3,4] (dup) [3] (dup)
    expect(countRepeatedSequences(corpusOf([[3, 4], [4, 3], [3, 4], [3, 4, 5], [3], [3, 4], [3]]))).toBe(3);
    expect(countRepeatedSequences(corpusOf([[0], [0, 0], [0, 0, 0]]))).toBe(0);
  });

  it('k copies of a sequence count k − 1, and agrees with a naive count on random data', () => {
    expect(countRepeatedSequences(corpusOf([[9, 9], [9, 9], [9, 9], [9, 9]]))).toBe(3);
    const seqs = randomCorpus(11, 3000, 3, [3, 4, 5]);
    const seen = new Set<string>();
    let dup = 0;
    for (const s of seqs) {
      const key = s.join(',');
      if (seen.has(key)) dup++;
      else seen.add(key);
    }
    expect(dup).toBeGreaterThan(2000); // at most 1 + 3 + 9 + 27 = 40 distinct sequences
    expect(countRepeatedSequences(corpusOf(seqs))).toBe(dup);
    expect(diversity(corpusOf(seqs)).repeatedShare).toBe(dup / seqs.length);
  });
});
