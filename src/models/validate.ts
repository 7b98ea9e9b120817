/** Argument checks shared by the models: fail early, in one line, with a code. */
import { CollapseError } from '../errors.js';
import { checkInt, describeValue as describe } from '../util/check.js';
export { checkInt } from '../util/check.js';
import type { SampleOptions, TokenCorpus } from './types.js';

export function bad(message: string): never {
  throw new CollapseError('E_BAD_ARGUMENT', message);
}

export function checkNumber(name: string, v: unknown, ok: (x: number) => boolean, expected: string): number {
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) bad(`${name} must be ${expected}, got ${describe(v)}`);
  return v;
}

/** sample()'s options, checked and with their defaults, as the native samplers take them. */
export function checkSampleOptions(options: SampleOptions, maxLengthLimit: number) {
  if (typeof options !== 'object' || options === null) bad('sample expects an options object');
  const hasSeq = options.sequences !== undefined;
  const hasTok = options.tokens !== undefined;
  if (hasSeq === hasTok) bad('sample needs exactly one of `sequences` or `tokens`');
  return {
    sequences: hasSeq ? checkInt('sequences', options.sequences, 1, 4e9) : 0,
    tokens: hasTok ? checkInt('tokens', options.tokens, 1, 4e9) : 0,
    maxLength: checkInt('maxLength', options.maxLength, 1, maxLengthLimit),
    seed: checkInt('seed', options.seed, 0),
    temperature:
      options.temperature === undefined ? 1 : checkNumber('temperature', options.temperature, (x) => x > 0 && Number.isFinite(x), 'a finite number > 0'),
    topK: options.topK === undefined ? 0 : checkInt('topK', options.topK, 0, 0xffffffff),
    topP: options.topP === undefined ? 1 : checkNumber('topP', options.topP, (x) => x > 0 && x <= 1, 'in (0, 1]'),
  };
}

/** Realm-independent typed-array check (instanceof fails across vm contexts and workers). */
export function isU32(v: unknown): v is Uint32Array {
  return ArrayBuffer.isView(v) && Object.prototype.toString.call(v) === '[object Uint32Array]';
}

export { checkCorpus } from '../corpus/token-corpus.js';

export { describeValue as describe } from '../util/check.js';
