/**
 * Streaming readers for the columnar files researchers get corpora in: parquet (the Hugging Face
 * hub's format; read with hyparquet) and Arrow IPC streams (what `datasets`' `save_to_disk` writes;
 * read with apache-arrow). No format code is written here: the libraries decode, this module picks
 * the text column, walks the data a row group (parquet) or a record batch (Arrow) at a time, and
 * turns every failure into one clear line.
 *
 * Memory: only one row group's (or record batch's) text column is held at a time, so a corpus of
 * any size streams in memory bounded by its largest row group / batch.
 *
 * Columns: the text column is the one named, else `text` when present, else the only string column;
 * otherwise an error lists the string columns. Null values are skipped and counted; a nested column
 * (list, struct, map) or a non-string one is an error naming the column and its type.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { RecordBatchReader, DataType, type Field } from 'apache-arrow';
import { parquetMetadataAsync, parquetRead, parquetSchema, type FileMetaData, type SchemaTree } from 'hyparquet';
import { asyncBufferFromFile } from 'hyparquet/src/node.js';
import { CollapseError } from '../errors.js';
import { fsError, statPath } from './read.js';

/** One column of a table file, as the error messages describe it. */
export interface TableColumn {
  name: string;
  /** e.g. "string", "int64", "list", "struct", "double". */
  type: string;
  /** Holds text (a flat, UTF-8 string column). */
  text: boolean;
}

/** Receives each non-null text value in row order; return false to stop reading. */
export type TextCallback = (text: string) => boolean | void;

export interface TableReadResult {
  /** The text column read. */
  column: string;
  rows: number;
  /** Null values skipped. */
  nulls: number;
  /** The callback stopped the read early. */
  stopped: boolean;
}

function bad(message: string, cause?: unknown): CollapseError {
  return new CollapseError('E_BAD_CORPUS', message, cause === undefined ? undefined : { cause });
}

function firstLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return (m.split('\n')[0] ?? '').trim() || 'unknown error';
}

/**
 * The text column of a file: `wanted` if given, else `text`, else the only text column. Throws a
 * one-line E_BAD_CORPUS naming the file and its columns.
 */
export function chooseColumn(file: string, columns: readonly TableColumn[], wanted: string | undefined): string {
  const texts = columns.filter((c) => c.text).map((c) => c.name);
  const textList = texts.length ? `its string columns: ${texts.join(', ')}` : `it has no string column (columns: ${columns.map((c) => `${c.name} ${c.type}`).join(', ') || 'none'})`;
  const check = (name: string): string => {
    const col = columns.find((c) => c.name === name);
    if (col === undefined) throw bad(`${file}: no column "${name}"; ${textList}`);
    if (!col.text) throw bad(`${file}: column "${name}" holds ${col.type} values, not text; ${textList}`);
    return name;
  };
  if (wanted !== undefined) return check(wanted);
  if (columns.some((c) => c.name === 'text')) return check('text');
  if (texts.length === 1) return texts[0] as string;
  if (texts.length === 0) throw bad(`${file}: ${textList}`);
  throw bad(`${file}: several string columns and none named "text"; name one (PATH:COLUMN) of: ${texts.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------
// Parquet
// ---------------------------------------------------------------------------------------------

/**
 * Page codecs beyond hyparquet's built-in Snappy, from Node's own zlib: GZIP and BROTLI, and ZSTD
 * where this Node has it (zstdDecompressSync, Node ≥ 22.15). LZ4 pages remain an error naming the file.
 */
const zstd = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array) => Buffer }).zstdDecompressSync;
const COMPRESSORS: Record<string, (input: Uint8Array, outputLength: number) => Uint8Array> = {
  GZIP: (input) => zlib.gunzipSync(input),
  BROTLI: (input) => zlib.brotliDecompressSync(input),
  ...(zstd ? { ZSTD: (input: Uint8Array) => zstd(input) } : {}),
};

function parquetColumns(meta: FileMetaData): TableColumn[] {
  const tree = parquetSchema(meta);
  return tree.children.map((c: SchemaTree) => {
    const e = c.element;
    const logical = e.logical_type?.type;
    let type: string;
    if (c.children.length > 0) {
      type = e.converted_type === 'LIST' || logical === 'LIST' ? 'list' : e.converted_type === 'MAP' || e.converted_type === 'MAP_KEY_VALUE' || logical === 'MAP' ? 'map' : 'struct';
    } else if (e.repetition_type === 'REPEATED') {
      type = `repeated ${(logical ?? e.converted_type ?? e.type ?? '?').toString().toLowerCase()}`;
    } else if (e.type === 'BYTE_ARRAY' && (e.converted_type === 'UTF8' || logical === 'STRING')) {
      type = 'string';
    } else {
      type = String(logical ?? e.converted_type ?? e.type ?? 'unknown').toLowerCase();
    }
    return { name: e.name, type, text: type === 'string' };
  });
}

/** The columns of a parquet file (reads its footer only). */
export async function parquetFileColumns(file: string): Promise<TableColumn[]> {
  const { meta } = await openParquet(file);
  return parquetColumns(meta);
}

async function openParquet(file: string): Promise<{ buf: Awaited<ReturnType<typeof asyncBufferFromFile>>; meta: FileMetaData }> {
  let buf: Awaited<ReturnType<typeof asyncBufferFromFile>>;
  try {
    buf = await asyncBufferFromFile(file);
  } catch (err) {
    throw fsError(err, file);
  }
  try {
    return { buf, meta: await parquetMetadataAsync(buf) };
  } catch (err) {
    throw bad(`${file} is not a readable parquet file (${firstLine(err)})`, err);
  }
}

/**
 * Streams the text values of a parquet file, one row group at a time (only `column`'s chunks
 * are read and decoded).
 */
export async function readParquetTexts(file: string, wanted: string | undefined, onText: TextCallback): Promise<TableReadResult> {
  const { buf, meta } = await openParquet(file);
  const column = chooseColumn(file, parquetColumns(meta), wanted);
  let rows = 0;
  let nulls = 0;
  let stopped = false;
  let start = 0;
  for (const group of meta.row_groups) {
    const n = Number(group.num_rows);
    // The column's decoded chunks (pages) of this row group; onChunk hands over hyparquet's
    // column arrays as they are, without building a row array per row as onComplete would.
    let chunks: { rowStart: number; data: ArrayLike<unknown> }[] = [];
    try {
      await parquetRead({
        file: buf,
        metadata: meta,
        columns: [column],
        rowStart: start,
        rowEnd: start + n,
        compressors: COMPRESSORS,
        onChunk: (c) => {
          if (c.columnName === column) chunks.push({ rowStart: c.rowStart, data: c.columnData });
        },
      });
    } catch (err) {
      const codec = /unsupported compression codec: (\w+)/.exec(firstLine(err));
      if (codec) throw bad(`${file}: its pages are ${codec[1]}-compressed, which this reader cannot decode (it reads uncompressed, SNAPPY, GZIP, BROTLI${zstd ? ', ZSTD' : ''}); re-save it with snappy`, err);
      throw bad(`${file} is not a readable parquet file: row group at row ${start}, column "${column}" (${firstLine(err)})`, err);
    }
    start += n;
    chunks.sort((x, y) => x.rowStart - y.rowStart);
    outer: for (const chunk of chunks) {
      const values = chunk.data;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        rows++;
        if (v === null || v === undefined) {
          nulls++;
          continue;
        }
        if (typeof v !== 'string') throw bad(`${file}: column "${column}" holds a ${Array.isArray(v) ? 'list' : typeof v} value at row ${rows}, not text`);
        if (onText(v) === false) {
          stopped = true;
          break outer;
        }
      }
    }
    chunks = [];
    if (stopped) break;
  }
  return { column, rows, nulls, stopped };
}

// ---------------------------------------------------------------------------------------------
// Arrow IPC streams
// ---------------------------------------------------------------------------------------------

function arrowColumns(fields: readonly Field[]): TableColumn[] {
  return fields.map((f) => {
    const t = f.type as DataType;
    const text = DataType.isUtf8(t) || DataType.isLargeUtf8(t);
    let type = text ? 'string' : String(t).toLowerCase();
    if (DataType.isList(t) || DataType.isFixedSizeList(t)) type = 'list';
    else if (DataType.isStruct(t)) type = 'struct';
    else if (DataType.isMap(t)) type = 'map';
    return { name: f.name, type, text };
  });
}

/**
 * Streams the text values of an Arrow IPC stream file (or an Arrow IPC file), one record batch
 * at a time.
 */
export async function readArrowTexts(file: string, wanted: string | undefined, onText: TextCallback): Promise<TableReadResult> {
  const st = await statPath(file);
  if (!st.isFile()) throw bad(`${file} is a folder where an Arrow file was expected`);
  // Open it here first so a missing or unreadable file gets the fs message, not Arrow's.
  try {
    await (await fsp.open(file, 'r')).close();
  } catch (err) {
    throw fsError(err, file);
  }
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  const corrupt = (err: unknown): CollapseError =>
    err instanceof CollapseError ? err : bad(`${file} is not a readable Arrow IPC file (${firstLine(err)})`, err);
  let rows = 0;
  let nulls = 0;
  let stopped = false;
  let column: string | undefined;
  try {
    let reader: Awaited<ReturnType<typeof RecordBatchReader.from>>;
    try {
      reader = await RecordBatchReader.from(stream);
      await reader.open();
    } catch (err) {
      throw corrupt(err);
    }
    // An empty or non-Arrow file opens as a reader with no schema.
    if (!reader.schema) throw bad(`${file} is not a readable Arrow IPC file (no schema message)`);
    column = chooseColumn(file, arrowColumns(reader.schema.fields), wanted);
    const it = reader[Symbol.asyncIterator]();
    for (;;) {
      let next: IteratorResult<unknown>;
      try {
        next = await it.next();
      } catch (err) {
        throw corrupt(err);
      }
      if (next.done) break;
      const batch = next.value as { numRows: number; getChild(name: string): { get(i: number): unknown } | null };
      const vec = batch.getChild(column);
      if (vec === null) throw bad(`${file}: a record batch lacks column "${column}"`);
      for (let i = 0; i < batch.numRows; i++) {
        const v = vec.get(i);
        rows++;
        if (v === null || v === undefined) {
          nulls++;
          continue;
        }
        if (typeof v !== 'string') throw bad(`${file}: column "${column}" holds a ${typeof v} value at row ${rows}, not text`);
        if (onText(v) === false) {
          stopped = true;
          break;
        }
      }
      if (stopped) {
        await it.return?.();
        break;
      }
    }
  } finally {
    stream.destroy();
  }
  return { column, rows, nulls, stopped };
}

// ---------------------------------------------------------------------------------------------
// Hugging Face layouts
// ---------------------------------------------------------------------------------------------

export type SplitName = 'train' | 'valid' | 'test';

/** The split a Hugging Face split name stands for (undefined for others, e.g. "unsupervised"). */
export function splitOfName(name: string): SplitName | undefined {
  const n = name.toLowerCase();
  if (n === 'train' || n === 'training') return 'train';
  if (n === 'validation' || n === 'valid' || n === 'val' || n === 'dev' || n === 'eval') return 'valid';
  if (n === 'test' || n === 'testing') return 'test';
  return undefined;
}

/**
 * The split a file belongs to by its path below the root: the first folder named after a split
 * (`train/0000.parquet`), else a file name that starts with one followed by '-', '_' or '.'
 * (`train-00000-of-00004.parquet`, `validation.parquet`). A shard name of the hub's form
 * `NAME-00000-of-00004[-HASH].*` names a split even when NAME is not one of ours (e.g. "unsupervised":
 * `split` is then undefined and the file is left out); so does the `datasets` cache's
 * `BUILDER-NAME-00000-of-00004.arrow` (and `BUILDER-train.arrow` for our split names). Returns the
 * split word and what it maps to.
 */
export function splitOfPath(rel: string): { word: string; split: SplitName | undefined } | undefined {
  const parts = rel.split(/[\\/]/);
  for (const dir of parts.slice(0, -1)) {
    const s = splitOfName(dir);
    if (s) return { word: dir, split: s };
  }
  const base = parts[parts.length - 1] ?? '';
  const shard = /^([A-Za-z0-9_]+)-\d+-of-\d+(?:[-.]|$)/.exec(base);
  if (shard) return { word: shard[1] as string, split: splitOfName(shard[1] as string) };
  // The `datasets` cache: BUILDER-SPLIT-00000-of-00004.arrow, or BUILDER-SPLIT.arrow for a known split.
  const cached = /^[A-Za-z0-9_.]+-([A-Za-z]+)(-\d+-of-\d+)?\.(?:arrow|parquet)$/.exec(base);
  if (cached && (cached[2] !== undefined || splitOfName(cached[1] as string))) return { word: cached[1] as string, split: splitOfName(cached[1] as string) };
  const m = /^([A-Za-z]+)(?:[-_.]|$)/.exec(base);
  if (m) {
    const word = m[1] as string;
    const s = splitOfName(word);
    if (s) return { word, split: s };
  }
  return undefined;
}

/** Files grouped by split. */
export interface SplitFiles {
  train: string[];
  valid: string[];
  test: string[];
}

/**
 * Groups `files` (under `root`) by the split their path names. Returns null when none names a
 * split (one pooled stream). When some do, a file that names none is an error, train must be
 * present, and files of other splits (e.g. "unsupervised") are left out and named in `ignored`.
 */
export function groupBySplit(root: string, files: readonly string[]): { splits: SplitFiles; ignored: string[] } | null {
  const tagged = files.map((f) => ({ f, s: splitOfPath(path.relative(root, f)) }));
  if (!tagged.some((t) => t.s !== undefined)) return null;
  const out: SplitFiles = { train: [], valid: [], test: [] };
  const ignored = new Set<string>();
  for (const t of tagged) {
    if (t.s === undefined) {
      throw bad(`${t.f} is in no split, while other files under ${root} are named by split (train, validation, test); move it or rename it`);
    }
    if (t.s.split) out[t.s.split].push(t.f);
    else ignored.add(t.s.word);
  }
  if (out.train.length === 0) throw bad(`no train split under ${root}: its files are named ${[...new Set(tagged.map((t) => t.s!.word))].join(', ')}`);
  return { splits: out, ignored: [...ignored] };
}

/** The .arrow data files of a `save_to_disk` Dataset folder (state.json's order), else null. */
async function datasetFolderFiles(dir: string): Promise<string[] | null> {
  let text: string;
  try {
    text = await fsp.readFile(path.join(dir, 'state.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fsError(err, path.join(dir, 'state.json'));
  }
  let state: unknown;
  try {
    state = JSON.parse(text);
  } catch (err) {
    throw bad(`${path.join(dir, 'state.json')} is not valid JSON (${firstLine(err)})`, err);
  }
  const files = (state as { _data_files?: unknown })?._data_files;
  if (!Array.isArray(files) || files.length === 0 || !files.every((f) => typeof (f as { filename?: unknown })?.filename === 'string')) {
    throw bad(`${path.join(dir, 'state.json')} lists no data files (_data_files); is this a datasets save_to_disk folder?`);
  }
  return files.map((f) => path.join(dir, (f as { filename: string }).filename));
}

/**
 * The Arrow files of an `arrow:` source and their splits:
 *   - a DatasetDict folder (dataset_dict.json): each listed split's Dataset folder;
 *   - a Dataset folder (state.json): its data files, one pooled stream;
 *   - an .arrow file; or a folder: its .arrow files in name order, grouped by split as parquet's.
 * Returns the pooled files, or the split groups, and the split names that were not used.
 */
export async function arrowLayout(p: string, listFiles: (p: string) => Promise<string[]>): Promise<{ pooled?: string[]; splits?: SplitFiles; ignored: string[] }> {
  const st = await statPath(p);
  if (st.isFile()) return { pooled: [p], ignored: [] };
  let dictText: string | undefined;
  try {
    dictText = await fsp.readFile(path.join(p, 'dataset_dict.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fsError(err, path.join(p, 'dataset_dict.json'));
  }
  if (dictText !== undefined) {
    let names: unknown;
    try {
      names = (JSON.parse(dictText) as { splits?: unknown }).splits;
    } catch (err) {
      throw bad(`${path.join(p, 'dataset_dict.json')} is not valid JSON (${firstLine(err)})`, err);
    }
    if (!Array.isArray(names) || !names.every((n) => typeof n === 'string')) throw bad(`${path.join(p, 'dataset_dict.json')} has no "splits" list`);
    const out: SplitFiles = { train: [], valid: [], test: [] };
    const ignored: string[] = [];
    for (const name of names as string[]) {
      const s = splitOfName(name);
      if (!s) {
        ignored.push(name);
        continue;
      }
      const files = await datasetFolderFiles(path.join(p, name));
      if (files === null) throw bad(`${path.join(p, name)} (split "${name}" of dataset_dict.json) has no state.json`);
      out[s].push(...files);
    }
    if (out.train.length === 0) throw bad(`${p}: dataset_dict.json lists no train split (splits: ${(names as string[]).join(', ')})`);
    return { splits: out, ignored };
  }
  const own = await datasetFolderFiles(p);
  if (own !== null) return { pooled: own, ignored: [] };
  const files = (await listFiles(p)).filter((f) => /\.arrow$/i.test(f));
  if (files.length === 0) throw new CollapseError('E_CORPUS_EMPTY', `no .arrow files, state.json or dataset_dict.json under ${p}`);
  const grouped = groupBySplit(p, files);
  return grouped ?? { pooled: files, ignored: [] };
}
