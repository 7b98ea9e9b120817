/** File helpers: atomic writes (temp file in the same folder, fsync, rename). */
import { open, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeError } from './paths.js';

/**
 * Writes `data` to `path` atomically: readers see the old file or the whole new one, never half.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await writeFileAtomicStreaming(path, (fh) => fh.writeFile(data));
}

/**
 * Writes a file atomically piece by piece: `fill` receives the open temp file and writes into it
 * (sequentially, from position 0); the temp file is then fsynced and renamed over `path`. On any
 * error the temp file is removed and `path` is left as it was. For files too large to build in
 * memory first (model checkpoints).
 */
export async function writeFileAtomicStreaming(path: string, fill: (fh: FileHandle) => Promise<void>): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  // File-system errors (EROFS, ENOSPC, EACCES…) become one E_IO line naming `path`.
  let fh: FileHandle;
  try {
    fh = await open(tmp, 'w');
  } catch (err) {
    throw writeError(err, path);
  }
  try {
    await fill(fh);
    await fh.sync();
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    throw writeError(err, path);
  }
  try {
    await fh.close();
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw writeError(err, path);
  }
}
