/**
 * Tokenizers turn one text record (a line, a paragraph, a story) into word strings.
 *
 * - `whitespaceTokenizer`: for pre-tokenized text; splits on runs of Unicode whitespace.
 * - `wordPunctTokenizer()`: for raw text. A token is one of
 *     * a word: letters, marks and digits (`\p{L}\p{M}\p{N}`), with internal apostrophes
 *       (' or ’) or hyphens joining such runs: `don't`, `rock'n'roll`, `well-known`, `12-year-old`;
 *     * a number with internal `.`, `,` or `:` between digits: `3.14`, `1,000`, `10:30`;
 *     * any other single non-space character (punctuation, symbols, emoji), one token each.
 *   A leading or trailing apostrophe/hyphen is punctuation: `'tis` → `'`, `tis`.
 *   With `lowercase: true` the text is lower-cased first (String.prototype.toLowerCase,
 *   locale-independent).
 */

/**
 * A word splitter: one text record in, its word strings out (no empty strings). It builds
 * collapse-lab's own Vocabulary; a TextTokenizer (src/tokenizers) maps text to ids instead.
 */
export type WordSplitter = (text: string) => string[];
/** The former name of WordSplitter, kept for existing callers. @deprecated use WordSplitter */
export type Tokenizer = WordSplitter;

const WHITESPACE = /\s+/u;

/** Splits on runs of whitespace; leading/trailing whitespace gives no empty tokens. */
export const whitespaceTokenizer: WordSplitter = (text: string): string[] => {
  const t = text.trim();
  return t.length === 0 ? [] : t.split(WHITESPACE);
};

// Numbers with separators come first, so `3.14` is one token; `1990s` or `abc1` fall to the word rule.
const WORD_PUNCT = /\p{N}+(?:[.,:]\p{N}+)+|[\p{L}\p{M}\p{N}]+(?:['’-][\p{L}\p{M}\p{N}]+)*|\S/gu;

export interface WordPunctOptions {
  /** Lower-case the text before splitting. Default false. */
  lowercase?: boolean;
}

/** A word/number/punctuation tokenizer for raw text (see the module comment for the rules). */
export function wordPunctTokenizer(options: WordPunctOptions = {}): WordSplitter {
  const lowercase = options.lowercase ?? false;
  return (text: string): string[] => {
    const t = lowercase ? text.toLowerCase() : text;
    return t.match(WORD_PUNCT) ?? [];
  };
}

/** Wraps a tokenizer so that its tokens are lower-cased. */
export function lowercased(tokenizer: WordSplitter): WordSplitter {
  return (text: string) => tokenizer(text.toLowerCase());
}

/** Joins words with single spaces (a simple inverse for display, not an exact one). */
export function detokenize(words: readonly string[]): string {
  return words.join(' ');
}
