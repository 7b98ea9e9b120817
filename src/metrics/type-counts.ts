/**
 * Token-type counts of a token array: the distinct ids in ascending order with their counts.
 * Dense counting when the largest id is small enough (the normal case: ids < vocabulary size),
 * otherwise a sorted copy and run lengths, so any uint32 id works.
 */
export interface TypeCounts {
  /** Distinct ids, ascending. */
  ids: Uint32Array;
  /** counts[i]: occurrences of ids[i]. */
  counts: Float64Array;
}

export function typeCounts(tokens: Uint32Array): TypeCounts {
  const n = tokens.length;
  let max = 0;
  for (let i = 0; i < n; i++) if (tokens[i]! > max) max = tokens[i]!;
  if (n === 0) return { ids: new Uint32Array(0), counts: new Float64Array(0) };

  if (max + 1 <= Math.max(1 << 20, 4 * n)) {
    const dense = new Float64Array(max + 1);
    for (let i = 0; i < n; i++) dense[tokens[i]!]! += 1;
    let distinct = 0;
    for (let v = 0; v <= max; v++) if (dense[v] !== 0) distinct++;
    const ids = new Uint32Array(distinct);
    const counts = new Float64Array(distinct);
    let w = 0;
    for (let v = 0; v <= max; v++) {
      const c = dense[v]!;
      if (c !== 0) {
        ids[w] = v;
        counts[w++] = c;
      }
    }
    return { ids, counts };
  }

  const sorted = tokens.slice().sort(); // TypedArray sort is numeric
  let distinct = 0;
  for (let i = 0; i < n; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) distinct++;
  const ids = new Uint32Array(distinct);
  const counts = new Float64Array(distinct);
  let w = -1;
  for (let i = 0; i < n; i++) {
    if (i === 0 || sorted[i] !== sorted[i - 1]) ids[++w] = sorted[i]!;
    counts[w]! += 1;
  }
  return { ids, counts };
}

/** Index of `id` in the ascending `ids`, or −1. */
export function indexOfId(ids: Uint32Array, id: number): number {
  let lo = 0;
  let hi = ids.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const x = ids[mid]!;
    if (x === id) return mid;
    if (x < id) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}
