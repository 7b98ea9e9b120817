/**
 * Diversity of a sample S_n (docs/theory.md "Quantities reported per generation", last item): unigram
 * entropy, distinct-1/2/3, mean sequence length, share of repeated sequences.
 *
 * Documented choices:
 * - Everything is over the stored tokens t1 … tm of each sequence: BOS and EOS are left out
 *   (EOS occurs once per sequence, so counting it would mostly measure the mean length again).
 * - unigramEntropy: H = −Σ_v f(v) ln f(v) in nats, f(v) = count of v / total tokens.
 * - distinct-n (Li et al., 2016): distinct n-grams / total n-grams, n-grams taken inside each
 *   sequence only (never across a sequence boundary, no padding); a sequence of m tokens gives
 *   max(0, m − n + 1) of them.
 * - repeatedShare: the share of sequences that are an exact copy (same tokens, same length) of an
 *   earlier sequence of the set; k copies of one sequence count k − 1. Two empty sequences are
 *   copies of each other.
 * - Ratios with a zero denominator (no tokens, no n-grams, no sequences) are reported as 0.
 */
import type { TokenCorpus } from '../corpus/token-corpus.js';
import { checkCorpus, sequenceCount } from './corpus-view.js';
import { makeCountTable, maxOf } from './tuple-table.js';
import { typeCounts } from './type-counts.js';

export interface DiversityStats {
  /** Unigram entropy of the tokens, nats (EOS excluded). */
  unigramEntropy: number;
  /** Distinct unigrams / total unigrams (= types / tokens). */
  distinct1: number;
  /** Distinct bigrams / total bigrams, within sequences. */
  distinct2: number;
  /** Distinct trigrams / total trigrams, within sequences. */
  distinct3: number;
  /** Tokens per sequence, EOS excluded. */
  meanLength: number;
  /** Share of sequences that duplicate an earlier sequence exactly. */
  repeatedShare: number;
  /** Number of sequences. */
  sequences: number;
  /** Number of tokens (EOS excluded). */
  tokens: number;
  /** Number of sequences that duplicate an earlier one (repeatedShare × sequences). */
  repeated: number;
}

const ratio = (a: number, b: number): number => (b === 0 ? 0 : a / b);

/** Distinct n-grams / total n-grams within the sequences of `corpus`. */
function distinctN(corpus: TokenCorpus, n: number, maxId: number): number {
  const { tokens, offsets } = corpus;
  const nseq = sequenceCount(corpus);
  const table = makeCountTable(n, maxId, Math.min(tokens.length, 1 << 18));
  let total = 0;
  for (let i = 0; i < nseq; i++) {
    const s = offsets[i]!;
    const last = offsets[i + 1]! - n; // last start index of an n-gram inside the sequence
    for (let j = s; j <= last; j++) {
      table.add(tokens, j, 1);
      total++;
    }
  }
  return ratio(table.size, total);
}

/** Number of sequences equal to an earlier sequence (hash of the contents + exact comparison). */
export function countRepeatedSequences(corpus: TokenCorpus): number {
  checkCorpus(corpus, 'countRepeatedSequences');
  const { tokens, offsets } = corpus;
  const nseq = sequenceCount(corpus);
  let nslots = 16;
  while (nslots < nseq * 2) nslots *= 2;
  const mask = nslots - 1;
  const slots = new Int32Array(nslots); // sequence index + 1; 0 = empty
  const hashes = new Int32Array(nseq);
  let repeated = 0;
  for (let i = 0; i < nseq; i++) {
    const s = offsets[i]!;
    const e = offsets[i + 1]!;
    // MurmurHash3-style hash of (length, tokens).
    let h = 0x2f0b3c5d ^ (e - s);
    for (let j = s; j < e; j++) {
      let k = Math.imul(tokens[j]!, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      h ^= Math.imul(k, 0x1b873593);
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    hashes[i] = h;

    let slot = h & mask;
    let dup = false;
    for (;;) {
      const o1 = slots[slot]!;
      if (o1 === 0) break;
      const o = o1 - 1;
      if (hashes[o] === h) {
        const os = offsets[o]!;
        const oe = offsets[o + 1]!;
        if (oe - os === e - s) {
          let same = true;
          for (let j = 0; j < e - s; j++) {
            if (tokens[os + j] !== tokens[s + j]) {
              same = false;
              break;
            }
          }
          if (same) {
            dup = true;
            break;
          }
        }
      }
      slot = (slot + 1) & mask;
    }
    if (dup) repeated++;
    else slots[slot] = i + 1;
  }
  return repeated;
}

/** Diversity statistics of a sample (see the file comment for the exact definitions). */
export function diversity(sample: TokenCorpus): DiversityStats {
  checkCorpus(sample, 'diversity');
  const nseq = sequenceCount(sample);
  const ntok = sample.tokens.length;

  const { ids, counts } = typeCounts(sample.tokens);
  const maxId = ids.length === 0 ? 0 : ids[ids.length - 1]!;
  let entropy = 0;
  for (let i = 0; i < counts.length; i++) {
    const f = counts[i]! / ntok;
    entropy -= f * Math.log(f);
  }
  const repeated = countRepeatedSequences(sample);
  return {
    unigramEntropy: entropy === 0 ? 0 : entropy, // avoid −0 for a single type
    distinct1: ratio(counts.length, ntok),
    distinct2: distinctN(sample, 2, maxId),
    distinct3: distinctN(sample, 3, maxId),
    meanLength: ratio(ntok, nseq),
    repeatedShare: ratio(repeated, nseq),
    sequences: nseq,
    tokens: ntok,
    repeated,
  };
}
