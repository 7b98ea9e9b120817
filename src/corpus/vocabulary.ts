/**
 * The vocabulary: a bijection between word strings and dense integer ids.
 *
 * Vocabularies that collapse-lab builds (`Vocabulary.build`) always reserve
 *   id 0 = `<unk>` (Vocabulary.UNK), id 1 = `<s>` (Vocabulary.BOS), id 2 = `</s>` (Vocabulary.EOS),
 * followed by the kept word types in a deterministic order:
 *   1. by descending count,
 *   2. ties by the word string in UTF-16 code-unit order (JavaScript's default `<` on strings,
 *      independent of locale).
 * So the same counts always give the same ids, on every machine.
 *
 * A vocabulary that comes from an external tokenizer may put its special tokens anywhere:
 * `new Vocabulary(words, { unk, bos, eos })` takes explicit ids, and every method here uses the
 * instance's `unk`/`bos`/`eos` fields, never the constants 0–2. (Those ids may even coincide, as in
 * GPT-2's single `<|endoftext|>`.)
 */
import { CollapseError } from '../errors.js';

/** The reserved words of vocabularies that collapse-lab builds. */
export const UNK_WORD = '<unk>';
export const BOS_WORD = '<s>';
export const EOS_WORD = '</s>';

export interface SpecialIds {
  unk: number;
  bos: number;
  eos: number;
}

export interface VocabularyBuildOptions {
  /** Word types seen fewer than `minCount` times are left out (they encode as `<unk>`). Default 1. */
  minCount?: number;
  /**
   * Largest vocabulary size, the 3 reserved ids included (so at least 3). The most frequent types,
   * in the order above, are kept.
   */
  maxSize?: number;
}

/** The saved form of a vocabulary (`toJSON` / `fromJSON`). */
export interface VocabularyJSON {
  format: 'collapse-lab/vocabulary';
  version: 1;
  unk: number;
  bos: number;
  eos: number;
  /** Word of each id, in id order. */
  words: string[];
}

const FORMAT = 'collapse-lab/vocabulary';

export class Vocabulary {
  /** Reserved ids of vocabularies built by `Vocabulary.build` (not of external ones: use `.unk` etc.). */
  static readonly UNK = 0;
  static readonly BOS = 1;
  static readonly EOS = 2;

  /** Id that unknown words map to. */
  readonly unk: number;
  /** Begin-of-sequence id (context only, never a target). */
  readonly bos: number;
  /** End-of-sequence id. */
  readonly eos: number;

  private readonly words: readonly string[];
  private readonly index: Map<string, number>;

  /**
   * A vocabulary from a word list in id order. `specials` gives the ids of `<unk>`, BOS and EOS;
   * without it, the words `<unk>`, `<s>` and `</s>` must be in the list, wherever they are.
   * Words must be distinct.
   */
  constructor(words: readonly string[], specials?: SpecialIds) {
    if (!Array.isArray(words)) {
      throw new CollapseError('E_BAD_ARGUMENT', 'Vocabulary needs an array of words in id order');
    }
    const index = new Map<string, number>();
    for (let i = 0; i < words.length; i++) {
      const w = words[i];
      if (typeof w !== 'string') {
        throw new CollapseError('E_BAD_ARGUMENT', `vocabulary word ${i} is not a string`);
      }
      if (index.has(w)) {
        throw new CollapseError('E_BAD_ARGUMENT', `vocabulary word ${JSON.stringify(w)} appears twice (ids ${index.get(w)} and ${i})`);
      }
      index.set(w, i);
    }
    let ids: SpecialIds;
    if (specials) {
      ids = specials;
    } else {
      const find = (w: string): number => {
        const id = index.get(w);
        if (id === undefined) {
          throw new CollapseError(
            'E_BAD_ARGUMENT',
            `vocabulary has no ${w} word; pass the special ids explicitly: new Vocabulary(words, { unk, bos, eos })`,
          );
        }
        return id;
      };
      ids = { unk: find(UNK_WORD), bos: find(BOS_WORD), eos: find(EOS_WORD) };
    }
    for (const key of ['unk', 'bos', 'eos'] as const) {
      const id = ids[key];
      if (!Number.isInteger(id) || id < 0 || id >= words.length) {
        throw new CollapseError('E_BAD_ARGUMENT', `special id ${key}=${String(id)} is outside the vocabulary [0, ${words.length})`);
      }
    }
    this.words = words.slice();
    this.index = index;
    this.unk = ids.unk;
    this.bos = ids.bos;
    this.eos = ids.eos;
  }

  /**
   * Builds a vocabulary from a stream of word tokens or from a map word → count.
   * Ids: 0 `<unk>`, 1 `<s>`, 2 `</s>`, then types with count ≥ minCount by descending count, ties by
   * code-unit string order, cut to `maxSize` in all. The reserved words themselves, if they occur
   * in the input, are not counted (they already have their ids).
   */
  static build(source: Iterable<string> | ReadonlyMap<string, number>, options: VocabularyBuildOptions = {}): Vocabulary {
    const minCount = options.minCount ?? 1;
    if (!Number.isFinite(minCount) || minCount < 1) {
      throw new CollapseError('E_BAD_ARGUMENT', `minCount must be a number ≥ 1, got ${String(options.minCount)}`);
    }
    const maxSize = options.maxSize ?? Infinity;
    if (!(maxSize === Infinity || (Number.isInteger(maxSize) && maxSize >= 3))) {
      throw new CollapseError('E_BAD_ARGUMENT', `maxSize must be an integer ≥ 3 (the reserved ids count), got ${String(options.maxSize)}`);
    }

    let counts: ReadonlyMap<string, number>;
    if (source instanceof Map) {
      counts = source;
    } else {
      const m = new Map<string, number>();
      for (const w of source as Iterable<string>) {
        if (typeof w !== 'string') throw new CollapseError('E_BAD_ARGUMENT', 'Vocabulary.build: tokens must be strings');
        m.set(w, (m.get(w) ?? 0) + 1);
      }
      counts = m;
    }

    const kept: Array<[string, number]> = [];
    for (const [w, c] of counts) {
      if (typeof c !== 'number' || !(c >= 0) || !Number.isFinite(c)) {
        throw new CollapseError('E_BAD_ARGUMENT', `count of ${JSON.stringify(w)} must be a finite number ≥ 0, got ${String(c)}`);
      }
      if (w === UNK_WORD || w === BOS_WORD || w === EOS_WORD) continue;
      if (c >= minCount) kept.push([w, c]);
    }
    kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const room = maxSize === Infinity ? kept.length : Math.min(kept.length, maxSize - 3);
    const words = [UNK_WORD, BOS_WORD, EOS_WORD];
    for (let i = 0; i < room; i++) words.push((kept[i] as [string, number])[0]);
    return new Vocabulary(words, { unk: Vocabulary.UNK, bos: Vocabulary.BOS, eos: Vocabulary.EOS });
  }

  /** Number of ids. */
  get size(): number {
    return this.words.length;
  }

  /** Id of a word; unknown words give `unk`. */
  id(word: string): number {
    return this.index.get(word) ?? this.unk;
  }

  /** Whether the word has its own id. */
  has(word: string): boolean {
    return this.index.has(word);
  }

  /** Word of an id; throws E_TOKEN_RANGE outside [0, size). */
  word(id: number): string {
    const w = typeof id === 'number' && id % 1 === 0 ? this.words[id] : undefined;
    if (w === undefined) {
      throw new CollapseError('E_TOKEN_RANGE', `token id ${String(id)} is outside the vocabulary [0, ${this.words.length})`);
    }
    return w;
  }

  /**
   * Id of a word as corpus content: like `id`, except that the BOS and EOS words, which never
   * occur inside a sequence (offsets imply them), encode as `unk`.
   */
  contentId(word: string): number {
    const id = this.index.get(word);
    if (id === undefined || id === this.bos || id === this.eos) return this.unk;
    return id;
  }

  /**
   * Encodes the words of one sequence (corpus content, see `contentId`): unknown words and the
   * BOS/EOS words give `unk`. Use `id()` to look up the special ids themselves.
   */
  encode(words: Iterable<string>): Uint32Array {
    const arr = Array.isArray(words) ? (words as string[]) : Array.from(words);
    const out = new Uint32Array(arr.length);
    for (let i = 0; i < arr.length; i++) out[i] = this.contentId(arr[i] as string);
    return out;
  }

  /** Words of ids; throws E_TOKEN_RANGE on an id outside the vocabulary. */
  decode(ids: ArrayLike<number>): string[] {
    const out = new Array<string>(ids.length);
    for (let i = 0; i < ids.length; i++) out[i] = this.word(ids[i] as number);
    return out;
  }

  /** A copy of the word list in id order. */
  toArray(): string[] {
    return this.words.slice();
  }

  toJSON(): VocabularyJSON {
    return { format: FORMAT, version: 1, unk: this.unk, bos: this.bos, eos: this.eos, words: this.words.slice() };
  }

  /** Restores a vocabulary saved with `toJSON` (an object, or its JSON text). */
  static fromJSON(json: VocabularyJSON | string): Vocabulary {
    let obj: unknown = json;
    if (typeof json === 'string') {
      try {
        obj = JSON.parse(json);
      } catch (err) {
        throw new CollapseError('E_BAD_ARGUMENT', `vocabulary JSON does not parse: ${(err as Error).message}`, { cause: err });
      }
    }
    const o = obj as Partial<VocabularyJSON> | null;
    if (!o || typeof o !== 'object' || o.format !== FORMAT || o.version !== 1 || !Array.isArray(o.words)) {
      throw new CollapseError('E_BAD_ARGUMENT', `not a saved vocabulary (expected format "${FORMAT}", version 1)`);
    }
    return new Vocabulary(o.words, { unk: o.unk as number, bos: o.bos as number, eos: o.eos as number });
  }
}
