/**
 * Small shared helpers for the metrics: argument checks on a TokenCorpus and the walk over its
 * positions with a BOS-padded window (docs/theory.md "Objects": a sequence is `BOS t1 … tm EOS`, its
 * positions are `t1 … tm, EOS`, and a fixed-width context is the history left-padded with BOS).
 */
import { CollapseError } from '../errors.js';
import { isTyped } from '../util/typed.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';

/** Default special ids of the project's vocabularies (0 = <unk>, 1 = <s>, 2 = </s>). */
export const DEFAULT_BOS = 1;
export const DEFAULT_EOS = 2;

/** The one corpus check (src/corpus/token-corpus.ts), re-exported for the metrics. */
export { checkCorpus } from '../corpus/token-corpus.js';

/** Number of sequences of a (checked) corpus. */
export function sequenceCount(corpus: TokenCorpus): number {
  return corpus.offsets.length - 1;
}

/** Number of positions of a (checked) corpus: every token plus one EOS per sequence. */
export function positionCount(corpus: TokenCorpus): number {
  return corpus.tokens.length + corpus.offsets.length - 1;
}

/** The one integer check (src/util/check.ts), re-exported for the metrics. */
export { checkInt } from '../util/check.js';
import { checkInt } from '../util/check.js';

/** Checks a special token id (BOS/EOS): an unsigned 32-bit integer. */
export function checkTokenId(v: unknown, name: string): number {
  return checkInt(name, v, 0, 0xffffffff);
}

/**
 * Copies sequence `i` of `corpus` into `buf` as `BOS×pad t1 … tm EOS` and returns m (the token
 * count). `buf` must hold at least pad + m + 1 entries. With this layout, position j (0 ≤ j ≤ m;
 * j = m is the EOS) has target buf[pad + j] and its width-w context (w ≤ pad) is
 * buf[pad + j − w .. pad + j): the history left-padded with BOS, as docs/theory.md fixes it.
 */
export function fillPadded(
  corpus: TokenCorpus,
  i: number,
  buf: Uint32Array,
  pad: number,
  bos: number,
  eos: number,
): number {
  const { tokens, offsets } = corpus;
  const s = offsets[i]!;
  const e = offsets[i + 1]!;
  for (let k = 0; k < pad; k++) buf[k] = bos;
  let w = pad;
  for (let k = s; k < e; k++) buf[w++] = tokens[k]!;
  buf[w] = eos;
  return e - s;
}
