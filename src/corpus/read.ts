/**
 * Streaming text input for corpus loaders.
 *
 * Files are read through a FileHandle into a reused 1 MiB buffer (recycled across files) and
 * handed on in *line-aligned pieces*: each piece holds only complete lines (it ends just after a
 * '\n', except the last piece of a file), and the bytes of an unfinished line are carried into the
 * next read. A multi-GB file is therefore never one JavaScript string, and since '\n' never occurs
 * inside a multi-byte UTF-8 character, each piece can be validated and decoded on its own.
 *
 * Checks (all CollapseError E_BAD_CORPUS, one line, naming the file):
 *   - missing path: "no such file or folder: PATH"
 *   - a NUL byte in the first 8 KiB: "PATH looks binary (NUL byte at offset N) ..."
 *   - invalid UTF-8 (Buffer.isUtf8 on each piece): "PATH is not valid UTF-8 (bad byte at offset N) ..."
 * A UTF-8 byte-order mark at the start of a file is skipped.
 */
import { isUtf8 } from 'node:buffer';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import type { Stats } from 'node:fs';
import path from 'node:path';
import { CollapseError } from '../errors.js';

/** How a text is cut into records. */
export type RecordUnit =
  /** one record per line (\n or \r\n). */
  | 'line'
  /** one record per run of non-blank lines, separated by blank (whitespace-only) lines. */
  | 'paragraph'
  /** the whole file is one record. */
  | 'file'
  /** records separated by a literal string, e.g. `<|endoftext|>`. */
  | { separator: string };

/** Return false to stop reading early. */
export type RecordCallback = (text: string, lineNo: number) => boolean | void;

/**
 * Receives bytes [start, end) of `buf`: complete lines (the last piece of a file may lack its
 * final '\n'), valid UTF-8. The buffer is reused after the callback returns. Return false to stop.
 */
export type PieceCallback = (buf: Buffer, start: number, end: number) => boolean | void;

const CHUNK_BYTES = 1 << 20;
const BINARY_PROBE_BYTES = 8192;
/** A line (or record) longer than this is almost surely not text, or a wrong unit/separator. */
const MAX_LINE_BYTES = 1 << 28;

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
 * Offset of the first byte of `buf` that starts an invalid UTF-8 sequence (overlong forms,
 * surrogates and code points above U+10FFFF included), or -1 if all of it is valid.
 * `buf` must start at a character boundary.
 */
export function findInvalidUtf8(buf: Uint8Array): number {
  let i = 0;
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
    if (i + need >= buf.length) return i; // truncated character
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

// Read buffers are recycled across files (loading Brown opens 500 small files); a reader takes
// one for the duration of a file, so concurrent readers never share one.
const bufferPool: Buffer[] = [];
function takeBuffer(): Buffer {
  return bufferPool.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES);
}
function giveBuffer(buf: Buffer): void {
  if (buf.length === CHUNK_BYTES && bufferPool.length < 4) bufferPool.push(buf);
}

/**
 * Streams a UTF-8 text file in line-aligned, validated pieces (see the module comment).
 * Returns false if the callback stopped early.
 */
export async function readUtf8Pieces(file: string, onPiece: PieceCallback): Promise<boolean> {
  let fh: fsp.FileHandle;
  try {
    // O_NONBLOCK + fstat: a FIFO swapped in after listFiles' stat can neither block the open nor a read.
    fh = await fsp.open(file, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (err) {
    throw fsError(err, file);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw bad(`${file} is not a regular file`);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw fsError(err, file);
  }
  let buf = takeBuffer();
  try {
    let len = 0; // bytes held in buf
    let base = 0; // file offset of buf[0]
    let first = true;

    // Validates buf[start, end) (which starts at a character boundary) and hands it on.
    const deliver = (start: number, end: number): boolean => {
      if (first) {
        first = false;
        if (end - start >= 3 && buf[start] === 0xef && buf[start + 1] === 0xbb && buf[start + 2] === 0xbf) start += 3;
      }
      if (end > start && !isUtf8(buf.subarray(start, end))) {
        const at = findInvalidUtf8(buf.subarray(start, end));
        throw bad(`${file} is not valid UTF-8 (bad byte at offset ${base + start + Math.max(0, at)}); convert it to UTF-8`);
      }
      return end <= start || onPiece(buf, start, end) !== false;
    };

    for (;;) {
      if (len === buf.length) {
        // An unfinished line fills the whole buffer: grow it.
        if (buf.length >= MAX_LINE_BYTES) {
          throw bad(`${file}: a line longer than ${MAX_LINE_BYTES} bytes; is this a text file with line breaks?`);
        }
        const bigger = Buffer.allocUnsafe(Math.min(MAX_LINE_BYTES, buf.length * 2));
        buf.copy(bigger, 0, 0, len);
        buf = bigger;
      }
      let bytesRead: number;
      try {
        ({ bytesRead } = await fh.read(buf, len, buf.length - len, null));
      } catch (err) {
        throw fsError(err, file);
      }
      if (bytesRead === 0) break;
      if (base + len < BINARY_PROBE_BYTES) {
        const probeEnd = Math.min(len + bytesRead, BINARY_PROBE_BYTES - base);
        const nul = buf.subarray(len, probeEnd).indexOf(0);
        if (nul >= 0) throw bad(`${file} looks binary (NUL byte at offset ${base + len + nul}); corpus files must be UTF-8 text`);
      }
      len += bytesRead;
      const nl = buf.lastIndexOf(10, len - 1);
      if (nl < 0) continue;
      if (!deliver(0, nl + 1)) return false;
      // Carry the unfinished last line to the front.
      buf.copyWithin(0, nl + 1, len);
      base += nl + 1;
      len -= nl + 1;
    }
    if (len > 0 && !deliver(0, len)) return false;
    return true;
  } finally {
    giveBuffer(buf);
    await fh.close().catch(() => undefined);
  }
}

class StopReading {}
const STOP = new StopReading();

/**
 * Streams the records of a UTF-8 file to `onRecord(text, lineNo)`. For 'line' and 'paragraph',
 * lineNo is the 1-based line number where the record starts; for a separator it is the 1-based
 * record index. Lines lose their '\n' / '\r\n'; records are otherwise passed as they are (blank
 * ones included: callers drop records that tokenize to nothing). With 'file' the whole text is one
 * record (lineNo 1). Returns false if the callback
 * stopped early.
 */
export async function readRecords(file: string, unit: RecordUnit, onRecord: RecordCallback): Promise<boolean> {
  const emit = (text: string, where: number): void => {
    if (onRecord(text, where) === false) throw STOP;
  };
  const tooLong = (): CollapseError => bad(`${file}: a record longer than ${MAX_LINE_BYTES} characters; check the record unit or separator`);

  let onText: (text: string) => void;
  let finish: () => void;
  if (unit === 'file') {
    const parts: string[] = [];
    let chars = 0;
    onText = (text) => {
      chars += text.length;
      if (chars > MAX_LINE_BYTES) throw tooLong();
      parts.push(text);
    };
    finish = () => {
      if (parts.length > 0) emit(parts.join(''), 1);
    };
  } else if (typeof unit === 'object') {
    const sep = unit.separator;
    if (typeof sep !== 'string' || sep.length === 0) {
      throw new CollapseError('E_BAD_ARGUMENT', 'record separator must be a non-empty string');
    }
    let carry = '';
    let recordNo = 0;
    onText = (text) => {
      // Only search where a separator can start that was not searched before.
      let from = Math.max(0, carry.length - sep.length + 1);
      const s = carry.length > 0 ? carry + text : text;
      let start = 0;
      let at: number;
      while ((at = s.indexOf(sep, from)) !== -1) {
        emit(s.slice(start, at), ++recordNo);
        start = at + sep.length;
        from = start;
      }
      carry = s.slice(start);
      if (carry.length > MAX_LINE_BYTES) throw tooLong();
    };
    finish = () => {
      if (carry.length > 0) emit(carry, ++recordNo);
    };
  } else {
    let lineNo = 0;
    let para: string[] = [];
    let paraStart = 0;
    let paraChars = 0;
    const onLine = (line: string): void => {
      lineNo++;
      if (unit === 'line') {
        emit(line, lineNo);
      } else if (line.trim().length === 0) {
        if (para.length > 0) {
          const text = para.join('\n');
          para = [];
          paraChars = 0;
          emit(text, paraStart);
        }
      } else {
        if (para.length === 0) paraStart = lineNo;
        para.push(line);
        paraChars += line.length;
        if (paraChars > MAX_LINE_BYTES) throw tooLong();
      }
    };
    onText = (s) => {
      // `s` holds complete lines; only the last piece of a file may end without '\n'.
      let start = 0;
      let nl: number;
      while ((nl = s.indexOf('\n', start)) !== -1) {
        onLine(s.slice(start, nl > start && s.charCodeAt(nl - 1) === 13 ? nl - 1 : nl));
        start = nl + 1;
      }
      if (start < s.length) {
        const end = s.charCodeAt(s.length - 1) === 13 ? s.length - 1 : s.length;
        onLine(s.slice(start, end));
      }
    };
    finish = () => {
      if (para.length > 0) emit(para.join('\n'), paraStart);
    };
  }

  try {
    const done = await readUtf8Pieces(file, (buf, start, end) => {
      try {
        onText(buf.toString('utf8', start, end));
      } catch (e) {
        if (e === STOP) return false;
        throw e;
      }
      return true;
    });
    if (!done) return false;
    finish();
    return true;
  } catch (e) {
    if (e === STOP) return false;
    throw e;
  }
}
