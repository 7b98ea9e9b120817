/**
 * Paths that come from the user: every file collapse-lab reads and every folder it creates goes
 * through here, so that a FIFO, a device, a folder where a file is wanted (or a file where a folder
 * is wanted), a huge file, a read-only or full file system all end in one typed, one-line
 * CollapseError that names the path, never in a hang, an unbounded read or a raw errno.
 *
 * Reads: stat first (refuse anything that is not a regular file), then open with O_NONBLOCK and
 * fstat the opened descriptor, so that a FIFO swapped in between the two cannot block the open or
 * the read; the bytes read are bounded by the size checked (a file that grows meanwhile is cut
 * there, one that shrinks is reported as changed).
 *
 * Folders: created one level at a time (Node's recursive mkdir spins forever on paths such as
 * /proc/nope, where mkdir answers ENOENT for a parent that exists).
 */
import { constants, type Stats } from 'node:fs';
import { mkdir, open, stat, type FileHandle } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CollapseError, type ErrorCode } from '../errors.js';

/** A file-system error in words ("read-only file system", "no space left on device", …). */
export function fsReason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  const words = reasonWords(e);
  return e?.code && !words.startsWith(e.code) ? `${words} (${e.code})` : words;
}

function reasonWords(e: NodeJS.ErrnoException | undefined): string {
  switch (e?.code) {
    case 'ENOENT':
      return 'no such file or folder';
    case 'ENOTDIR':
      return 'a part of the path is not a folder';
    case 'EISDIR':
      return 'it is a folder';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EDQUOT':
      return 'disk quota exceeded';
    case 'EEXIST':
      return 'it already exists';
    case 'ENAMETOOLONG':
      return 'the name is too long';
    case 'ELOOP':
      return 'too many symbolic links';
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files';
    case 'EIO':
      return 'input/output error';
    case 'EFBIG':
      return 'file too large for the file system';
    default:
      return e?.code ? `${e.code}: ${e.message}` : String(e?.message ?? e);
  }
}

/** What a non-regular file is, in words. */
export function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return st.isFile() ? 'a regular file' : 'a special file';
}

export interface FileCheck {
  /** Error code of every refusal (default E_BAD_ARGUMENT). */
  code?: ErrorCode;
  /** What the file is, for the message ("model file", "--config"): "cannot read model file PATH: …". */
  what?: string;
  /** Largest size accepted in bytes (default: no bound but the machine's). */
  maxBytes?: number;
  /** The whole message from the path and the reason (default "cannot read WHAT PATH: REASON"). */
  message?: (path: string, reason: string) => string;
}

function fail(o: FileCheck, path: string, reason: string, cause?: unknown): CollapseError {
  const message = o.message ? o.message(path, reason) : `cannot read ${o.what ? o.what + ' ' : ''}${path}: ${reason}`;
  return new CollapseError(o.code ?? 'E_BAD_ARGUMENT', message, cause === undefined ? undefined : { cause });
}

function sizeText(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${n} bytes`;
}

/** The regular file's Stats, or null when nothing is there (ENOENT); anything else that is not a regular file is refused. */
export async function statRegularFile(path: string, o: FileCheck = {}): Promise<Stats | null> {
  let st: Stats;
  try {
    st = await stat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fail(o, path, fsReason(err), err);
  }
  if (!st.isFile()) throw fail(o, path, `it is ${kindOf(st)}, not a regular file`);
  return st;
}

/**
 * Opens a regular file for reading without ever blocking on it (see the module comment). Returns
 * the handle and the size; the caller closes the handle.
 */
export async function openRegularFile(path: string, o: FileCheck = {}): Promise<{ fh: FileHandle; size: number }> {
  if (typeof path !== 'string' || path.length === 0) throw new CollapseError(o.code ?? 'E_BAD_ARGUMENT', `${o.what ?? 'a file path'} must be a non-empty string`);
  const st = await statRegularFile(path, o);
  if (!st) throw fail(o, path, 'no such file (ENOENT)');
  let fh: FileHandle;
  try {
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw fail(o, path, fsReason(err), err);
  }
  try {
    const st2 = await fh.stat();
    if (!st2.isFile()) throw fail(o, path, `it is ${kindOf(st2)}, not a regular file`);
    if (o.maxBytes !== undefined && st2.size > o.maxBytes) {
      throw fail(o, path, `it is ${sizeText(st2.size)}, more than the ${sizeText(o.maxBytes)} such a file may have`);
    }
    return { fh, size: st2.size };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/** Reads a whole regular file (bounded by `maxBytes`); see openRegularFile. */
export async function readRegularFile(path: string, o: FileCheck = {}): Promise<Buffer> {
  const { fh, size } = await openRegularFile(path, o);
  try {
    let buf: Buffer;
    try {
      buf = Buffer.allocUnsafe(size);
    } catch (err) {
      throw fail(o, path, `it is ${sizeText(size)}, more than can be held in memory`, err);
    }
    let got = 0;
    while (got < size) {
      let bytesRead: number;
      try {
        // At most 1 GiB per call: one read() moves at most ~2 GiB on Linux.
        ({ bytesRead } = await fh.read(buf, got, Math.min(size - got, 1 << 30), got));
      } catch (err) {
        throw fail(o, path, fsReason(err), err);
      }
      if (bytesRead === 0) throw fail(o, path, 'the file shrank while it was read');
      got += bytesRead;
    }
    return buf;
  } finally {
    await fh.close().catch(() => undefined);
  }
}

/**
 * The longest text read whole: below V8's largest string (2^29 − 24 UTF-16 units; a UTF-8 byte
 * gives at most one unit).
 */
export const MAX_TEXT_BYTES = 500 * 2 ** 20;

/** Reads a regular file as UTF-8 text (bounded by `maxBytes`, and by MAX_TEXT_BYTES at most). */
export async function readRegularText(path: string, o: FileCheck = {}): Promise<string> {
  const buf = await readRegularFile(path, { ...o, maxBytes: Math.min(o.maxBytes ?? MAX_TEXT_BYTES, MAX_TEXT_BYTES) });
  return buf.toString('utf8');
}

/**
 * The error of a failed write under `path`, naming it ("cannot write P: read-only file system"):
 * a system error (one with an errno code) becomes a CollapseError; anything else is returned as is.
 */
export function writeError(err: unknown, path: string, code: ErrorCode = 'E_IO'): unknown {
  if (err instanceof CollapseError) return err;
  const e = err as NodeJS.ErrnoException | undefined;
  // Not `instanceof Error`: errors from another realm (vm contexts, workers) fail that test.
  if (typeof e !== 'object' || e === null || typeof e.code !== 'string' || typeof e.syscall !== 'string') return err;
  return new CollapseError(code, `cannot write ${path}: ${fsReason(err)}`, { cause: err });
}

/**
 * Makes sure `path` is a folder, creating it and its missing parents one level at a time. Refuses
 * (E_BAD_ARGUMENT by default) a path where a file or special file stands, and maps EROFS, EACCES,
 * ENOSPC… to a line naming the path.
 */
export async function ensureFolder(path: string, o: { code?: ErrorCode; what?: string } = {}): Promise<void> {
  const code = o.code ?? 'E_BAD_ARGUMENT';
  const label = o.what ? `${o.what} ${path}` : path;
  const full = resolve(path);
  // The missing levels, deepest first.
  const missing: string[] = [];
  let cur = full;
  for (;;) {
    let st: Stats | null = null;
    try {
      st = await stat(cur);
    } catch (err) {
      const c = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: a level above is not a folder; walking up finds it and names it.
      if (c !== 'ENOENT' && c !== 'ENOTDIR') throw new CollapseError(code, `cannot create folder ${label}: ${cur}: ${fsReason(err)}`, { cause: err });
    }
    if (st) {
      if (!st.isDirectory()) throw new CollapseError(code, `cannot create folder ${label}: ${cur} is ${kindOf(st)}`);
      break;
    }
    missing.push(cur);
    const up = dirname(cur);
    if (up === cur) break;
    cur = up;
  }
  for (const p of missing.reverse()) {
    try {
      await mkdir(p);
    } catch (err) {
      const c = (err as NodeJS.ErrnoException).code;
      if (c === 'EEXIST') {
        // Created meanwhile by someone else: fine if it is a folder.
        const st = await stat(p).catch(() => null);
        if (st?.isDirectory()) continue;
      }
      // ENOENT for a parent that exists: a file system that takes no new folders (/proc, /sys).
      const reason = c === 'ENOENT' ? `${p} cannot be created there (ENOENT)` : fsReason(err);
      throw new CollapseError(code, `cannot create folder ${label}: ${reason}`, { cause: err });
    }
  }
}
