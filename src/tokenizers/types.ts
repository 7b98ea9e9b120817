/**
 * Text tokenizers for the transformer: text ↔ token ids over a fixed vocabulary.
 *
 * (src/corpus/tokenizers.ts holds the *word splitters* — text → word strings — that build
 * collapse-lab's own Vocabulary; a TextTokenizer here maps text straight to ids.)
 */
export interface TextTokenizer {
  /** What kind of tokenizer this is, for run configs and messages. */
  readonly kind: 'hf' | 'word' | 'bpe';
  /** Number of ids: every id returned by `encode` is below it. */
  readonly vocabSize: number;
  /** Begin-of-sequence id (GPT-2: `<|endoftext|>` = 50256, the same as `eos`). */
  readonly bos: number;
  /** End-of-sequence id. */
  readonly eos: number;
  /** Token ids of one text (no BOS/EOS added). */
  encode(text: string): Uint32Array;
  /** Text of token ids; an id ≥ vocabSize is a CollapseError E_TOKEN_RANGE. */
  decode(ids: ArrayLike<number>): string;
}

/** Throws E_TOKEN_RANGE for the first id outside [0, vocabSize). */
export function checkIds(ids: ArrayLike<number>, vocabSize: number, fail: (message: string) => never): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i] as number;
    if (!(Number.isInteger(id) && id >= 0 && id < vocabSize)) {
      fail(`token id ${String(id)} at position ${i} is outside the vocabulary [0, ${vocabSize})`);
    }
  }
}
