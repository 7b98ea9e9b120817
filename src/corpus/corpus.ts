/**
 * The corpus store: a TokenCorpus (tokens + CSR offsets, no BOS/EOS) plus one provenance value
 * per sequence. Memory: 4 bytes per token (Uint32 tokens) + 8 bytes per sequence (a Uint32 offset
 * and an Int32 provenance) + 4 bytes — within the 5-bytes-per-token budget plus per-sequence
 * overhead.
 *
 * Provenance: REAL (-1) for real data; k ≥ 0 for a sequence sampled by the model of generation k.
 * Sizes are counted in positions: every sequence has (its tokens + 1) positions, the EOS included
 * (docs/theory.md: BOS is never a target).
 */
import { CollapseError } from '../errors.js';
import { isTyped } from '../util/typed.js';
import type { TokenCorpus } from './token-corpus.js';
import { Rng } from './rng.js';

/** Provenance value of real (non-generated) sequences. */
export const REAL = -1;

export interface Corpus extends TokenCorpus {
  /** One per sequence: REAL (-1) or the generation k ≥ 0 whose model sampled it. */
  provenance: Int32Array;
}

/** Number of sequences. */
export function sequenceCount(c: TokenCorpus): number {
  return c.offsets.length - 1;
}

/** Number of positions: tokens + one EOS per sequence. */
export function corpusPositions(c: TokenCorpus): number {
  return c.tokens.length + (c.offsets.length - 1);
}

/** A corpus with no sequences. */
export function emptyCorpus(): Corpus {
  return { tokens: new Uint32Array(0), offsets: new Uint32Array(1), provenance: new Int32Array(0) };
}

/**
 * Checks the CSR invariants of a TokenCorpus (E_OFFSETS): typed arrays, offsets[0] = 0,
 * non-decreasing offsets, last offset = tokens.length. O(sequences).
 */
export function validateTokenCorpus(c: TokenCorpus, what = 'corpus'): void {
  if (!c || !(isTyped(c.tokens, 'Uint32Array')) || !(isTyped(c.offsets, 'Uint32Array'))) {
    throw new CollapseError('E_BAD_ARGUMENT', `${what} must have Uint32Array tokens and offsets`);
  }
  const off = c.offsets;
  if (off.length < 1 || off[0] !== 0) {
    throw new CollapseError('E_OFFSETS', `${what}: offsets must start with 0 (got length ${off.length})`);
  }
  for (let i = 1; i < off.length; i++) {
    if ((off[i] as number) < (off[i - 1] as number)) {
      throw new CollapseError('E_OFFSETS', `${what}: offsets decrease at sequence ${i - 1}`);
    }
  }
  if (off[off.length - 1] !== c.tokens.length) {
    throw new CollapseError('E_OFFSETS', `${what}: last offset ${off[off.length - 1]} ≠ tokens.length ${c.tokens.length}`);
  }
}

/** Checks a Corpus: the CSR invariants plus one provenance value ≥ -1 per sequence. */
export function validateCorpus(c: Corpus, what = 'corpus'): void {
  validateTokenCorpus(c, what);
  if (!(isTyped(c.provenance, 'Int32Array')) || c.provenance.length !== c.offsets.length - 1) {
    throw new CollapseError('E_BAD_ARGUMENT', `${what}: provenance must be an Int32Array with one value per sequence`);
  }
  for (let i = 0; i < c.provenance.length; i++) {
    if ((c.provenance[i] as number) < REAL) {
      throw new CollapseError('E_BAD_ARGUMENT', `${what}: provenance ${c.provenance[i]} of sequence ${i} is below -1`);
    }
  }
}

function checkGeneration(generation: number): void {
  if (typeof generation !== 'number' || generation % 1 !== 0 || generation < REAL || generation > 0x7fffffff) {
    throw new CollapseError('E_BAD_ARGUMENT', `provenance must be -1 (real) or a generation ≥ 0, got ${String(generation)}`);
  }
}

function checkTotal(tokens: number): void {
  if (tokens > 4294967295) {
    throw new CollapseError('E_BAD_ARGUMENT', `corpus would hold ${tokens} tokens; offsets are Uint32 (at most 2^32 − 1)`);
  }
}

/** Concatenates corpora in order (sequences keep their provenance). */
export function concatCorpora(list: readonly Corpus[]): Corpus {
  let ntok = 0;
  let nseq = 0;
  list.forEach((c, i) => {
    validateCorpus(c, `corpus ${i}`);
    ntok += c.tokens.length;
    nseq += c.offsets.length - 1;
  });
  checkTotal(ntok);
  const tokens = new Uint32Array(ntok);
  const offsets = new Uint32Array(nseq + 1);
  const provenance = new Int32Array(nseq);
  let t = 0;
  let s = 0;
  for (const c of list) {
    tokens.set(c.tokens, t);
    provenance.set(c.provenance, s);
    const n = c.offsets.length - 1;
    for (let i = 1; i <= n; i++) offsets[s + i] = t + (c.offsets[i] as number);
    t += c.tokens.length;
    s += n;
  }
  return { tokens, offsets, provenance };
}

/**
 * A corpus from token arrays, one per sequence. `provenance`: one value for all sequences
 * (default REAL) or one per sequence.
 */
export function fromSequences(sequences: ReadonlyArray<ArrayLike<number>>, provenance: number | ArrayLike<number> = REAL): Corpus {
  const nseq = sequences.length;
  let ntok = 0;
  for (const s of sequences) ntok += s.length;
  checkTotal(ntok);
  const tokens = new Uint32Array(ntok);
  const offsets = new Uint32Array(nseq + 1);
  const prov = new Int32Array(nseq);
  if (typeof provenance === 'number') {
    checkGeneration(provenance);
    prov.fill(provenance);
  } else {
    if (provenance.length !== nseq) {
      throw new CollapseError('E_BAD_ARGUMENT', `fromSequences: ${provenance.length} provenance values for ${nseq} sequences`);
    }
    for (let i = 0; i < nseq; i++) {
      const p = provenance[i] as number;
      checkGeneration(p);
      prov[i] = p;
    }
  }
  let t = 0;
  for (let i = 0; i < nseq; i++) {
    const seq = sequences[i] as ArrayLike<number>;
    for (let j = 0; j < seq.length; j++) {
      const v = seq[j] as number;
      if (v >>> 0 !== v) {
        throw new CollapseError('E_BAD_ARGUMENT', `fromSequences: token ${String(v)} (sequence ${i}) is not a uint32 id`);
      }
      tokens[t++] = v;
    }
    offsets[i + 1] = t;
  }
  return { tokens, offsets, provenance: prov };
}

/** `corpus` followed by the sequences of `sampled`, marked as produced by `generation`. */
export function appendSynthetic(corpus: Corpus, sampled: TokenCorpus, generation: number): Corpus {
  if (!Number.isInteger(generation) || generation < 0 || generation > 0x7fffffff) {
    throw new CollapseError('E_BAD_ARGUMENT', `appendSynthetic: generation must be an integer ≥ 0, got ${String(generation)}`);
  }
  validateTokenCorpus(sampled, 'sampled corpus');
  const prov = new Int32Array(sampled.offsets.length - 1).fill(generation);
  return concatCorpora([corpus, { tokens: sampled.tokens, offsets: sampled.offsets, provenance: prov }]);
}

/**
 * The sub-corpus of the given sequence indices, in the order given (copies).
 * Indices must be integers in [0, sequences).
 */
export function selectSequences(corpus: Corpus, indices: ArrayLike<number>): Corpus {
  const nseq = corpus.offsets.length - 1;
  const off = corpus.offsets;
  let ntok = 0;
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i] as number;
    if (s >>> 0 !== s || s >= nseq) {
      throw new CollapseError('E_BAD_ARGUMENT', `selectSequences: index ${String(s)} outside [0, ${nseq})`);
    }
    ntok += (off[s + 1] as number) - (off[s] as number);
  }
  checkTotal(ntok);
  const tokens = new Uint32Array(ntok);
  const offsets = new Uint32Array(indices.length + 1);
  const provenance = new Int32Array(indices.length);
  let t = 0;
  for (let i = 0; i < indices.length; i++) {
    const s = indices[i] as number;
    const a = off[s] as number;
    const b = off[s + 1] as number;
    tokens.set(corpus.tokens.subarray(a, b), t);
    t += b - a;
    offsets[i + 1] = t;
    provenance[i] = corpus.provenance[s] as number;
  }
  return { tokens, offsets, provenance };
}

/**
 * Indices of a uniform random subset of whole sequences, drawn without replacement until the
 * subset holds at least `targetPositions` positions (all sequences if the corpus has fewer).
 * Returned sorted ascending (corpus order).
 *
 * Randomness: a partial Fisher–Yates shuffle over [0, sequences) driven by
 * `new Rng(seed, 'corpus.subsample')`. Same corpus, seed and target ⇒ same indices. To give each
 * generation its own stream, pass a derived seed, e.g. `deriveSeed(runSeed, generation)`.
 */
export function subsampleIndices(corpus: TokenCorpus, targetPositions: number, seed: number): Uint32Array {
  if (typeof targetPositions !== 'number' || !(targetPositions >= 0)) {
    throw new CollapseError('E_BAD_ARGUMENT', `subsample target must be a number of positions ≥ 0, got ${String(targetPositions)}`);
  }
  if (!Number.isSafeInteger(seed)) {
    throw new CollapseError('E_BAD_ARGUMENT', `subsample seed must be a safe integer, got ${String(seed)}`);
  }
  const nseq = corpus.offsets.length - 1;
  const off = corpus.offsets;
  if (targetPositions >= corpusPositions(corpus)) {
    // Every sequence is needed; no draw happens.
    const all = new Uint32Array(nseq);
    for (let i = 0; i < nseq; i++) all[i] = i;
    return all;
  }
  const rng = new Rng(seed, 'corpus.subsample');
  const perm = new Uint32Array(nseq);
  for (let i = 0; i < nseq; i++) perm[i] = i;
  let held = 0;
  let k = 0;
  // Partial Fisher–Yates: step k swaps a uniform pick from perm[k..n) into slot k.
  while (held < targetPositions && k < nseq) {
    const j = k + rng.below(nseq - k);
    const s = perm[j] as number;
    perm[j] = perm[k] as number;
    perm[k] = s;
    held += (off[s + 1] as number) - (off[s] as number) + 1;
    k++;
  }
  return perm.slice(0, k).sort();
}

/**
 * A uniform random subset of whole sequences without replacement holding ≥ targetPositions
 * positions (see subsampleIndices), with the chosen sequences in their original corpus order.
 */
export function subsampleSequences(corpus: Corpus, targetPositions: number, seed: number): Corpus {
  validateCorpus(corpus);
  return selectSequences(corpus, subsampleIndices(corpus, targetPositions, seed));
}

export interface ProvenanceShares {
  /** Share of positions from real data. */
  real: number;
  /** generation → share of positions it sampled (only generations present). */
  byGeneration: Map<number, number>;
  /** Total positions (the denominator). With 0 positions every share is 0. */
  positions: number;
  /** Positions per provenance value (-1 = real), the numerators. */
  counts: Map<number, number>;
}

/** Shares of positions by provenance; `real` + Σ byGeneration = 1 for a non-empty corpus. */
export function provenanceShares(corpus: Corpus): ProvenanceShares {
  validateCorpus(corpus);
  const counts = new Map<number, number>();
  const off = corpus.offsets;
  const prov = corpus.provenance;
  for (let i = 0; i < prov.length; i++) {
    const p = prov[i] as number;
    const n = (off[i + 1] as number) - (off[i] as number) + 1;
    counts.set(p, (counts.get(p) ?? 0) + n);
  }
  const positions = corpusPositions(corpus);
  const byGeneration = new Map<number, number>();
  const gens = [...counts.keys()].filter((g) => g !== REAL).sort((a, b) => a - b);
  for (const g of gens) byGeneration.set(g, (counts.get(g) as number) / positions);
  const real = positions === 0 ? 0 : (counts.get(REAL) ?? 0) / positions;
  return { real, byGeneration, positions, counts };
}
