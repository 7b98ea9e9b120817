/** A tiny GPT-Neo (V 13, hidden 8, 2 layers: one global, one local with a window of 3) for engine tests. */
import type { TransformerConfigOptions } from '../../src/models/transformer.js';

export const tinyTransformer = (over: Partial<TransformerConfigOptions> = {}): TransformerConfigOptions => ({
  vocabSize: 13,
  hidden: 8,
  layers: 2,
  heads: 2,
  window: 3,
  contextLength: 16,
  attention: ['global', 'local'],
  bos: 1,
  eos: 2,
  ...over,
});
