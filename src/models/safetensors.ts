/**
 * safetensors files: the tensor container of Hugging Face checkpoints (`model.safetensors`).
 *
 * Layout (https://github.com/huggingface/safetensors, "Format"):
 *   bytes 0..8        N, the header length, unsigned 64-bit little-endian
 *   bytes 8..8+N      a UTF-8 JSON object: for every tensor name
 *                       { "dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [begin, end] }
 *                     (offsets in bytes, relative to the data section), plus an optional
 *                     "__metadata__": { string: string }; it may be padded with spaces
 *   bytes 8+N..       the data section: each tensor's elements, row-major, little-endian
 *
 * Reading is streaming-safe: `SafetensorsFile.open` reads only the header; `read(name)` reads
 * one tensor's byte range, so a caller that copies each tensor into the engine and drops it never
 * holds more than one tensor besides the engine's own copy. F32 tensors come back as they are;
 * F16, BF16 and F64 ones are converted to a new Float32Array. Other dtypes (the integer and bool
 * buffers some old checkpoints carry) are listed and validated but cannot be read as floats.
 *
 * Writing (`writeSafetensors`) stores F32 only, tensors sorted by name (code-unit order), data
 * contiguous from offset 0, header padded with spaces to a multiple of 8 bytes (so every tensor
 * starts 8-byte aligned, as the reference implementation does); the file appears atomically
 * (temp file + fsync + rename) and is written tensor by tensor, never built whole in memory.
 *
 * Every defect of a file — too short, header length past the end, header not JSON or not an
 * object, unknown dtype, bad shape, offsets outside the data or overlapping, byte size ≠ shape ×
 * dtype size — is a CollapseError E_BAD_MODEL_FILE naming the file and the tensor.
 */
import type { FileHandle } from 'node:fs/promises';
import { CollapseError } from '../errors.js';
import { writeFileAtomicStreaming } from '../util/fs.js';
import { openRegularFile } from '../util/paths.js';

/** A named float tensor in row-major order (the form the engine's `parameters()` uses). */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** Every dtype of the safetensors specification, with its size in bytes. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};

/** dtypes that `read` converts to float32. */
export const READABLE_DTYPES = ['F32', 'F16', 'BF16', 'F64'] as const;
export type ReadableDtype = (typeof READABLE_DTYPES)[number];

/** One tensor's entry in the header. */
export interface TensorInfo {
  name: string;
  /** A safetensors dtype name (F32, F16, BF16, I64, ...). */
  dtype: string;
  shape: number[];
  /** Number of elements (product of the shape; 1 for a scalar). */
  size: number;
  /** Byte range in the data section, [begin, end). */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Tensors in data order (by begin offset). */
  tensors: TensorInfo[];
  /** The `__metadata__` map ({} when absent). */
  metadata: Record<string, string>;
  /** Absolute file offset of the data section (8 + header length). */
  dataStart: number;
}

/** Largest header accepted (the reference implementation's limit). */
export const MAX_HEADER_BYTES = 100_000_000;

function bad(file: string, message: string, cause?: unknown): CollapseError {
  return new CollapseError('E_BAD_MODEL_FILE', `${file}: ${message}`, cause === undefined ? undefined : { cause });
}

/**
 * Validates a header's JSON text against a data section of `dataBytes` bytes and returns the
 * tensor table. `file` names the source in messages.
 */
export function parseSafetensorsHeader(json: string, dataBytes: number, dataStart: number, file = 'safetensors'): SafetensorsHeader {
  let obj: unknown;
  try {
    obj = JSON.parse(json);
  } catch (err) {
    throw bad(file, `safetensors header is not valid JSON (${(err as Error).message}); the file is corrupt or not a safetensors file`, err);
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw bad(file, 'safetensors header must be a JSON object of tensor entries');
  }
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(obj as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        throw bad(file, '"__metadata__" must be an object of strings');
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(file, `"__metadata__" value of ${JSON.stringify(k)} must be a string`);
        metadata[k] = v;
      }
      continue;
    }
    const what = `tensor ${JSON.stringify(name)}`;
    if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
      throw bad(file, `${what}: entry must be an object with dtype, shape and data_offsets`);
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_BYTES, dtype)) {
      throw bad(file, `${what}: unknown dtype ${JSON.stringify(dtype)} (safetensors dtypes: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw bad(file, `${what}: shape must be an array of non-negative integers, got ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      throw bad(file, `${what}: data_offsets must be [begin, end] with integers ≥ 0, got ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) throw bad(file, `${what}: data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataBytes) {
      throw bad(file, `${what}: data_offsets [${begin}, ${end}] run past the end of the data section (${dataBytes} bytes): the file is truncated or corrupt`);
    }
    let size = 1;
    for (const d of shape) size *= d;
    const want = size * (DTYPE_BYTES[dtype] as number);
    if (!Number.isSafeInteger(size) || want !== end - begin) {
      throw bad(file, `${what}: shape [${shape.join(', ')}] of ${dtype} needs ${want} bytes but data_offsets [${begin}, ${end}] hold ${end - begin}`);
    }
    tensors.push({ name, dtype, shape: shape.slice(), size, begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < tensors.length; i++) {
    const prev = tensors[i - 1] as TensorInfo;
    const cur = tensors[i] as TensorInfo;
    if (cur.begin < prev.end && cur.end > cur.begin && prev.end > prev.begin) {
      throw bad(file, `tensors ${JSON.stringify(prev.name)} [${prev.begin}, ${prev.end}) and ${JSON.stringify(cur.name)} [${cur.begin}, ${cur.end}) overlap`);
    }
  }
  return { tensors, metadata, dataStart };
}

/** Reads and validates the header of an open file of `fileSize` bytes. */
async function readHeader(fh: FileHandle, fileSize: number, file: string): Promise<SafetensorsHeader> {
  if (fileSize < 8) {
    throw bad(file, `file is ${fileSize} bytes, too short for a safetensors file (an 8-byte header length comes first)`);
  }
  const lenBuf = Buffer.alloc(8);
  await fh.read(lenBuf, 0, 8, 0);
  const n = lenBuf.readBigUInt64LE(0);
  if (n === 0n || n > BigInt(fileSize - 8) || n > BigInt(MAX_HEADER_BYTES)) {
    throw bad(
      file,
      `header length ${n} is impossible for a ${fileSize}-byte file (must be 1..${Math.min(fileSize - 8, MAX_HEADER_BYTES)}): the file is truncated or not a safetensors file`,
    );
  }
  const len = Number(n);
  const hbuf = Buffer.alloc(len);
  await fh.read(hbuf, 0, len, 8);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(hbuf);
  } catch (err) {
    throw bad(file, 'safetensors header is not valid UTF-8', err);
  }
  return parseSafetensorsHeader(text, fileSize - 8 - len, 8 + len, file);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** IEEE half → float. */
function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

let halfTable: Float32Array | undefined;

/** Converts raw little-endian bytes of a readable dtype to a new Float32Array. */
export function decodeFloats(bytes: Uint8Array, dtype: ReadableDtype, count: number): Float32Array {
  const out = new Float32Array(count);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) {
        new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
      } else {
        for (let i = 0; i < count; i++) out[i] = dv.getFloat32(4 * i, true);
      }
      break;
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
      break;
    case 'BF16': {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = dv.getUint16(2 * i, true) << 16;
      break;
    }
    case 'F16': {
      if (!halfTable) {
        halfTable = new Float32Array(65536);
        for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
      }
      const t = halfTable;
      for (let i = 0; i < count; i++) out[i] = t[dv.getUint16(2 * i, true)] as number;
      break;
    }
  }
  return out;
}

/** An open safetensors file: the header is parsed; tensors are read one at a time on demand. */
export class SafetensorsFile {
  private constructor(
    private fh: FileHandle | undefined,
    readonly path: string,
    readonly header: SafetensorsHeader,
    private readonly byName: Map<string, TensorInfo>,
  ) {}

  /** Opens `path` and validates its header (E_BAD_MODEL_FILE on any defect). */
  static async open(path: string): Promise<SafetensorsFile> {
    // A regular file only: a FIFO or a device would block the open or the reads.
    const { fh, size } = await openRegularFile(path, {
      code: 'E_BAD_MODEL_FILE',
      message: (p, reason) => `${p}: cannot open safetensors file (${reason})`,
    });
    try {
      const header = await readHeader(fh, size, path);
      return new SafetensorsFile(fh, path, header, new Map(header.tensors.map((t) => [t.name, t])));
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  /** Tensor entries in data order. */
  get tensors(): readonly TensorInfo[] {
    return this.header.tensors;
  }

  get metadata(): Readonly<Record<string, string>> {
    return this.header.metadata;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo | undefined {
    return this.byName.get(name);
  }

  /** Reads one tensor as float32 (F32, F16, BF16 or F64 in the file). */
  async read(name: string): Promise<Float32Array> {
    const info = this.byName.get(name);
    if (!info) throw new CollapseError('E_BAD_MODEL_FILE', `${this.path}: no tensor ${JSON.stringify(name)} in this file`);
    if (!(READABLE_DTYPES as readonly string[]).includes(info.dtype)) {
      throw new CollapseError(
        'E_BAD_MODEL_FILE',
        `${this.path}: tensor ${JSON.stringify(name)} has dtype ${info.dtype}; only ${READABLE_DTYPES.join(', ')} can be read as float32`,
      );
    }
    if (!this.fh) throw new CollapseError('E_BAD_ARGUMENT', `${this.path}: safetensors file is closed`);
    const n = info.end - info.begin;
    const bytes = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.fh.read(bytes, got, n - got, this.header.dataStart + info.begin + got);
      if (bytesRead === 0) throw bad(this.path, `tensor ${JSON.stringify(name)}: file ended while reading its data (truncated?)`);
      got += bytesRead;
    }
    if (info.dtype === 'F32' && LITTLE_ENDIAN) return new Float32Array(bytes.buffer, 0, info.size);
    return decodeFloats(bytes, info.dtype as ReadableDtype, info.size);
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Writes all of `bytes` at the file's current position (FileHandle.write may write less). */
async function writeAll(fh: FileHandle, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

/** Reads only the header of a safetensors file. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const f = await SafetensorsFile.open(path);
  try {
    return f.header;
  } finally {
    await f.close();
  }
}

export interface ReadSafetensorsOptions {
  /** Read only the tensors this returns true for (default: every tensor of a readable dtype). */
  filter?: (info: TensorInfo) => boolean;
}

/**
 * Reads the tensors of a file as float32, in name order (code-unit order). Tensors of
 * non-float dtypes are skipped unless `filter` selects them, in which case reading them throws.
 * For large checkpoints prefer `SafetensorsFile` and copy tensor by tensor.
 */
export async function readSafetensors(path: string, options: ReadSafetensorsOptions = {}): Promise<NamedTensor[]> {
  const f = await SafetensorsFile.open(path);
  try {
    const pick = options.filter ?? ((t: TensorInfo) => (READABLE_DTYPES as readonly string[]).includes(t.dtype));
    const infos = f.tensors.filter(pick).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const out: NamedTensor[] = [];
    for (const info of infos) out.push({ name: info.name, shape: info.shape.slice(), data: await f.read(info.name) });
    return out;
  } finally {
    await f.close();
  }
}

export interface WriteSafetensorsOptions {
  /** The `__metadata__` map; Hugging Face writes { format: 'pt' }. Default { format: 'pt' }. */
  metadata?: Record<string, string>;
}

/**
 * Writes float32 tensors to `path` atomically, sorted by name. Throws E_BAD_ARGUMENT for a
 * duplicate or empty name, a shape that is not a list of non-negative integers, or data whose
 * length is not the shape's product.
 */
export async function writeSafetensors(path: string, tensors: Iterable<NamedTensor>, options: WriteSafetensorsOptions = {}): Promise<void> {
  const list = Array.from(tensors);
  const seen = new Set<string>();
  for (const t of list) {
    if (typeof t?.name !== 'string' || t.name.length === 0 || t.name === '__metadata__') {
      throw new CollapseError('E_BAD_ARGUMENT', `writeSafetensors: bad tensor name ${JSON.stringify(t?.name)}`);
    }
    if (seen.has(t.name)) throw new CollapseError('E_BAD_ARGUMENT', `writeSafetensors: tensor ${JSON.stringify(t.name)} appears twice`);
    seen.add(t.name);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CollapseError('E_BAD_ARGUMENT', `writeSafetensors: tensor ${JSON.stringify(t.name)} has a bad shape ${JSON.stringify(t.shape)}`);
    }
    // Realm-safe (a typed array from the native addon or another vm context fails instanceof).
    if (!(ArrayBuffer.isView(t.data) && Object.prototype.toString.call(t.data) === '[object Float32Array]')) {
      throw new CollapseError('E_BAD_ARGUMENT', `writeSafetensors: tensor ${JSON.stringify(t.name)} data must be a Float32Array`);
    }
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) {
      throw new CollapseError(
        'E_BAD_ARGUMENT',
        `writeSafetensors: tensor ${JSON.stringify(t.name)} has shape [${t.shape.join(', ')}] (${size} elements) but ${t.data.length} values`,
      );
    }
  }
  list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  header.__metadata__ = options.metadata ?? { format: 'pt' };
  let offset = 0;
  for (const t of list) {
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + 4 * t.data.length] };
    offset += 4 * t.data.length;
  }
  let json = JSON.stringify(header);
  let hbytes = Buffer.from(json, 'utf8');
  const pad = (8 - (hbytes.length % 8)) % 8;
  if (pad) {
    json += ' '.repeat(pad);
    hbytes = Buffer.from(json, 'utf8');
  }
  const lenBuf = Buffer.alloc(8);
  lenBuf.writeBigUInt64LE(BigInt(hbytes.length), 0);
  await writeFileAtomicStreaming(path, async (fh) => {
    await writeAll(fh, lenBuf);
    await writeAll(fh, hbytes);
    const CHUNK = 1 << 22; // write big tensors in 16 MiB slices (of float32s)
    for (const t of list) {
      for (let i = 0; i < t.data.length; i += CHUNK) {
        const part = t.data.subarray(i, Math.min(t.data.length, i + CHUNK));
        let bytes: Uint8Array;
        if (LITTLE_ENDIAN) {
          bytes = new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
        } else {
          bytes = new Uint8Array(part.length * 4);
          const dv = new DataView(bytes.buffer);
          for (let j = 0; j < part.length; j++) dv.setFloat32(4 * j, part[j] as number, true);
        }
        await writeAll(fh, bytes);
      }
    }
  });
}
