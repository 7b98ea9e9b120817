/**
 * Realm-independent typed-array checks: `instanceof Uint32Array` is false for arrays made in another
 * realm (a vm context such as jest's, a worker, the native addon's), so check the brand instead.
 */
export type TypedName = 'Uint32Array' | 'Int32Array' | 'Float32Array' | 'Float64Array';

export function isTyped(v: unknown, name: 'Uint32Array'): v is Uint32Array;
export function isTyped(v: unknown, name: 'Int32Array'): v is Int32Array;
export function isTyped(v: unknown, name: 'Float32Array'): v is Float32Array;
export function isTyped(v: unknown, name: 'Float64Array'): v is Float64Array;
export function isTyped(v: unknown, name: TypedName): boolean {
  return ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === `[object ${name}]`;
}
