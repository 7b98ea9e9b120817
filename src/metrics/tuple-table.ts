/**
 * Counting tables for fixed-width tuples of uint32 ids (contexts, n-grams), stored entirely in typed
 * arrays: no per-entry objects, no strings, no BigInt. Two implementations of one interface:
 *
 * - PackedTable (the fast path): the tuple is packed into one exact double, id by id in base
 *   2^bits with bits = floor(52 / width) (width 1: any uint32; width 2: ids < 2^26; width 3:
 *   ids < 2^17; width 4: ids < 2^13), and each slot holds [key + 1, count] side by side in one
 *   Float64Array, so a lookup touches one cache line. Packing is big-endian (first id most
 *   significant), so numeric order of keys is the lexicographic order of the tuples.
 * - TupleTable (the fallback, any width and id): tuples stored as ids, see below.
 *
 * `makeCountTable` picks the packed table when every id that will be stored is below 2^bits.
 * Handles: `add`/`find` return a handle h (0 ≤ h < handleLimit) that stays valid until the next
 * insertion; iterate all entries with `for (h < handleLimit) if (used(h))`.
 */
export interface CountTable {
  readonly width: number;
  /** Number of distinct tuples held. */
  readonly size: number;
  /** Handles are 0 … handleLimit−1 (some unused in a PackedTable). */
  readonly handleLimit: number;
  /** Adds `by` to the count of src[at .. at+width), inserting it if new; returns its handle. */
  add(src: Uint32Array, at: number, by: number): number;
  /** Handle of src[at .. at+width), or −1 when absent. */
  find(src: Uint32Array, at: number): number;
  used(h: number): boolean;
  count(h: number): number;
  /** Writes the tuple of handle h to out[at .. at+width). */
  writeTuple(h: number, out: Uint32Array, at: number): void;
  /** <0, 0, >0 as the tuple of a is lexicographically before, equal to, after that of b. */
  compareTuples(a: number, b: number): number;
}

/** Largest id + 1 a PackedTable of this width can hold (2^floor(52/width); width 0: any). */
export function packedIdLimit(width: number): number {
  return width <= 1 ? 2 ** 32 : 2 ** Math.floor(52 / width);
}

/**
 * A CountTable for tuples of `width` ids, all ≤ maxId: packed when they fit, TupleTable otherwise.
 * `expectedEntries` only sizes the first allocation.
 */
export function makeCountTable(width: number, maxId: number, expectedEntries: number): CountTable {
  if (maxId < packedIdLimit(width)) return new PackedTable(width, expectedEntries);
  return new TupleTable(width, expectedEntries);
}

/** Largest value of a Uint32Array (0 when empty). */
export function maxOf(a: Uint32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) if (a[i]! > m) m = a[i]!;
  return m;
}

/**
 * PackedTable: open addressing (linear probing, load ≤ 1/2) over slots [key + 1, count] in one
 * Float64Array (0 = empty slot). Handles are slot indices; growing re-places every entry.
 */
export class PackedTable implements CountTable {
  readonly width: number;
  size = 0;
  /** Base of the packing: 2^bits. */
  private readonly scale: number;
  private readonly limit: number;
  private data: Float64Array;
  private mask: number;

  constructor(width: number, expectedEntries = 1024) {
    this.width = width;
    this.limit = packedIdLimit(width);
    this.scale = width <= 1 ? 0 : this.limit;
    let nslots = 32;
    while (nslots < expectedEntries * 2) nslots *= 2;
    this.data = new Float64Array(2 * nslots);
    this.mask = nslots - 1;
  }

  get handleLimit(): number {
    return this.mask + 1;
  }

  /** The packed key of src[at .. at+width), or −1 if an id is too large to be stored here. */
  private keyAt(src: Uint32Array, at: number): number {
    const w = this.width;
    const scale = this.scale;
    const limit = this.limit;
    let key = 0;
    for (let i = 0; i < w; i++) {
      const id = src[at + i]!;
      if (id >= limit) return -1;
      key = key * scale + id;
    }
    return key;
  }

  /** First slot to probe for a key (a 32-bit mix of its low and high words). */
  private slotOf(key: number): number {
    const lo = key >>> 0; // key mod 2^32, exact for integers < 2^53
    const hi = (key / 4294967296) >>> 0;
    let h = Math.imul(lo, 0xcc9e2d51) ^ Math.imul(hi ^ 0x5bd1e995, 0x1b873593);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }

  add(src: Uint32Array, at: number, by: number): number {
    const key = this.keyAt(src, at);
    if (key < 0) throw new RangeError('PackedTable: id too large for a packed key (use makeCountTable)');
    const d = this.data;
    const mask = this.mask;
    const k1 = key + 1;
    let s = this.slotOf(key);
    for (;;) {
      const x = d[2 * s]!;
      if (x === k1) {
        d[2 * s + 1]! += by;
        return s;
      }
      if (x === 0) break;
      s = (s + 1) & mask;
    }
    d[2 * s] = k1;
    d[2 * s + 1] = by;
    this.size++;
    if (this.size * 2 > mask + 1) {
      this.grow();
      return this.findKey(key);
    }
    return s;
  }

  find(src: Uint32Array, at: number): number {
    const key = this.keyAt(src, at);
    return key < 0 ? -1 : this.findKey(key);
  }

  private findKey(key: number): number {
    const d = this.data;
    const mask = this.mask;
    const k1 = key + 1;
    let s = this.slotOf(key);
    for (;;) {
      const x = d[2 * s]!;
      if (x === k1) return s;
      if (x === 0) return -1;
      s = (s + 1) & mask;
    }
  }

  used(h: number): boolean {
    return this.data[2 * h] !== 0;
  }

  count(h: number): number {
    return this.data[2 * h + 1]!;
  }

  writeTuple(h: number, out: Uint32Array, at: number): void {
    let key = this.data[2 * h]! - 1;
    for (let i = this.width - 1; i >= 0; i--) {
      if (i === 0) {
        out[at] = key;
      } else {
        const q = Math.floor(key / this.scale);
        out[at + i] = key - q * this.scale; // exact: all values are integers < 2^53
        key = q;
      }
    }
  }

  compareTuples(a: number, b: number): number {
    // Big-endian packing: numeric order of keys = lexicographic order of tuples.
    return this.data[2 * a]! - this.data[2 * b]!;
  }

  private grow(): void {
    const old = this.data;
    const nslots = (this.mask + 1) * 2;
    this.data = new Float64Array(2 * nslots);
    this.mask = nslots - 1;
    const d = this.data;
    for (let s = 0; s < old.length; s += 2) {
      const k1 = old[s]!;
      if (k1 === 0) continue;
      let t = this.slotOf(k1 - 1);
      while (d[2 * t] !== 0) t = (t + 1) & this.mask;
      d[2 * t] = k1;
      d[2 * t + 1] = old[s + 1]!;
    }
  }
}

/**
 * TupleTable: an open-addressing hash table from fixed-width tuples of uint32 ids to a float64
 * count, stored entirely in typed arrays (no per-entry objects, no strings, no BigInt).
 *
 * The fallback for tuples a PackedTable cannot hold (wide contexts, huge ids): keys are the ids
 * themselves, so there is no limit on the vocabulary size or the width. It is about 3× slower
 * than PackedTable on large tables (a hit touches the slot, the key row and the count: three
 * cache lines instead of one).
 *
 * Entries are numbered 0 … size−1 in insertion order and never move; `keys` holds entry e's tuple
 * at keys[e·width … e·width+width) and `counts[e]` its count. Linear probing, load factor ≤ 1/2,
 * the 32-bit hash of each entry is kept so growing never rehashes tuples.
 */
export class TupleTable implements CountTable {
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
  add(src: Uint32Array, at: number, by: number): number {
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

  get handleLimit(): number {
    return this.size;
  }

  used(h: number): boolean {
    return h >= 0 && h < this.size;
  }

  count(h: number): number {
    return this.counts[h]!;
  }

  writeTuple(h: number, out: Uint32Array, at: number): void {
    const w = this.width;
    for (let i = 0; i < w; i++) out[at + i] = this.keys[h * w + i]!;
  }

  compareTuples(a: number, b: number): number {
    const w = this.width;
    const keys = this.keys;
    for (let i = 0; i < w; i++) {
      const x = keys[a * w + i]!;
      const y = keys[b * w + i]!;
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
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
