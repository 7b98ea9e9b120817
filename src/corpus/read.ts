/**
 * Streaming text input for corpus loaders. Files are read in 1 MiB chunks through a fatal,
 * streaming UTF-8 decoder and cut into records (lines, paragraphs, or separator-delimited records)
 * incrementally, so a multi-GB file is never one JavaScript string.
 *
 * Errors (all CollapseError E_BAD_CORPUS, one line, naming the file):
 *   - missing path: "no such file or folder: PATH"
 *   - NUL byte in the first 8 KiB: "PATH looks binary ..."
 *   - invalid UTF-8: "PATH is not valid UTF-8 (bad byte at offset N) ..."
 */
import { createReadStream, promises as fsp } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { CollapseError } from '../errors.js';

/** How a text is cut into records. */
export type RecordUnit =
  /** one record per line (\n or \r\n). */
  | 'line'
  /** one record per run of non-blank lines, separated by blank (whitespace-only) lines. */
  | 'paragraph'
  /** records separated by a literal string, e.g. `<|endoftext|>`. */
  | { separator: string };

/** Return false to stop reading early. */
export type RecordCallback = (text: string, lineNo: number) => boolean | void;

const CHUNK_BYTES = 1 << 20;
const BINARY_PROBE_BYTES = 8192;
/** A record longer than this (in UTF-16 units) is almost surely a wrong unit/separator. */
const MAX_RECORD_CHARS = 1 << 28;

function bad(message: string, cause?: unknown): CollapseError {
  return new CollapseError('E_BAD_CORPUS', message, cause === undefined ? undefined : { cause });
}

/** Maps a Node fs error on `p` to a one-line E_BAD_CORPUS. */
export function fsError(err: unknown, p: string): CollapseError {
  if (err instanceof CollapseError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return bad(`no such file or folder: ${p}`, err);
  if (code === 'EACCES' || code === 'EPERM') return bad(`cannot read ${p}: permission denied`, err);
  if (code === 'EISDIR') return bad(`${p} is a folder where a file was expected`, err);
  return bad(`cannot read ${p}: ${(err as Error | undefined)?.message ?? String(err)}`, err);
}

/** stat that maps errors to E_BAD_CORPUS. */
export async function statPath(p: string): Promise<Stats> {
  try {
    return await fsp.stat(p);
  } catch (err) {
    throw fsError(err, p);
  }
}

/**
 * The regular files under `p`: `p` itself if it is a file; for a folder, its files recursively in
 * tree order (each folder's entries sorted by name in code-unit order, depth first), skipping
 * entries whose name starts with '.'. Symbolic links are followed.
 */
export async function listFiles(p: string): Promise<string[]> {
  const st = await statPath(p);
  if (st.isFile()) return [p];
  if (!st.isDirectory()) throw bad(`${p} is neither a file nor a folder`);
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = await fsp.readdir(dir);
    } catch (err) {
      throw fsError(err, dir);
    }
    names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const full = path.join(dir, name);
      const s = await statPath(full);
      if (s.isDirectory()) await walk(full);
      else if (s.isFile()) out.push(full);
    }
  };
  await walk(p);
  return out;
}

/**
 * Offset of the first byte of `buf` that starts an invalid UTF-8 sequence, or -1 if none is found
 * (the fault may then straddle the chunk boundary). Leading continuation bytes, which may finish
 * a sequence from the previous chunk, are skipped.
 */
function findInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
  while (i < buf.length && i < 3 && ((buf[i] as number) & 0xc0) === 0x80) i++;
  while (i < buf.length) {
    const b = buf[i] as number;
    let need: number;
    let min: number;
    if (b < 0x80) {
      i++;
      continue;
    } else if (b >= 0xc2 && b <= 0xdf) {
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      need = 3;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + need >= buf.length) return -1; // truncated at the end of the chunk
    let cp = b & (0xff >> (need + 2));
    for (let k = 1; k <= need; k++) {
      const c = buf[i + k] as number;
      if ((c & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += need + 1;
  }
  return -1;
}

/**
 * Streams the decoded text of a UTF-8 file in chunks. `onChunk` returns false to stop early.
 * A UTF-8 byte-order mark is dropped.
 */
export async function readTextChunks(file: string, onChunk: (text: string) => boolean | void): Promise<void> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let bytes = 0;
  const stream = createReadStream(file, { highWaterMark: CHUNK_BYTES });
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (bytes < BINARY_PROBE_BYTES) {
        const probe = chunk.subarray(0, BINARY_PROBE_BYTES - bytes);
        const nul = probe.indexOf(0);
        if (nul >= 0) {
          throw bad(`${file} looks binary (NUL byte at offset ${bytes + nul}); corpus files must be UTF-8 text`);
        }
      }
      let text: string;
      try {
        text = decoder.decode(chunk, { stream: true });
      } catch (err) {
        const at = findInvalidUtf8(chunk);
        const where = at >= 0 ? `bad byte at offset ${bytes + at}` : `bad bytes near offset ${bytes}`;
        throw bad(`${file} is not valid UTF-8 (${where}); convert it to UTF-8`, err);
      }
      bytes += chunk.length;
      if (text.length > 0 && onChunk(text) === false) return; // leaving the loop destroys the stream
    }
    let tail: string;
    try {
      tail = decoder.decode();
    } catch (err) {
      throw bad(`${file} is not valid UTF-8 (truncated character at the end, offset ${bytes}); convert it to UTF-8`, err);
    }
    if (tail.length > 0) onChunk(tail);
  } catch (err) {
    // File-system errors (they carry a syscall) become E_BAD_CORPUS; anything else passes through.
    if (err !== null && typeof err === 'object' && 'syscall' in err) throw fsError(err, file);
    throw err;
  } finally {
    stream.destroy();
  }
}

class StopReading {}
const STOP = new StopReading();

/**
 * Streams the records of a UTF-8 file to `onRecord(text, lineNo)`. For 'line' and 'paragraph',
 * lineNo is the 1-based line number where the record starts; for a separator it is the 1-based
 * record index. Records are passed as they are (not trimmed); blank records are passed too
 * (callers skip those that tokenize to nothing). Returns false if the callback stopped early.
 */
export async function readRecords(file: string, unit: RecordUnit, onRecord: RecordCallback): Promise<boolean> {
  let carry = '';
  let lineNo = 0;
  let stopped = false;
  const tooLong = (): CollapseError =>
    bad(`${file}: a record longer than ${MAX_RECORD_CHARS} characters; check the record unit or separator`);

  // Paragraph state: the lines of the current paragraph and its first line number.
  let para: string[] = [];
  let paraStart = 0;
  let paraChars = 0;
  const emit = (text: string, where: number): void => {
    if (onRecord(text, where) === false) {
      stopped = true;
      throw STOP;
    }
  };
  const onLine = (line: string, no: number): void => {
    if (unit === 'line') {
      emit(line, no);
      return;
    }
    // paragraph
    if (line.trim().length === 0) {
      if (para.length > 0) {
        const text = para.join('\n');
        para = [];
        paraChars = 0;
        emit(text, paraStart);
      }
      return;
    }
    if (para.length === 0) paraStart = no;
    para.push(line);
    paraChars += line.length;
    if (paraChars > MAX_RECORD_CHARS) throw tooLong();
  };

  let onChunk: (text: string) => void;
  let finish: () => void;
  if (typeof unit === 'object') {
    const sep = unit.separator;
    if (typeof sep !== 'string' || sep.length === 0) {
      throw new CollapseError('E_BAD_ARGUMENT', 'record separator must be a non-empty string');
    }
    let recordNo = 0;
    onChunk = (text) => {
      // Search only where a separator can start that was not searched before.
      let searchFrom = Math.max(0, carry.length - sep.length + 1);
      const s = carry.length > 0 ? carry + text : text;
      let start = 0;
      let at: number;
      while ((at = s.indexOf(sep, searchFrom)) !== -1) {
        emit(s.slice(start, at), ++recordNo);
        start = at + sep.length;
        searchFrom = start;
      }
      carry = s.slice(start);
      if (carry.length > MAX_RECORD_CHARS) throw tooLong();
    };
    finish = () => {
      if (carry.length > 0) emit(carry, ++recordNo);
    };
  } else {
    onChunk = (text) => {
      const s = carry.length > 0 ? carry + text : text;
      let start = 0;
      let nl: number;
      while ((nl = s.indexOf('\n', start)) !== -1) {
        const end = nl > start && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        onLine(s.slice(start, end), ++lineNo);
        start = nl + 1;
      }
      carry = s.slice(start);
      if (carry.length > MAX_RECORD_CHARS) throw tooLong();
    };
    finish = () => {
      if (carry.length > 0) {
        const end = carry.charCodeAt(carry.length - 1) === 13 ? carry.length - 1 : carry.length;
        onLine(carry.slice(0, end), ++lineNo);
      }
      if (unit === 'paragraph' && para.length > 0) emit(para.join('\n'), paraStart);
    };
  }

  try {
    await readTextChunks(file, (text) => {
      try {
        onChunk(text);
      } catch (e) {
        if (e === STOP) return false;
        throw e;
      }
      return true;
    });
    if (!stopped) finish();
  } catch (e) {
    if (e !== STOP) throw e;
  }
  return !stopped;
}
