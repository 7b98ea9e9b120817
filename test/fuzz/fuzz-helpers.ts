/**
 * Shared pieces of the fuzz tests (test/fuzz/*.test.ts): byte-level mutations of valid files, a
 * time bound per case, and the run count and seed.
 *
 * The property every fuzzer checks: feeding a parser arbitrary or mutated input ends in a result
 * or a CollapseError with a one-line message: never another exception type, a crash of the
 * process, or a hang (each case is raced against a time bound).
 *
 * Bounded in `npm test` (COLLAPSE_FUZZ_RUNS, default below; a fixed seed, COLLAPSE_FUZZ_SEED);
 * long on demand: COLLAPSE_FUZZ_RUNS=100000 NODE_OPTIONS=--experimental-vm-modules npx jest test/fuzz (a random seed: COLLAPSE_FUZZ_SEED=random).
 */
import fc from 'fast-check';
import { CollapseError } from '../../src/errors.js';

/** Cases per property: a few seconds per parser by default. */
export const RUNS = (() => {
  const v = Number(process.env.COLLAPSE_FUZZ_RUNS ?? '');
  return Number.isInteger(v) && v > 0 ? v : 100;
})();

/** The seed: fixed unless asked otherwise, so that a failure in CI reproduces. */
export const SEED = (() => {
  const v = process.env.COLLAPSE_FUZZ_SEED;
  if (v === 'random') return Math.floor(Math.random() * 2 ** 31);
  const n = v === undefined || v.trim() === '' ? NaN : Number(v);
  return Number.isInteger(n) ? n : 20261201;
})();

/** fast-check's parameters for one property (the seed and run count above; path printed on failure). */
export function params(runs = RUNS): fc.Parameters<unknown> {
  return { numRuns: runs, seed: SEED, endOnFailure: true };
}

/** A jest timeout that grows with the run count (the default run count fits the default timeout). */
export function timeoutFor(runs: number, msPerCase: number): number {
  return Math.max(120_000, runs * msPerCase * 2);
}

/** One byte-level edit. Positions are fractions of the length so that they stay in range. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; byte: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; n: number }
  | { kind: 'duplicate'; at: number; n: number }
  | { kind: 'interesting'; at: number; width: 1 | 2 | 4 | 8; value: number };

const at = fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true });
/** Values that often break parsers: 0, 1, −1, the sign bit, the largest values of each width. */
const INTERESTING = [0, 1, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff, 0x7fffffff, 0x80000000, 0xffffffff, 2 ** 53 - 1];

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('set' as const), at, byte: fc.integer({ min: 0, max: 255 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), at, n: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('duplicate' as const), at, n: fc.integer({ min: 1, max: 64 }) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('interesting' as const),
      at,
      width: fc.constantFrom(1 as const, 2 as const, 4 as const, 8 as const),
      value: fc.constantFrom(...INTERESTING),
    }),
  },
);

/** One to `max` mutations. */
export const mutationsArb = (max = 4) => fc.array(mutationArb, { minLength: 1, maxLength: max });

/** Applies the mutations in order to a copy of `bytes` (limited to [lo, hi) of the file when given). */
export function mutate(bytes: Uint8Array, ms: readonly Mutation[], range?: { lo: number; hi: number }): Buffer {
  let b = Buffer.from(bytes);
  for (const m of ms) {
    const lo = Math.min(range?.lo ?? 0, b.length);
    const hi = Math.min(range?.hi ?? b.length, b.length);
    const i = lo + Math.floor(m.at * Math.max(0, hi - lo));
    switch (m.kind) {
      case 'flip':
        if (i < b.length) b[i]! ^= 1 << m.bit;
        break;
      case 'set':
        if (i < b.length) b[i] = m.byte;
        break;
      case 'truncate':
        b = b.subarray(0, i);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, i), m.bytes, b.subarray(i)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, i), b.subarray(i + m.n)]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, i + m.n), b.subarray(i, i + m.n), b.subarray(i + m.n)]);
        break;
      case 'interesting': {
        if (i + m.width > b.length) break;
        if (m.width === 8) b.writeBigUInt64LE(BigInt(m.value), i);
        else b.writeUIntLE(m.value % 2 ** (8 * m.width), i, m.width);
        break;
      }
    }
  }
  return Buffer.from(b);
}

/** Mutations of a JSON value: a field replaced, removed or added, at any depth. */
export type JsonEdit = { path: number[]; op: 'replace' | 'remove' | 'add'; value: unknown; key: string };

export const jsonValueArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  {
    weight: 2,
    arbitrary: fc.constantFrom<unknown>(
      null, true, false, 0, -1, 1, 0.5, -0.0, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53, 1e4, '', '__proto__', 'constructor',
      'toString', 'global', 'local', 'gpt_neo', [], {}, [[]], [['global'], 1], [[['global'], 2]], 'NaN', '\u0000', '\ud800',
    ),
  },
);
const keyArb = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'model', 'kind', 'vocab', 'type'));
export const jsonEditArb: fc.Arbitrary<JsonEdit> = fc.record({
  path: fc.array(fc.nat(), { maxLength: 4 }),
  op: fc.constantFrom('replace' as const, 'remove' as const, 'add' as const),
  value: jsonValueArb,
  key: keyArb,
});

/**
 * Applies an edit to a deep copy of `value`: walks `path` (each number picks a child by index,
 * modulo the child count) and replaces / removes / adds at the node reached.
 */
export function editJson(value: unknown, edits: readonly JsonEdit[]): unknown {
  const root = { v: structuredClone(value) as unknown };
  for (const edit of edits) {
    // A copy of the value: the same generated value inserted twice would make a cycle.
    const e = { ...edit, value: structuredClone(edit.value) };
    let parent: Record<string, unknown> | unknown[] = root as unknown as Record<string, unknown>;
    let key: string | number = 'v';
    for (const step of e.path) {
      const node = (parent as Record<string | number, unknown>)[key];
      if (node === null || typeof node !== 'object') break;
      const keys: (string | number)[] = Array.isArray(node) ? node.map((_, i) => i) : Object.keys(node);
      if (keys.length === 0) break;
      parent = node as Record<string, unknown>;
      key = keys[step % keys.length]!;
    }
    const p = parent as Record<string | number, unknown>;
    if (e.op === 'replace') p[key] = e.value;
    else if (e.op === 'remove') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else if (key !== 'v') delete p[key];
    } else {
      const node = p[key];
      if (Array.isArray(node)) node.push(e.value);
      else if (node !== null && typeof node === 'object') Object.defineProperty(node, e.key, { value: e.value, enumerable: true, writable: true, configurable: true });
      else p[key] = e.value;
    }
  }
  return root.v;
}

/** Rejects after `ms` (a hang is a failure, not a stuck test run). */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms (a hang)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `f` (bounded by `ms`) and returns 'ok' or the CollapseError's code; anything else thrown
 * (TypeError, RangeError, a native crash reported as another type, a multi-line message) fails
 * the property with the input that caused it.
 */
export async function loadOrCollapse(what: string, f: () => Promise<unknown> | unknown, ms = 5000): Promise<string> {
  try {
    await within(ms, what, Promise.resolve().then(f));
    return 'ok';
  } catch (err) {
    if (err instanceof CollapseError && typeof err.code === 'string' && !err.message.includes('\n') && err.message.length > 0) return err.code;
    const e = err as Error;
    throw new Error(`${what}: expected a result or a CollapseError, got ${e?.name ?? typeof err}: ${e?.message ?? String(err)}`, { cause: err });
  }
}
