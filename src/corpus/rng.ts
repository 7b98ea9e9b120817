/**
 * A small seeded pseudo-random generator for the TypeScript side of collapse-lab (sequence
 * subsampling, splits). The native engine has its own counter-based streams; this one only has to
 * be fast, 32-bit safe and exactly reproducible in JavaScript.
 *
 * - `deriveSeed(seed, ...purpose)` hashes a run seed and any number of stream labels (strings or
 *   integers: a purpose name, a generation, an index) into one 32-bit seed, so that independent
 *   streams never share state: `new Rng(seed, 'subsample', generation)`.
 * - `Rng` is xoshiro128** (Blackman & Vigna), seeded through splitmix32. All arithmetic uses
 *   `Math.imul` and 32-bit shifts, so results are identical on every JavaScript engine.
 */
import { CollapseError } from '../errors.js';

// Captured once: inside some sandboxes (jest's vm contexts) every `Math.imul` lookup goes through
// the global object's interceptor and costs ~0.5 µs; a module constant does not.
const imul = Math.imul;

/** murmur3-style mixing of one 32-bit word into a running hash. */
function mixWord(h: number, w: number): number {
  w = imul(w, 0xcc9e2d51);
  w = (w << 15) | (w >>> 17);
  w = imul(w, 0x1b873593);
  h ^= w;
  h = (h << 13) | (h >>> 19);
  return (imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's 32-bit finaliser: full avalanche. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Hashes a seed and stream labels into a 32-bit unsigned seed. Numbers must be safe integers
 * (negative allowed); each part is tagged with its type, so `deriveSeed(1, 2)` and
 * `deriveSeed(1, '2')` differ.
 */
export function deriveSeed(seed: number, ...parts: ReadonlyArray<string | number>): number {
  let h = 0x2545f491;
  let words = 0;
  const addNumber = (n: number): void => {
    if (!Number.isSafeInteger(n)) {
      throw new CollapseError('E_BAD_ARGUMENT', `seed parts must be safe integers or strings, got ${String(n)}`);
    }
    // Low and high 32 bits of the (two's complement, 53-bit) integer.
    const lo = n >>> 0;
    const hi = Math.floor(n / 4294967296) | 0;
    h = mixWord(h, 0x4e554d00); // tag: number
    h = mixWord(h, lo);
    h = mixWord(h, hi);
    words += 3;
  };
  addNumber(seed);
  for (const part of parts) {
    if (typeof part === 'number') {
      addNumber(part);
    } else {
      h = mixWord(h, 0x53545200 ^ part.length); // tag: string, with its length
      for (let i = 0; i < part.length; i++) h = mixWord(h, part.charCodeAt(i));
      words += 1 + part.length;
    }
  }
  return fmix32(h ^ words);
}

/** xoshiro128**: 128-bit state, period 2^128 − 1, 32-bit outputs. */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  /** Seeds from `deriveSeed(seed, ...stream)`. */
  constructor(seed: number, ...stream: ReadonlyArray<string | number>) {
    // splitmix32 expands the 32-bit hash into the four state words.
    let x = deriveSeed(seed, ...stream) | 0;
    const next = (): number => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = imul(z ^ (z >>> 16), 0x85ebca6b);
      z = imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) | 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    // The all-zero state is the one fixed point of xoshiro; never start there.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Next uniform 32-bit unsigned integer. */
  nextU32(): number {
    const s1 = this.s1;
    const t = s1 << 9;
    let r = imul(s1, 5);
    r = imul((r << 7) | (r >>> 25), 9);
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = (this.s3 << 11) | (this.s3 >>> 21);
    return r >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform integer in [0, n) without modulo bias; n an integer in [1, 2^32]. */
  below(n: number): number {
    if (!(n >= 1 && n <= 4294967296 && n % 1 === 0)) {
      throw new CollapseError('E_BAD_ARGUMENT', `Rng.below needs an integer in [1, 2^32], got ${String(n)}`);
    }
    // Reject the top partial block of 2^32 so every residue is equally likely.
    const limit = 4294967296 - (4294967296 % n);
    let x = this.nextU32();
    while (x >= limit) x = this.nextU32();
    return x % n;
  }
}
