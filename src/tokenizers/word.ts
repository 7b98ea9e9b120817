/**
 * A word-level TextTokenizer over collapse-lab's Vocabulary (the n-gram model's vocabulary):
 * text is split into words by a word splitter (default: whitespace), each word maps to its id
 * (unknown words, and the BOS/EOS words themselves, to `<unk>`, as Vocabulary.encode does);
 * decoding joins the words with single spaces (not an exact inverse: spacing is normalised and
 * unknown words come back as `<unk>`).
 */
import { CollapseError } from '../errors.js';
import { whitespaceTokenizer, type WordSplitter } from '../corpus/tokenizers.js';
import { Vocabulary } from '../corpus/vocabulary.js';
import { checkIds, type TextTokenizer } from './types.js';

export class WordTokenizer implements TextTokenizer {
  readonly kind = 'word' as const;
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;

  constructor(
    readonly vocabulary: Vocabulary,
    private readonly split: WordSplitter = whitespaceTokenizer,
  ) {
    if (!(vocabulary instanceof Vocabulary)) {
      throw new CollapseError('E_BAD_ARGUMENT', 'WordTokenizer needs a Vocabulary');
    }
    this.vocabSize = vocabulary.size;
    this.bos = vocabulary.bos;
    this.eos = vocabulary.eos;
  }

  encode(text: string): Uint32Array {
    return this.vocabulary.encode(this.split(text));
  }

  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, (m) => {
      throw new CollapseError('E_TOKEN_RANGE', m);
    });
    return this.vocabulary.decode(ids).join(' ');
  }
}
