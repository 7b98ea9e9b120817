/**
 * A growable Uint32Array, so loaders can build token and offset arrays without a JS number[]
 * (8+ bytes per element and a boxed-array growth policy) or one object per token.
 */
import { CollapseError } from '../errors.js';

export class U32Builder {
  private buf: Uint32Array;
  /** Number of elements written. */
  length = 0;

  constructor(initialCapacity = 4096) {
    this.buf = new Uint32Array(Math.max(16, initialCapacity));
  }

  push(value: number): void {
    if (this.length === this.buf.length) this.grow(this.length + 1);
    this.buf[this.length++] = value;
  }

  /** Element i (no bounds check beyond the typed array's own). */
  at(i: number): number {
    return this.buf[i] ?? 0;
  }

  /** Drops elements from `newLength` on. */
  truncate(newLength: number): void {
    if (newLength < this.length) this.length = Math.max(0, newLength);
  }

  /** A view of the written elements; valid until the next push. */
  view(): Uint32Array {
    return this.buf.subarray(0, this.length);
  }

  /** A tight copy of elements [start, end). */
  copy(start = 0, end = this.length): Uint32Array {
    return this.buf.slice(start, end);
  }

  private grow(needed: number): void {
    // Grow by 1.5x: memory stays within 1.5x of the data while amortised pushes stay O(1).
    let cap = Math.max(needed, Math.floor(this.buf.length * 1.5) + 16);
    if (cap > 4294967295) cap = 4294967295;
    if (cap < needed) {
      throw new CollapseError('E_BAD_CORPUS', 'corpus too large: more than 2^32 − 1 tokens; pass maxTrainTokens or a smaller corpus');
    }
    let next: Uint32Array;
    try {
      next = new Uint32Array(cap);
    } catch (err) {
      throw new CollapseError(
        'E_BAD_CORPUS',
        `out of memory while loading the corpus (${this.length} elements held); pass maxTrainTokens or a smaller corpus`,
        { cause: err },
      );
    }
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
}
