/** The engine's view of a corpus, shared by every layer (corpora, models, metrics, paradigms), and its one check. */
import { CollapseError } from '../errors.js';
import { describeValue } from '../util/check.js';
import { isTyped } from '../util/typed.js';

/**
 * A corpus as the engine sees it: the tokens of every sequence back to back, without BOS/EOS
 * (the offsets imply them), and CSR offsets: sequence i is tokens[offsets[i] .. offsets[i+1]).
 * offsets.length = number of sequences + 1, offsets[0] = 0, offsets[last] = tokens.length.
 * Every sequence has (length + 1) positions: its tokens and the EOS that ends it.
 */
export interface TokenCorpus {
  tokens: Uint32Array;
  offsets: Uint32Array;
}

/**
 * The one corpus check of every layer (models, metrics): a TokenCorpus of Uint32Arrays
 * (E_BAD_ARGUMENT otherwise) whose offsets are a valid CSR index — start at 0, never decrease, end
 * at the token count (E_OFFSETS otherwise). Returns the corpus's two arrays and its longest sequence.
 * Token ranges are the engine's to check (it knows the vocabulary).
 */
export function checkCorpus(c: unknown, what = 'corpus'): TokenCorpus & { maxLength: number } {
  if (typeof c !== 'object' || c === null) throw new CollapseError('E_BAD_ARGUMENT', `${what} must be an object { tokens: Uint32Array, offsets: Uint32Array }`);
  const { tokens, offsets } = c as Partial<TokenCorpus>;
  if (!isTyped(tokens, 'Uint32Array')) throw new CollapseError('E_BAD_ARGUMENT', `${what}.tokens must be a Uint32Array, got ${describeValue(tokens)}`);
  if (!isTyped(offsets, 'Uint32Array')) throw new CollapseError('E_BAD_ARGUMENT', `${what}.offsets must be a Uint32Array, got ${describeValue(offsets)}`);
  if (offsets.length < 1 || offsets[0] !== 0) throw new CollapseError('E_OFFSETS', `${what}: offsets must start with 0 (got length ${offsets.length})`);
  let maxLength = 0;
  for (let i = 1; i < offsets.length; i++) {
    const len = offsets[i]! - offsets[i - 1]!;
    if (len < 0) throw new CollapseError('E_OFFSETS', `${what}: offsets decrease at sequence ${i - 1}`);
    if (len > maxLength) maxLength = len;
  }
  if (offsets[offsets.length - 1] !== tokens.length) {
    throw new CollapseError('E_OFFSETS', `${what}: last offset ${offsets[offsets.length - 1]} differs from the token count ${tokens.length}`);
  }
  return { tokens, offsets, maxLength };
}
