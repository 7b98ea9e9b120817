/** Argument checks shared by every layer: fail early, in one line, with a code. */
import { CollapseError } from '../errors.js';

/** Threads per native call: the one bound, for the models, the metrics, the run options and the CLI. */
export const MIN_THREADS = 1;
export const MAX_THREADS = 1024;

/** A value for a message: strings quoted and cut, numbers as they are. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  if (ArrayBuffer.isView(v)) return v.constructor.name;
  if (Array.isArray(v)) return 'an Array';
  return typeof v;
}

/** Throws E_BAD_ARGUMENT unless `v` is an integer in [min, max]. */
export function checkInt(name: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new CollapseError('E_BAD_ARGUMENT', `${name} must be an integer in [${min}, ${max}], got ${describeValue(v)}`);
  }
  return v;
}

/** Threads per native call, in [MIN_THREADS, MAX_THREADS]. */
export function checkThreads(v: unknown, name = 'threads'): number {
  return checkInt(name, v, MIN_THREADS, MAX_THREADS);
}
