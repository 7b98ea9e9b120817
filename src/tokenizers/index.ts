/** Text tokenizers for the transformer (text ↔ ids): a checkpoint's tokenizer.json, word-level, trained BPE. */
export type { TextTokenizer } from './types.js';
export { HfTokenizer, ENDOFTEXT, type HfTokenizerOptions } from './hf.js';
export { WordTokenizer } from './word.js';
export {
  trainByteLevelBpe,
  trainByteLevelBpeJson,
  countPieces,
  corpusTexts,
  bytesToUnicode,
  GPT2_PATTERN,
  type TrainBpeOptions,
} from './bpe-train.js';
