/**
 * The corpus layer of collapse-lab: vocabularies, tokenizers, the provenance-tagged corpus store
 * and its helpers, seeded subsampling, and loaders for Brown, text, JSONL, TinyStories, explicit
 * split files, parquet and Arrow (Hugging Face) datasets.
 */
export type { TokenCorpus } from './token-corpus.js';
export { Vocabulary, UNK_WORD, BOS_WORD, EOS_WORD } from './vocabulary.js';
export type { SpecialIds, VocabularyBuildOptions, VocabularyJSON } from './vocabulary.js';

export { whitespaceTokenizer, wordPunctTokenizer, lowercased, detokenize } from './tokenizers.js';
export type { Tokenizer, WordSplitter, WordPunctOptions } from './tokenizers.js';

export {
  REAL,
  sequenceCount,
  corpusPositions,
  emptyCorpus,
  validateTokenCorpus,
  validateCorpus,
  concatCorpora,
  fromSequences,
  appendSynthetic,
  selectSequences,
  subsampleIndices,
  subsampleSequences,
  provenanceShares,
} from './corpus.js';
export type { Corpus, ProvenanceShares } from './corpus.js';

export { Rng, deriveSeed } from './rng.js';

export { parseCorpusSpec, describeSpec, parseSplit, describeSplit } from './spec.js';
export type { CorpusSpec, BrownSpec, TextSpec, JsonlSpec, TinyStoriesSpec, FilesSpec, ParquetSpec, ArrowSpec, TokenizerName, SplitChoice } from './spec.js';

export { loadCorpus, brownPackageDir, brownFiles, BROWN_TRAIN_TOKENS, BROWN_VALID_TOKENS } from './loaders.js';
export type { LoadCorpusOptions, LoadedCorpus, CorpusInfo, SplitInfo } from './loaders.js';

export { readRecords, readUtf8Pieces, listFiles } from './read.js';

export { readParquetTexts, readArrowTexts, parquetFileColumns } from './tables.js';
export type { TableColumn, TableReadResult, TextCallback } from './tables.js';
export type { RecordUnit, RecordCallback, PieceCallback } from './read.js';
