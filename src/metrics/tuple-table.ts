/**
 * TupleTable: an open-addressing hash table from fixed-width tuples of uint32 ids to a float64
 * count, stored entirely in typed arrays (no per-entry objects, no strings, no BigInt).
 *
 * It is the one keyed structure of the metrics: contexts of any width (probe contexts, width ≥ 0)
 * and n-grams of any order (support, distinct-n). Keys are the ids themselves, so there is no
 * packing limit on the vocabulary size or the width (a packed double key would need
 * width·log2(V) ≤ 53 bits); hashing a 2- or 3-id tuple costs a handful of integer multiplies, which
 * keeps a 1.2M-position scan in the tens of milliseconds.
 *
 * Entries are numbered 0 … size−1 in insertion order and never move; `keys` holds entry e's tuple
 * at keys[e·width … e·width+width) and `counts[e]` its count. Linear probing, load factor ≤ 1/2,
 * the 32-bit hash of each entry is kept so growing never rehashes tuples.
 */
export class TupleTable {
  readonly width: number;
  /** Number of distinct tuples held. */
  size = 0;
  /** Tuples, entry-major: entry e is keys[e*width .. e*width+width). Longer than size*width. */
  keys: Uint32Array;
  /** counts[e]: accumulated count of entry e. Longer than size. */
  counts: Float64Array;
  private hashes: Int32Array;
  /** Slot → entry index + 1 (0 = empty), so a fresh Int32Array is an empty table. */
  private slots: Int32Array;
  private mask: number;

  constructor(width: number, expectedEntries = 1024) {
    this.width = width;
    const cap = Math.max(16, expectedEntries | 0);
    let nslots = 32;
    while (nslots < cap * 2) nslots *= 2;
    this.slots = new Int32Array(nslots);
    this.mask = nslots - 1;
    this.keys = new Uint32Array(Math.max(1, cap * width));
    this.counts = new Float64Array(cap);
    this.hashes = new Int32Array(cap);
  }

  /** 32-bit hash of src[at .. at+width) (MurmurHash3 x86_32 rounds and finaliser). */
  private hashAt(src: Uint32Array, at: number): number {
    let h = 0x9747b28c ^ this.width;
    for (let i = 0; i < this.width; i++) {
      let k = Math.imul(src[at + i]!, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
      h = (h << 13) | (h >>> 19);
      h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h;
  }

  private sameAt(entry: number, src: Uint32Array, at: number): boolean {
    const w = this.width;
    const keys = this.keys;
    const base = entry * w;
    for (let i = 0; i < w; i++) if (keys[base + i] !== src[at + i]) return false;
    return true;
  }

  /** Entry index of the tuple src[at .. at+width), or −1 when absent. */
  find(src: Uint32Array, at: number): number {
    const h = this.hashAt(src, at);
    const slots = this.slots;
    const mask = this.mask;
    let s = h & mask;
    for (;;) {
      const e1 = slots[s]!;
      if (e1 === 0) return -1;
      const e = e1 - 1;
      if (this.hashes[e] === h && this.sameAt(e, src, at)) return e;
      s = (s + 1) & mask;
    }
  }

  /**
   * Adds `by` to the count of the tuple src[at .. at+width), inserting it (count 0 first) when it
   * is new. Returns its entry index.
   */
  add(src: Uint32Array, at: number, by = 1): number {
    const h = this.hashAt(src, at);
    const slots = this.slots;
    const mask = this.mask;
    let s = h & mask;
    for (;;) {
      const e1 = slots[s]!;
      if (e1 === 0) break;
      const e = e1 - 1;
      if (this.hashes[e] === h && this.sameAt(e, src, at)) {
        this.counts[e]! += by;
        return e;
      }
      s = (s + 1) & mask;
    }
    // New entry.
    const e = this.size;
    if (e === this.counts.length) this.growEntries();
    const w = this.width;
    const keys = this.keys;
    const base = e * w;
    for (let i = 0; i < w; i++) keys[base + i] = src[at + i]!;
    this.counts[e] = by;
    this.hashes[e] = h;
    slots[s] = e + 1;
    this.size = e + 1;
    if (this.size * 2 > slots.length) this.growSlots();
    return e;
  }

  /** Entry e's tuple as a fresh array (for tests and reports, not hot paths). */
  tuple(e: number): number[] {
    return Array.from(this.keys.subarray(e * this.width, e * this.width + this.width));
  }

  private growEntries(): void {
    const cap = this.counts.length * 2;
    const keys = new Uint32Array(Math.max(1, cap * this.width));
    keys.set(this.keys);
    this.keys = keys;
    const counts = new Float64Array(cap);
    counts.set(this.counts);
    this.counts = counts;
    const hashes = new Int32Array(cap);
    hashes.set(this.hashes);
    this.hashes = hashes;
  }

  private growSlots(): void {
    const nslots = this.slots.length * 2;
    const slots = new Int32Array(nslots);
    const mask = nslots - 1;
    const hashes = this.hashes;
    for (let e = 0; e < this.size; e++) {
      let s = hashes[e]! & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = e + 1;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
