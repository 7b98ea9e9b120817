/**
 * Parquet and Arrow (Hugging Face `datasets`) sources, on files these tests write with
 * hyparquet-writer and apache-arrow: the same texts read as JSONL must give the same corpus
 * (tokens, offsets, vocabulary); split files are used; every error is one clear line.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Field, Int32, List, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { parquetWriteFile } from 'hyparquet-writer';
import { parquetMetadataAsync } from 'hyparquet';
import { asyncBufferFromFile } from 'hyparquet/src/node.js';
import { CollapseError } from '../../src/errors.js';
import { loadCorpus, parseCorpusSpec, parseSplit, type LoadedCorpus, type LoadCorpusOptions } from '../../src/corpus/index.js';
import { splitOfPath } from '../../src/corpus/tables.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'collapse-tables-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

function dir(rel: string): string {
  const p = path.join(tmp, rel);
  mkdirSync(p, { recursive: true });
  return p;
}

/** 47 short texts with repeated and case-varied words and punctuation. */
const TEXTS = Array.from({ length: 47 }, (_, i) => {
  const w = ['The cat', 'a Dog', 'the bird', 'Lily'][i % 4];
  return `${w} saw ${i % 7 === 0 ? 'a BALL' : 'the sun'}, and ran ${i % 5}x! It was fun (story ${i % 11}).`;
});

/** One JSONL file of `texts` (field "text"); returns its path. */
function jsonl(rel: string, texts: readonly string[]): string {
  const p = path.join(dir(path.dirname(rel)), path.basename(rel));
  writeFileSync(p, texts.map((t) => JSON.stringify({ text: t })).join('\n') + '\n');
  return p;
}

/** A parquet shard: an id column, `texts` in "text" (nulls allowed), a numeric "score", small row groups. */
function parquet(file: string, texts: readonly (string | null)[], extra: { name: string; data: unknown[]; type?: string }[] = [], textName = 'text'): void {
  mkdirSync(path.dirname(file), { recursive: true });
  parquetWriteFile({
    filename: file,
    columnData: [
      { name: 'id', data: texts.map((_, i) => i), type: 'INT32' },
      { name: textName, data: texts as string[], type: 'STRING' },
      { name: 'score', data: texts.map((_, i) => i / 2), type: 'DOUBLE' },
      ...(extra as { name: string; data: number[] }[]),
    ],
    rowGroupSize: 4,
  });
}

/** An Arrow IPC stream file of `texts` (column "text" plus an int "id"), in record batches of 5 rows. */
function arrowStream(file: string, texts: readonly (string | null)[]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const batches: Table[] = [];
  for (let i = 0; i < texts.length; i += 5) {
    const part = texts.slice(i, i + 5);
    batches.push(
      new Table({
        id: vectorFromArray(Int32Array.from(part, (_, k) => i + k)),
        text: vectorFromArray(part, new Utf8()),
      }),
    );
  }
  const table = batches.length ? batches.reduce((a, b) => a.concat(b)) : new Table({ id: vectorFromArray(new Int32Array(0)), text: vectorFromArray([], new Utf8()) });
  expect(table.batches.length).toBe(Math.ceil(texts.length / 5));
  writeFileSync(file, tableToIPC(table, 'stream'));
}

/** A `datasets` save_to_disk Dataset folder whose rows are `texts`, over `shards` Arrow files. */
function savedDataset(folder: string, texts: readonly (string | null)[], shards: number): void {
  mkdirSync(folder, { recursive: true });
  const per = Math.ceil(texts.length / shards);
  const files: { filename: string }[] = [];
  for (let s = 0; s < shards; s++) {
    const name = `data-${String(s).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.arrow`;
    arrowStream(path.join(folder, name), texts.slice(s * per, (s + 1) * per));
    files.push({ filename: name });
  }
  writeFileSync(path.join(folder, 'state.json'), JSON.stringify({ _data_files: files, _fingerprint: 'x', _format_type: null, _split: null }));
  writeFileSync(path.join(folder, 'dataset_info.json'), JSON.stringify({ features: { id: { dtype: 'int32', _type: 'Value' }, text: { dtype: 'string', _type: 'Value' } } }));
}

async function errorOf(p: Promise<unknown>): Promise<CollapseError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CollapseError);
    const err = e as CollapseError;
    expect(err.message).not.toContain('\n');
    return err;
  }
  throw new Error('expected a CollapseError, but the call succeeded');
}

/** Same corpus: identical tokens, offsets and vocabulary in every split. */
function expectSameCorpus(a: LoadedCorpus, b: LoadedCorpus): void {
  expect(a.vocab.toJSON()).toEqual(b.vocab.toJSON());
  for (const s of ['train', 'valid', 'test'] as const) {
    expect(Array.from(a[s].tokens)).toEqual(Array.from(b[s].tokens));
    expect(Array.from(a[s].offsets)).toEqual(Array.from(b[s].offsets));
    expect(a.info[s]).toEqual(b.info[s]);
  }
}

describe('spec strings', () => {
  test('parquet:PATH[:COLUMN] and arrow:PATH[:COLUMN]', () => {
    expect(parseCorpusSpec('parquet:data/x')).toEqual({ kind: 'parquet', path: 'data/x' });
    expect(parseCorpusSpec('parquet:data/x:story')).toEqual({ kind: 'parquet', path: 'data/x', column: 'story' });
    expect(parseCorpusSpec('arrow:saved')).toEqual({ kind: 'arrow', path: 'saved' });
    expect(parseCorpusSpec('arrow:saved:text')).toEqual({ kind: 'arrow', path: 'saved', column: 'text' });
    expect(() => parseCorpusSpec('parquet:')).toThrow(/lacks a path/);
    expect(() => parseCorpusSpec('parquet:x:')).toThrow(/column name/);
  });

  test('split choices', () => {
    expect(parseSplit('0.8,0.1,0.1')).toEqual([0.8, 0.1, 0.1]);
    expect(parseSplit([0.5, 0.25, 0.25])).toEqual([0.5, 0.25, 0.25]);
    expect(parseSplit('files')).toBe('files');
    expect(() => parseSplit('0.8,0.1')).toThrow(/three fractions/);
    expect(() => parseSplit('0.8,0.3,0.1')).toThrow(/sum to/);
    expect(() => parseSplit('0,0.5,0.5')).toThrow(/train fraction/);
    expect(() => parseSplit('a,b,c')).toThrow(/three fractions/);
  });

  test('split names of Hugging Face paths', () => {
    expect(splitOfPath('data/train-00000-of-00004.parquet')).toEqual({ word: 'train', split: 'train' });
    expect(splitOfPath('validation-00000-of-00001-abc.parquet')).toEqual({ word: 'validation', split: 'valid' });
    expect(splitOfPath('plain_text/test/0000.parquet')).toEqual({ word: 'test', split: 'test' });
    expect(splitOfPath('unsupervised-00000-of-00001.parquet')).toEqual({ word: 'unsupervised', split: undefined });
    // The hub's shard names with a content hash (roneneldan/TinyStories, imdb).
    expect(splitOfPath('data/train-00003-of-00004-2d5a1467fff1081b.parquet')).toEqual({ word: 'train', split: 'train' });
    expect(splitOfPath('unsupervised-00000-of-00001-9b24a6ce23fbf8b2.parquet')).toEqual({ word: 'unsupervised', split: undefined });
    expect(splitOfPath('stories.parquet')).toBeUndefined();
    // The datasets cache's Arrow files.
    expect(splitOfPath('tiny_stories-train-00000-of-00004.arrow')).toEqual({ word: 'train', split: 'train' });
    expect(splitOfPath('tiny_stories-validation.arrow')).toEqual({ word: 'validation', split: 'valid' });
    expect(splitOfPath('imdb-unsupervised-00000-of-00001.arrow')).toEqual({ word: 'unsupervised', split: undefined });
    expect(splitOfPath('my-notes.arrow')).toBeUndefined();
    expect(splitOfPath('part-0.parquet')).toBeUndefined();
    expect(splitOfPath('trainer.parquet')).toBeUndefined();
  });
});

describe('parquet', () => {
  test('a folder of shards (several row groups each, other columns beside the text) equals the JSONL of the same texts', async () => {
    const d = dir('pq-shards');
    // Name order, not creation order: write the shards backwards.
    for (const s of [2, 1, 0]) parquet(path.join(d, `part-${s}.parquet`), TEXTS.slice(s * 16, (s + 1) * 16));
    const ref = await loadCorpus({ kind: 'jsonl', path: jsonl('pq-shards.jsonl', TEXTS), field: 'text' });
    const r = await loadCorpus(`parquet:${d}`);
    expectSameCorpus(r, ref);
    expect(r.info.files).toBe(3);
    expect(r.info.source).toContain('column "text"');
    expect(r.info.train.sequences).toBe(47 - 2 * 4);
    // Explicit column, lowercasing and the whitespace tokenizer pass through the same way.
    const opts: LoadCorpusOptions = { tokenizer: 'whitespace', lowercase: true, minCount: 2 };
    expectSameCorpus(await loadCorpus(`parquet:${d}:text`, opts), await loadCorpus({ kind: 'jsonl', path: jsonl('pq-shards2.jsonl', TEXTS), field: 'text' }, opts));
  });

  test('nulls are skipped and counted; the only string column is the default', async () => {
    const d = dir('pq-null');
    const withNulls = [...TEXTS.slice(0, 10), null, ...TEXTS.slice(10, 30), null, null, ...TEXTS.slice(30)];
    parquet(path.join(d, 'a.parquet'), withNulls, [], 'story');
    const r = await loadCorpus({ kind: 'parquet', path: path.join(d, 'a.parquet') });
    expectSameCorpus(r, await loadCorpus({ kind: 'jsonl', path: jsonl('pq-null.jsonl', TEXTS), field: 'text' }));
    expect(r.info.source).toContain('column "story"');
    expect(r.info.source).toContain('3 null values skipped');
  });

  test('Hugging Face split files: train shards → train, validation cut in half, test → test', async () => {
    const d = dir('pq-hf/data');
    const train = TEXTS.slice(0, 30);
    const valid = TEXTS.slice(30, 40);
    const test = TEXTS.slice(40);
    parquet(path.join(d, 'train-00000-of-00002.parquet'), train.slice(0, 15));
    parquet(path.join(d, 'train-00001-of-00002.parquet'), train.slice(15));
    parquet(path.join(d, 'validation-00000-of-00001.parquet'), valid);
    const ref = await loadCorpus({ kind: 'files', train: jsonlAsLines('hf-train.txt', train), valid: jsonlAsLines('hf-valid.txt', valid) }, { tokenizer: 'wordpunct' });
    const r = await loadCorpus(`parquet:${path.dirname(d)}`);
    expectSameCorpus(r, ref);
    expect(r.info.valid.sequences).toBe(5);
    expect(r.info.test.sequences).toBe(5);
    expect(r.info.source).toContain('train 2 files, validation 1 file, test 0 files');
    // With a test file too, each split is its own.
    parquet(path.join(d, 'test-00000-of-00001.parquet'), test);
    const r3 = await loadCorpus(`parquet:${path.dirname(d)}`);
    expect(r3.info.train.sequences).toBe(30);
    expect(r3.info.valid.sequences).toBe(10);
    expect(r3.info.test.sequences).toBe(7);
    expect(r3.info.split).toContain('train, validation and test files');
    // maxTrainTokens stops reading the train shards at the cap.
    const capped = await loadCorpus(`parquet:${path.dirname(d)}`, { maxTrainTokens: 40 });
    let k = 0;
    while ((r3.train.offsets[k + 1] as number) <= 40) k++;
    expect(capped.info.train.sequences).toBe(k);
    expect(capped.info.train.tokens).toBe(r3.train.offsets[k]);
    expect(k).toBeGreaterThan(0);
    // Fractions conflict with the source's own splits; "files" is what it does already.
    expect((await errorOf(loadCorpus(`parquet:${path.dirname(d)}`, { split: '0.8,0.1,0.1' }))).message).toMatch(/its own train\/validation\/test files/);
    expect((await loadCorpus(`parquet:${path.dirname(d)}`, { split: 'files' })).info.test.sequences).toBe(7);
  });

  test('GZIP and BROTLI pages (decoded with Node zlib) give the same corpus', async () => {
    const zlib = await import('node:zlib');
    const d = dir('pq-codecs');
    const ref = await loadCorpus({ kind: 'jsonl', path: jsonl('pq-codecs.jsonl', TEXTS), field: 'text' });
    for (const [codec, compress] of [
      ['GZIP', (b: Uint8Array) => new Uint8Array(zlib.gzipSync(b))],
      ['BROTLI', (b: Uint8Array) => new Uint8Array(zlib.brotliCompressSync(b))],
    ] as const) {
      const file = path.join(d, `${codec}.parquet`);
      parquetWriteFile({ filename: file, columnData: [{ name: 'text', data: TEXTS, type: 'STRING' }], codec, compressors: { [codec]: compress }, rowGroupSize: 10 });
      // The pages really are in that codec.
      const meta = await parquetMetadataAsync(await asyncBufferFromFile(file));
      expect(meta.row_groups[0]!.columns[0]!.meta_data!.codec).toBe(codec);
      expectSameCorpus(await loadCorpus(`parquet:${file}`), ref);
    }
  });

  test('split folders (train/, test/) and other splits left out', async () => {
    const d = dir('pq-folders');
    parquet(path.join(d, 'train', '0000.parquet'), TEXTS.slice(0, 40));
    parquet(path.join(d, 'test', '0000.parquet'), TEXTS.slice(40));
    parquet(path.join(d, 'unsupervised-00000-of-00001.parquet'), ['never read']);
    const r = await loadCorpus({ kind: 'parquet', path: d });
    expect(r.info.train.sequences).toBe(40);
    expect(r.info.valid.sequences).toBe(0);
    expect(r.info.test.sequences).toBe(7);
    expect(r.info.source).toContain('split unsupervised not used');
    expect(r.vocab.has('never')).toBe(false);
  });

  test('fractions split a source without split files by order', async () => {
    const d = dir('pq-frac');
    parquet(path.join(d, 'a.parquet'), TEXTS);
    const r = await loadCorpus(`parquet:${d}`, { split: [0.6, 0.2, 0.2] });
    // 47 rows: ⌊9.4⌋ = 9 valid, 9 test, 29 train.
    expect([r.info.train.sequences, r.info.valid.sequences, r.info.test.sequences]).toEqual([29, 9, 9]);
    expect(r.info.splitChoice).toBe('0.6,0.2,0.2');
    expect((await errorOf(loadCorpus(`parquet:${d}`, { split: 'files' }))).message).toMatch(/no train\/validation\/test files/);
  });

  test('errors: missing column, nested column, no text column, corrupt file, several string columns, unit', async () => {
    const d = dir('pq-err');
    const file = path.join(d, 'a.parquet');
    parquet(file, TEXTS.slice(0, 5), [{ name: 'meta', data: [[1], [2, 3], [], [4], [5]] }]);
    let e = await errorOf(loadCorpus(`parquet:${file}:body`));
    expect(e.code).toBe('E_BAD_CORPUS');
    expect(e.message).toBe(`${file}: no column "body"; its string columns: text`);
    e = await errorOf(loadCorpus(`parquet:${file}:score`));
    expect(e.message).toBe(`${file}: column "score" holds double values, not text; its string columns: text`);
    e = await errorOf(loadCorpus(`parquet:${file}:meta`));
    expect(e.message).toBe(`${file}: column "meta" holds json values, not text; its string columns: text`);

    // A real nested (LIST) column named "text" is refused with its type.
    const nested = path.join(d, 'nested.parquet');
    parquetWriteFile({
      filename: nested,
      columnData: [
        { name: 'text', data: [[1, 2], [3]] },
        { name: 'title', data: ['x', 'y'] },
      ],
      schema: [
        { name: 'root', num_children: 2 },
        { name: 'text', repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', type: 'INT32', repetition_type: 'OPTIONAL' },
        { name: 'title', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
      ],
    } as Parameters<typeof parquetWriteFile>[0]);
    e = await errorOf(loadCorpus(`parquet:${nested}`));
    expect(e.message).toBe(`${nested}: column "text" holds list values, not text; its string columns: title`);

    const numbers = path.join(d, 'numbers.parquet');
    parquetWriteFile({ filename: numbers, columnData: [{ name: 'n', data: [1, 2], type: 'INT32' }] });
    e = await errorOf(loadCorpus(`parquet:${numbers}`));
    expect(e.message).toBe(`${numbers}: it has no string column (columns: n int32)`);

    const two = path.join(d, 'two.parquet');
    parquetWriteFile({ filename: two, columnData: [{ name: 'a', data: ['x'], type: 'STRING' }, { name: 'b', data: ['y'], type: 'STRING' }] });
    e = await errorOf(loadCorpus(`parquet:${two}`));
    expect(e.message).toMatch(/several string columns and none named "text"; name one \(PATH:COLUMN\) of: a, b$/);

    const corrupt = path.join(d, 'corrupt.parquet');
    writeFileSync(corrupt, 'PAR1 this is not parquet at all, just text PAR1');
    e = await errorOf(loadCorpus(`parquet:${corrupt}`));
    expect(e.code).toBe('E_BAD_CORPUS');
    expect(e.message.startsWith(`${corrupt} is not a readable parquet file (`)).toBe(true);
    // A truncated real file.
    const { readFileSync } = await import('node:fs');
    const whole = readFileSync(file);
    const cut = path.join(d, 'cut.parquet');
    writeFileSync(cut, whole.subarray(0, whole.length - 20));
    e = await errorOf(loadCorpus(`parquet:${cut}`));
    expect(e.message.startsWith(`${cut} is not a readable parquet file`)).toBe(true);

    e = await errorOf(loadCorpus(`parquet:${path.join(d, 'missing.parquet')}`));
    expect(e.message).toBe(`no such file or folder: ${path.join(d, 'missing.parquet')}`);
    e = await errorOf(loadCorpus(`parquet:${file}`, { unit: 'paragraph' }));
    expect(e.code).toBe('E_BAD_ARGUMENT');
    expect(e.message).toMatch(/applies to text and files corpora; parquet has its own records \(rows\)/);
  });
});

/** The texts as a text file, one per line (for the `files` reference with split files). */
function jsonlAsLines(rel: string, texts: readonly string[]): string {
  const p = path.join(dir('lines'), rel);
  writeFileSync(p, texts.join('\n') + '\n');
  return p;
}

describe('arrow', () => {
  test('a save_to_disk Dataset folder (two Arrow stream shards, record batches of 5) equals the JSONL', async () => {
    const d = path.join(tmp, 'saved-ds');
    savedDataset(d, TEXTS, 2);
    const r = await loadCorpus(`arrow:${d}`);
    expectSameCorpus(r, await loadCorpus({ kind: 'jsonl', path: jsonl('arrow.jsonl', TEXTS), field: 'text' }));
    expect(r.info.files).toBe(2);
    expect(r.info.kind).toBe('arrow');
    // One .arrow file alone works as well.
    const one = path.join(tmp, 'one.arrow');
    arrowStream(one, TEXTS);
    expectSameCorpus(await loadCorpus({ kind: 'arrow', path: one, column: 'text' }), r);
  });

  test('a DatasetDict folder uses its splits; nulls skipped', async () => {
    const d = path.join(tmp, 'saved-dict');
    savedDataset(path.join(d, 'train'), [...TEXTS.slice(0, 20), null, ...TEXTS.slice(20, 30)], 3);
    savedDataset(path.join(d, 'validation'), TEXTS.slice(30, 40), 1);
    savedDataset(path.join(d, 'test'), TEXTS.slice(40), 1);
    writeFileSync(path.join(d, 'dataset_dict.json'), JSON.stringify({ splits: ['train', 'validation', 'test'] }));
    const r = await loadCorpus(`arrow:${d}`);
    const ref = await loadCorpus(
      { kind: 'files', train: jsonlAsLines('d-train.txt', TEXTS.slice(0, 30)), valid: jsonlAsLines('d-valid.txt', TEXTS.slice(30, 40)), test: jsonlAsLines('d-test.txt', TEXTS.slice(40)) },
      { tokenizer: 'words' },
    );
    expectSameCorpus(r, ref);
    expect(r.info.source).toContain('1 null value skipped');
    expect(r.info.files).toBe(5);
  });

  test('a datasets cache folder (BUILDER-SPLIT-0000k-of-0000n.arrow) uses its splits', async () => {
    const d = dir('arrow-cache/default/0.0.0/abc123');
    arrowStream(path.join(d, 'tiny_stories-train-00000-of-00002.arrow'), TEXTS.slice(0, 20));
    arrowStream(path.join(d, 'tiny_stories-train-00001-of-00002.arrow'), TEXTS.slice(20, 37));
    arrowStream(path.join(d, 'tiny_stories-validation.arrow'), TEXTS.slice(37));
    writeFileSync(path.join(d, 'dataset_info.json'), '{}');
    const r = await loadCorpus(`arrow:${path.join(tmp, 'arrow-cache')}`);
    const ref = await loadCorpus({ kind: 'files', train: jsonlAsLines('c-train.txt', TEXTS.slice(0, 37)), valid: jsonlAsLines('c-valid.txt', TEXTS.slice(37)) }, { tokenizer: 'words' });
    expectSameCorpus(r, ref);
    expect(r.info.source).toContain('train 2 files, validation 1 file, test 0 files');
  });

  test('errors: missing column, nested column, corrupt file, state.json without files', async () => {
    const d = dir('arrow-err');
    const file = path.join(d, 'a.arrow');
    arrowStream(file, TEXTS.slice(0, 3));
    let e = await errorOf(loadCorpus(`arrow:${file}:body`));
    expect(e.message).toBe(`${file}: no column "body"; its string columns: text`);
    const nested = path.join(d, 'nested.arrow');
    const table = new Table({ text: vectorFromArray([[1, 2], [3]], new List(new Field('item', new Int32(), true))), name: vectorFromArray(['a', 'b'], new Utf8()) });
    writeFileSync(nested, tableToIPC(table, 'stream'));
    e = await errorOf(loadCorpus(`arrow:${nested}`));
    expect(e.message).toBe(`${nested}: column "text" holds list values, not text; its string columns: name`);
    const corrupt = path.join(d, 'corrupt.arrow');
    writeFileSync(corrupt, Buffer.from('this is not an arrow stream, only some text that goes on for a while'));
    e = await errorOf(loadCorpus(`arrow:${corrupt}`));
    expect(e.code).toBe('E_BAD_CORPUS');
    expect(e.message.startsWith(`${corrupt} is not a readable Arrow IPC file`)).toBe(true);
    // Truncated inside a record batch.
    const whole = tableToIPC(new Table({ text: vectorFromArray(TEXTS, new Utf8()) }), 'stream');
    const cut = path.join(d, 'cut.arrow');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length * 0.7)));
    e = await errorOf(loadCorpus(`arrow:${cut}`));
    expect(e.message.startsWith(`${cut} is not a readable Arrow IPC file`)).toBe(true);
    const noFiles = dir('arrow-err/ds');
    writeFileSync(path.join(noFiles, 'state.json'), JSON.stringify({ _data_files: [] }));
    e = await errorOf(loadCorpus(`arrow:${noFiles}`));
    expect(e.message).toMatch(/state\.json lists no data files/);
  });
});

describe('corpus options on the other sources', () => {
  test('unit: a sequence per file; options.unit equals the spec field, and the spec field wins', async () => {
    const d = dir('units');
    writeFileSync(path.join(d, 'a.txt'), 'one two\nthree\n\nfour\n');
    writeFileSync(path.join(d, 'b.txt'), 'five six\n');
    writeFileSync(path.join(d, 'c.txt'), 'seven\r\neight nine');
    const thirds: [number, number, number] = [1 / 3, 1 / 3, 1 / 3];
    const r = await loadCorpus({ kind: 'text', path: d }, { unit: 'file', split: thirds });
    const seq = (c: LoadedCorpus, s: 'train' | 'valid' | 'test') => c.vocab.decode(c[s].tokens).join(' ');
    expect([seq(r, 'train'), seq(r, 'valid'), seq(r, 'test')]).toEqual(['one two three four', '<unk> <unk>', '<unk> <unk> <unk>']);
    expect(r.info.tokenizer).toBe('one sequence per file, whitespace');
    // The byte-scanning and string paths agree: the words tokenizer on whole files gives the same words here.
    const w = await loadCorpus({ kind: 'text', path: d }, { unit: 'file', split: thirds, tokenizer: 'words' });
    expect(w.vocab.toJSON()).toEqual(r.vocab.toJSON());
    const para = await loadCorpus({ kind: 'text', path: d }, { unit: 'paragraph' });
    const paraSpec = await loadCorpus({ kind: 'text', path: d, unit: 'paragraph' }, { unit: 'file' });
    expect(para.info.train.sequences).toBe(4); // "one two three", "four", "five six", "seven eight nine"
    expectSameCorpus(paraSpec, para);
    // files: TRAIN with unit file.
    const f = await loadCorpus({ kind: 'files', train: d }, { unit: 'file', split: thirds });
    expect(Array.from(f.train.tokens)).toEqual(Array.from(r.train.tokens));
  });

  test('tokenizer "words" is wordpunct; fractions and "files" on text, files and tinystories', async () => {
    const file = jsonlAsLines('opts.txt', TEXTS);
    expectSameCorpus(await loadCorpus({ kind: 'text', path: file }, { tokenizer: 'words' }), await loadCorpus({ kind: 'text', path: file }, { tokenizer: 'wordpunct' }));
    const r = await loadCorpus(`text:${file}`, { split: '0.5,0.3,0.2' });
    // 47 lines: ⌊14.1⌋ = 14 valid, ⌊9.4⌋ = 9 test, 24 train, in order.
    expect([r.info.train.sequences, r.info.valid.sequences, r.info.test.sequences]).toEqual([24, 14, 9]);
    expect(r.vocab.decode(r.test.tokens.subarray(0, 2))).toEqual(TEXTS[38]!.split(' ').slice(0, 2).map((x) => (r.vocab.has(x) ? x : '<unk>')));
    expect((await errorOf(loadCorpus(`text:${file}`, { split: 'files' }))).code).toBe('E_BAD_ARGUMENT');
    const v = jsonlAsLines('opts-valid.txt', TEXTS.slice(0, 8));
    expect((await loadCorpus(`files:${file},${v}`, { split: 'files' })).info.valid.sequences).toBe(4);
    expect((await errorOf(loadCorpus(`files:${file},${v}`, { split: [0.8, 0.1, 0.1] }))).message).toMatch(/its own train\/validation\/test files/);
    const ts = dir('ts-opts');
    writeFileSync(path.join(ts, 'x-train.txt'), 'a b<|endoftext|>c d');
    writeFileSync(path.join(ts, 'x-valid.txt'), 'a<|endoftext|>b');
    expect((await errorOf(loadCorpus(`tinystories:${ts}`, { split: '0.8,0.1,0.1' }))).code).toBe('E_BAD_ARGUMENT');
    expect((await errorOf(loadCorpus(`tinystories:${ts}`, { unit: 'line' }))).message).toMatch(/tinystories has its own records \(stories\)/);
  });

  test('bad option values are E_BAD_ARGUMENT with one line', async () => {
    const file = jsonlAsLines('bad-opts.txt', TEXTS);
    for (const [opts, re] of [
      [{ unit: 'sentence' }, /unit must be "line", "paragraph" or "file"/],
      [{ split: '1,0,0.5' }, /sum to 1.5, not 1/],
      [{ split: 'half' }, /split must be "auto", "files" or three fractions/],
      [{ lowercase: 'yes' }, /lowercase must be true or false/],
      [{ tokenizer: 'bpe' }, /unknown tokenizer "bpe"/],
    ] as [LoadCorpusOptions, RegExp][]) {
      const e = await errorOf(loadCorpus(`text:${file}`, opts));
      expect(e.code).toBe('E_BAD_ARGUMENT');
      expect(e.message).toMatch(re);
    }
  });
});
