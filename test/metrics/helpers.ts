/** Test helpers for the metrics tests: build corpora from arrays, a seeded PRNG, naive references. */
import type { TokenCorpus } from '../../src/models/types.js';
import { rng } from '../helpers/reference-ngram.js';

/** A TokenCorpus from an array of sequences (token ids without BOS/EOS). */
export function corpusOf(seqs: number[][]): TokenCorpus {
  const offsets = new Uint32Array(seqs.length + 1);
  let n = 0;
  seqs.forEach((s, i) => {
    n += s.length;
    offsets[i + 1] = n;
  });
  const tokens = new Uint32Array(n);
  let w = 0;
  for (const s of seqs) for (const t of s) tokens[w++] = t;
  return { tokens, offsets };
}

/** Mulberry32 (one copy, in test/helpers/reference-ngram.ts). */
export { rng };

/** Random corpus: nseq sequences of length 0..maxLen, ids drawn from `ids` (skewed to the front). */
export function randomCorpus(seed: number, nseq: number, maxLen: number, ids: number[]): number[][] {
  const r = rng(seed);
  const out: number[][] = [];
  for (let i = 0; i < nseq; i++) {
    const len = Math.floor(r() * (maxLen + 1));
    const s: number[] = [];
    for (let j = 0; j < len; j++) s.push(ids[Math.floor(r() * r() * ids.length)]!);
    out.push(s);
  }
  return out;
}

/**
 * Naive (string-keyed) n-gram windows of the padded sequence BOS×pad t1..tm EOS:
 * for each position j, the `width` ids before the target and the target.
 */
export function naivePositions(seqs: number[][], width: number, bos: number, eos: number): { ctx: number[]; target: number }[] {
  const out: { ctx: number[]; target: number }[] = [];
  for (const s of seqs) {
    const padded = [...Array<number>(width).fill(bos), ...s, eos];
    for (let j = 0; j <= s.length; j++) out.push({ ctx: padded.slice(j, j + width), target: padded[j + width]! });
  }
  return out;
}
