/**
 * Probe contexts and empirical conditionals (docs/theory.md "Objects" and "Quantities reported per
 * generation": the probe set X, its weights π(x), and emp_T(v|x) = c_T(x,v) / c_T(x)).
 *
 * Contexts are fixed-width rows of `width` ids, the history of a position left-padded with BOS:
 * for width 2 and a sequence `BOS a b c EOS` the positions a, b, c, EOS have contexts
 * [BOS,BOS], [BOS,a], [a,b], [b,c]. [BOS,BOS] *is* the context "BOS" of docs/theory.md (the repeated
 * BOS add nothing): the padded form is just its canonical fixed-width spelling, so every context of
 * an order-(width+1) n-gram model has exactly one row. Width 0 is the unigram model: a single,
 * empty context that every position has.
 */
import { CollapseError } from '../errors.js';
import { isTyped } from '../util/typed.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';
import {
  DEFAULT_BOS,
  DEFAULT_EOS,
  checkCorpus,
  checkInt,
  checkTokenId,
  fillPadded,
  positionCount,
  sequenceCount,
} from './corpus-view.js';
import { type CountTable, makeCountTable, maxOf } from './tuple-table.js';

/** Widest context accepted (an n-gram of order 33); only a sanity bound. */
export const MAX_CONTEXT_WIDTH = 32;

export interface ProbeOptions {
  /** Context width: the n-gram order minus one (≥ 0). */
  width: number;
  /** Keep at most this many contexts (the most frequent ones). */
  k: number;
  /** BOS id used for left padding (default 1). */
  bos?: number;
}

export interface ProbeSet {
  /** The chosen contexts, row-major: K' rows × width ids (K' = min(k, distinct contexts)). */
  contexts: Uint32Array;
  /** π(x) = c(x) / (positions of the corpus), one per row; Σ weights ≤ 1. */
  weights: Float64Array;
  /** c(x): number of positions with that context, one per row. */
  counts: Float64Array;
  /** Context width of the rows. */
  width: number;
  /** Positions of the corpus (tokens + one EOS per sequence): the denominator of π. */
  positions: number;
  /** Number of distinct contexts in the corpus. */
  distinctContexts: number;
  /** Σ weights: the share of the corpus' positions that the probes cover. */
  coverage: number;
}

/**
 * Counts every context of width `width` over all positions of `corpus` (targets t1 … tm and EOS;
 * the EOS id only matters as a target, so it is not needed here).
 */
function countContexts(corpus: TokenCorpus, width: number, bos: number, maxLen: number): CountTable {
  const nseq = sequenceCount(corpus);
  // First size only (the table doubles as needed): contexts ≤ positions.
  const expected = width === 0 ? 1 : Math.min(positionCount(corpus), 1 << 18);
  const table = makeCountTable(width, Math.max(maxOf(corpus.tokens), bos), expected);
  const buf = new Uint32Array(width + maxLen + 1);
  for (let i = 0; i < nseq; i++) {
    const m = fillPadded(corpus, i, buf, width, bos, 0);
    // Position j (0 ≤ j ≤ m) has context buf[j .. j+width).
    for (let j = 0; j <= m; j++) table.add(buf, j, 1);
  }
  return table;
}

/**
 * The K most frequent contexts of `corpus` for an n-gram of order width+1, with their weights
 * π(x) = c(x) / positions.
 *
 * Order and ties (deterministic): by count descending, then by the context row compared
 * lexicographically as unsigned ids, first (oldest, leftmost) id first. So [1,1] < [1,5] < [2,0].
 * If the corpus has fewer than k distinct contexts, all of them are returned.
 *
 * Throws E_CORPUS_EMPTY when the corpus has no positions (no sequences), since π is undefined.
 * Cost: one hash-table pass over the positions plus O(D log k) for the selection (D distinct).
 */
export function probeContexts(corpus: TokenCorpus, options: ProbeOptions): ProbeSet {
  const maxLen = checkCorpus(corpus, 'probeContexts').maxLength;
  if (options === null || typeof options !== 'object') {
    throw new CollapseError('E_BAD_ARGUMENT', 'probeContexts: expected options { width, k, bos? }');
  }
  const width = checkInt('width', options.width, 0, MAX_CONTEXT_WIDTH);
  const k = checkInt('k', options.k, 0, 0x7fffffff);
  const bos = checkTokenId(options.bos ?? DEFAULT_BOS, 'bos');
  const positions = positionCount(corpus);
  if (positions === 0) {
    throw new CollapseError('E_CORPUS_EMPTY', 'probeContexts: the corpus has no sequences, so no positions to weight');
  }

  const table = countContexts(corpus, width, bos, maxLen);
  const order = topEntries(table, k);
  const kk = order.length;

  const contexts = new Uint32Array(kk * width);
  const weights = new Float64Array(kk);
  const counts = new Float64Array(kk);
  let coverage = 0;
  for (let r = 0; r < kk; r++) {
    const h = order[r]!;
    table.writeTuple(h, contexts, r * width);
    const c = table.count(h);
    counts[r] = c;
    weights[r] = c / positions;
    coverage += c;
  }
  return { contexts, weights, counts, width, positions, distinctContexts: table.size, coverage: coverage / positions };
}

/**
 * Handles of the k best entries of `table`, best first, where "a better than b" means a higher
 * count, or an equal count and a lexicographically smaller tuple. A bounded heap (worst at the
 * root) keeps this O(D log k), and almost always one comparison per entry.
 */
function topEntries(table: CountTable, k: number): number[] {
  const better = (a: number, b: number): boolean => {
    const ca = table.count(a);
    const cb = table.count(b);
    if (ca !== cb) return ca > cb;
    return table.compareTuples(a, b) < 0;
  };
  const cmp = (a: number, b: number): number => (a === b ? 0 : better(a, b) ? -1 : 1);
  const limit = table.handleLimit;

  if (k >= table.size) {
    const all: number[] = [];
    for (let h = 0; h < limit; h++) if (table.used(h)) all.push(h);
    return all.sort(cmp);
  }
  if (k === 0) return [];

  const heap = new Int32Array(k);
  let size = 0;
  const siftDown = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let worst = i;
      if (l < size && better(heap[worst]!, heap[l]!)) worst = l;
      if (r < size && better(heap[worst]!, heap[r]!)) worst = r;
      if (worst === i) return;
      const t = heap[i]!;
      heap[i] = heap[worst]!;
      heap[worst] = t;
      i = worst;
    }
  };
  for (let h = 0; h < limit; h++) {
    if (!table.used(h)) continue;
    if (size < k) {
      // Push and sift up: a parent must be worse than its children.
      let i = size++;
      heap[i] = h;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (!better(heap[p]!, heap[i]!)) break;
        const t = heap[p]!;
        heap[p] = heap[i]!;
        heap[i] = t;
        i = p;
      }
    } else if (better(h, heap[0]!)) {
      heap[0] = h;
      siftDown(0);
    }
  }
  return Array.from(heap.subarray(0, size)).sort(cmp);
}

export interface EmpiricalRows {
  /** emp_T(v|x), K × vocabSize row-major; a row of zeros where c_T(x) = 0. */
  rows: Float64Array;
  /** c_T(x), one per context row. */
  counts: Float64Array;
  /** Positions of T (tokens + one EOS per sequence); π_T(x) = counts[x] / positions. */
  positions: number;
}

/**
 * Empirical conditionals of `corpus` on given contexts: emp_T(v|x) = c_T(x,v) / c_T(x) over the
 * positions t1 … tm, EOS of every sequence (BOS is never a target).
 *
 * `contexts` holds K rows of `width` ids, BOS-left-padded as `probeContexts` returns them (width 0:
 * pass an empty array; there is then exactly one, empty context, K = 1). Rows may repeat; each
 * copy gets the same values. Memory: K × vocabSize × 8 bytes for `rows`.
 *
 * Throws E_TOKEN_RANGE if a token of the corpus (or eos) is ≥ vocabSize.
 */
export function empiricalRows(
  corpus: TokenCorpus,
  contexts: Uint32Array,
  width: number,
  vocabSize: number,
  bos: number = DEFAULT_BOS,
  eos: number = DEFAULT_EOS,
): EmpiricalRows {
  const maxLen = checkCorpus(corpus, 'empiricalRows').maxLength;
  checkInt('width', width, 0, MAX_CONTEXT_WIDTH);
  checkInt('vocabSize', vocabSize, 1, 0x7fffffff);
  checkTokenId(bos, 'bos');
  checkTokenId(eos, 'eos');
  if (!(isTyped(contexts, 'Uint32Array'))) {
    throw new CollapseError('E_BAD_ARGUMENT', 'empiricalRows: contexts must be a Uint32Array');
  }
  if (eos >= vocabSize) {
    throw new CollapseError('E_TOKEN_RANGE', `empiricalRows: eos id ${eos} is outside the vocabulary of ${vocabSize}`);
  }
  let K: number;
  if (width === 0) {
    if (contexts.length !== 0) {
      throw new CollapseError('E_BAD_ARGUMENT', 'empiricalRows: width 0 takes an empty contexts array');
    }
    K = 1;
  } else {
    if (contexts.length % width !== 0) {
      throw new CollapseError(
        'E_BAD_ARGUMENT',
        `empiricalRows: contexts length ${contexts.length} is not a multiple of width ${width}`,
      );
    }
    K = contexts.length / width;
  }
  const { tokens } = corpus;
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i]! >= vocabSize) {
      throw new CollapseError(
        'E_TOKEN_RANGE',
        `empiricalRows: token ${tokens[i]} at index ${i} is outside the vocabulary of ${vocabSize}`,
      );
    }
  }

  // Index the probe contexts. Every row is inserted first (handles are stable once insertion is
  // over); then each row learns the first row with the same context, which collects its counts.
  const table = makeCountTable(width, maxOf(contexts), Math.max(16, K));
  for (let r = 0; r < K; r++) table.add(contexts, r * width, 0);
  const handleRow = new Int32Array(table.handleLimit).fill(-1);
  const firstRow = new Int32Array(K);
  for (let r = 0; r < K; r++) {
    const h = table.find(contexts, r * width);
    if (handleRow[h] === -1) handleRow[h] = r;
    firstRow[r] = handleRow[h]!;
  }

  const V = vocabSize;
  const positions = positionCount(corpus);
  const rows = new Float64Array(K * V);
  const counts = new Float64Array(K);
  // Cells that became non-zero, so normalising costs O(matches) rather than O(K·V).
  const touched = new Float64Array(Math.min(positions, K * V));
  let nTouched = 0;
  const buf = new Uint32Array(width + maxLen + 1);
  const nseq = sequenceCount(corpus);
  for (let i = 0; i < nseq; i++) {
    const m = fillPadded(corpus, i, buf, width, bos, eos);
    for (let j = 0; j <= m; j++) {
      // Context of position j: buf[j .. j+width); its target: buf[width + j].
      const h = table.find(buf, j);
      if (h < 0) continue;
      const r = handleRow[h]!;
      const cell = r * V + buf[width + j]!;
      if (rows[cell] === 0) touched[nTouched++] = cell;
      rows[cell]! += 1;
      counts[r]! += 1;
    }
  }

  // emp(v|x) = c(x,v) · (1 / c(x)), on the cells that hold a count. Multiplying by the reciprocal
  // (rather than dividing) is the n-gram engine's own operation for an MLE row, so emp_D and the
  // rows of an MLE model fitted on D agree bit for bit (generation 0 then reports TV = KL = 0 exactly).
  for (let t = 0; t < nTouched; t++) {
    const cell = touched[t]!;
    rows[cell] = rows[cell]! * (1 / counts[Math.floor(cell / V)]!);
  }
  // Repeated context rows: a copy of their first row.
  for (let r = 0; r < K; r++) {
    const first = firstRow[r]!;
    if (first === r) continue;
    rows.copyWithin(r * V, first * V, first * V + V);
    counts[r] = counts[first]!;
  }
  return { rows, counts, positions };
}
