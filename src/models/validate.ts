/** Argument checks shared by the models: fail early, in one line, with a code. */
import { CollapseError } from '../errors.js';
import type { TokenCorpus } from './types.js';

export function bad(message: string): never {
  throw new CollapseError('E_BAD_ARGUMENT', message);
}

export function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    bad(`${name} must be an integer in [${min}, ${max}], got ${describe(v)}`);
  }
  return v;
}

export function checkNumber(name: string, v: unknown, ok: (x: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) bad(`${name} must be ${expected}, got ${describe(v)}`);
  return v;
}

/** Realm-independent typed-array check (instanceof fails across vm contexts and workers). */
export function isU32(v: unknown): v is Uint32Array {
  return ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === '[object Uint32Array]';
}

export function checkCorpus(c: unknown, what = 'corpus'): TokenCorpus {
  if (typeof c !== 'object' || c === null) bad(`${what} must be an object { tokens: Uint32Array, offsets: Uint32Array }`);
  const { tokens, offsets } = c as Partial<TokenCorpus>;
  if (!isU32(tokens)) bad(`${what}.tokens must be a Uint32Array, got ${describe(tokens)}`);
  if (!isU32(offsets)) bad(`${what}.offsets must be a Uint32Array, got ${describe(offsets)}`);
  return { tokens, offsets };
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (Array.isArray(v)) return 'an Array';
  return typeof v;
}
