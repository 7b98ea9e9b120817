/**
 * Loader internals: an interner that gives each distinct word a provisional id, a growable CSR
 * sequence store over those ids, and a byte-level whitespace scanner that feeds them without
 * creating a string per token (used for Brown and for pre-tokenized text).
 */
import { Buffer } from 'node:buffer';
import { U32Builder } from './buffer.js';
import { readUtf8Pieces } from './read.js';

// Captured once: inside some sandboxes (jest's vm contexts) every `Math.imul` lookup goes through
// the global object's interceptor and costs ~0.5 µs; a module constant does not.
const imul = Math.imul;

const utf8 = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

// Word hash: FNV-1a over the UTF-8 bytes (prefix-incremental, so the scanner can compute it
// while it reads a token), finished with murmur3's avalanche for table-index quality.
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

function finalHash(h: number): number {
  h ^= h >>> 16;
  h = imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function hashBytes(buf: Uint8Array, a: number, b: number): number {
  let h = FNV_OFFSET;
  for (let i = a; i < b; i++) h = imul(h ^ (buf[i] as number), FNV_PRIME);
  return finalHash(h);
}

/**
 * Word → provisional id in first-seen order, looked up either by string (`id`) or by UTF-8 bytes
 * (`idBytes`, no string allocated unless the word is new). Both indexes always hold every word,
 * so the two lookups can be mixed.
 */
export class Interner {
  /** Word of each provisional id. */
  readonly words: string[] = [];
  private readonly byString = new Map<string, number>();
  // Byte index. `table`: open addressing with linear probing, four Int32 per slot (id or -1,
  // hash, arena start, byte length), so a probe touches one cache line and a hit one more (the
  // arena). `meta`: the same three values per id, for rehashing. `arena`: the UTF-8 bytes of
  // every word, back to back.
  private table = new Int32Array(4 << 13).fill(-1);
  private mask = (1 << 13) - 1;
  private meta = new Int32Array(3 << 12);
  private arena = new Uint8Array(1 << 16);
  private arenaLen = 0;

  get size(): number {
    return this.words.length;
  }

  /** Provisional id of a word given as a string. */
  id(word: string): number {
    const id = this.byString.get(word);
    if (id !== undefined) return id;
    const bytes = utf8Encoder.encode(word);
    // Store a detached copy of the string: `word` may be a slice of a 1 MiB piece of text,
    // which the map would otherwise keep alive. (' ' + w).slice(1) flattens into a fresh string.
    return this.insert((' ' + word).slice(1), bytes, 0, bytes.length, hashBytes(bytes, 0, bytes.length));
  }

  /** Provisional id of the word whose UTF-8 bytes are buf[a, b) (valid UTF-8). */
  idBytes(buf: Uint8Array, a: number, b: number): number {
    return this.idHashed(buf, a, b, hashBytes(buf, a, b));
  }

  /** idBytes with the word's hash already computed (`h` = hashBytes(buf, a, b)). */
  idHashed(buf: Uint8Array, a: number, b: number, h: number): number {
    const n = b - a;
    const table = this.table;
    const mask = this.mask;
    let slot = h & mask;
    for (;;) {
      const t = slot << 2;
      const e = table[t] as number;
      if (e < 0) break;
      if (table[t + 1] === h && table[t + 3] === n) {
        const arena = this.arena;
        const s = table[t + 2] as number;
        let k = 0;
        while (k < n && arena[s + k] === buf[a + k]) k++;
        if (k === n) return e;
      }
      slot = (slot + 1) & mask;
    }
    // A new word: decode it (the only string made per word type).
    const word = Buffer.isBuffer(buf) ? buf.toString('utf8', a, b) : utf8.decode(buf.subarray(a, b));
    return this.insert(word, buf, a, b, h);
  }

  private insert(word: string, buf: Uint8Array, a: number, b: number, h: number): number {
    const id = this.words.length;
    const n = b - a;
    if (this.arenaLen + n > this.arena.length) {
      const next = new Uint8Array(Math.max(this.arenaLen + n, this.arena.length * 2));
      next.set(this.arena.subarray(0, this.arenaLen));
      this.arena = next;
    }
    const arena = this.arena;
    for (let k = 0, o = this.arenaLen; k < n; k++) arena[o + k] = buf[a + k] as number;
    if (3 * id + 3 > this.meta.length) {
      const next = new Int32Array(this.meta.length * 2);
      next.set(this.meta);
      this.meta = next;
    }
    this.meta[3 * id] = this.arenaLen;
    this.meta[3 * id + 1] = n;
    this.meta[3 * id + 2] = h;
    this.arenaLen += n;
    this.words.push(word);
    this.byString.set(word, id);
    // Keep the load factor ≤ 1/2.
    if ((id + 1) * 2 > this.mask + 1) this.rehash(2 * (this.mask + 1));
    else this.place(id);
    return id;
  }

  private place(id: number): void {
    const table = this.table;
    const meta = this.meta;
    let slot = (meta[3 * id + 2] as number) & this.mask;
    while ((table[slot << 2] as number) >= 0) slot = (slot + 1) & this.mask;
    const t = slot << 2;
    table[t] = id;
    table[t + 1] = meta[3 * id + 2] as number;
    table[t + 2] = meta[3 * id] as number;
    table[t + 3] = meta[3 * id + 1] as number;
  }

  /** Re-places every id in a table of `slots` slots (a power of two). */
  private rehash(slots: number): void {
    this.table = new Int32Array(4 * slots).fill(-1);
    this.mask = slots - 1;
    for (let id = 0; id < this.words.length; id++) this.place(id);
  }
}

/** A split still in provisional ids: tokens and CSR offsets. */
export interface RawSplit {
  tokens: Uint32Array;
  offsets: Uint32Array;
}

/** Token ids + CSR offsets of a run of sequences, built incrementally. */
export class SequenceBuffer {
  readonly tokens = new U32Builder(1 << 16);
  readonly offsets = new U32Builder(1 << 12);

  constructor(readonly interner: Interner) {
    this.offsets.push(0);
  }

  /** Committed sequences. */
  get sequences(): number {
    return this.offsets.length - 1;
  }

  /** Tokens held, the open sequence's included. */
  get tokenCount(): number {
    return this.tokens.length;
  }

  /** Tokens of the open (not yet committed) sequence. */
  get pending(): number {
    return this.tokens.length - this.offsets.at(this.offsets.length - 1);
  }

  /** Appends a token id to the open sequence. */
  push(id: number): void {
    this.tokens.push(id);
  }

  /** Closes the open sequence (nothing happens if it is empty). */
  commit(): void {
    if (this.pending > 0) this.offsets.push(this.tokens.length);
  }

  /** Drops the open sequence. */
  rollback(): void {
    this.tokens.truncate(this.offsets.at(this.offsets.length - 1));
  }

  /** Appends one whole sequence of words (ignored if empty). */
  add(words: readonly string[]): void {
    if (words.length === 0) return;
    for (let i = 0; i < words.length; i++) this.tokens.push(this.interner.id(words[i] as string));
    this.offsets.push(this.tokens.length);
  }

  /** Start offset of sequence i (i = sequences gives the end). */
  offset(i: number): number {
    return this.offsets.at(i);
  }

  /** A tight copy of sequences [from, to), offsets rebased to 0. */
  cut(from: number, to: number): RawSplit {
    const base = this.offsets.at(from);
    const end = this.offsets.at(to);
    const offsets = this.offsets.copy(from, to + 1);
    if (base !== 0) for (let i = 0; i < offsets.length; i++) offsets[i] = (offsets[i] as number) - base;
    return { tokens: this.tokens.copy(base, end), offsets };
  }
}

/**
 * Byte length of the JavaScript `\s` whitespace character starting at buf[i] (0 if none):
 * ASCII \t \n \v \f \r and space, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F,
 * U+3000 and U+FEFF — the same set that String.prototype.trim and /\s/ use.
 */
function spaceLength(buf: Uint8Array, i: number): number {
  const c = buf[i] as number;
  if (c < 0x80) return c === 0x20 || (c >= 0x09 && c <= 0x0d) ? 1 : 0;
  const d = buf[i + 1];
  const e = buf[i + 2];
  switch (c) {
    case 0xc2:
      return d === 0xa0 ? 2 : 0;
    case 0xe1:
      return d === 0x9a && e === 0x80 ? 3 : 0;
    case 0xe2:
      if (d === 0x80 && e !== undefined && ((e >= 0x80 && e <= 0x8a) || e === 0xa8 || e === 0xa9 || e === 0xaf)) return 3;
      return d === 0x81 && e === 0x9f ? 3 : 0;
    case 0xe3:
      return d === 0x80 && e === 0x80 ? 3 : 0;
    case 0xef:
      return d === 0xbb && e === 0xbf ? 3 : 0;
    default:
      return 0;
  }
}

export interface ScanOptions {
  /** One sequence per non-blank line, or per run of non-blank lines. */
  unit: 'line' | 'paragraph';
  /** Brown `word/tag` items: keep the text before the last '/' (if that is not the first byte). */
  stripTags: boolean;
}

/** State of one byte-wise whitespace scan (see scanWhitespaceFile). */
class WhitespaceScanner {
  /** Tokens on the current line so far. */
  private lineTokens = 0;
  /** Set when a sequence went past the cap (and was dropped). */
  capped = false;
  private readonly paragraphs: boolean;

  constructor(
    private readonly out: SequenceBuffer,
    options: ScanOptions,
    private readonly stripTags = options.stripTags,
    private readonly cap = Infinity,
  ) {
    this.paragraphs = options.unit === 'paragraph';
  }

  /** Closes the open sequence; false once the cap is passed (the sequence is dropped). */
  commit(): boolean {
    const out = this.out;
    if (out.pending === 0) return true;
    if (out.tokenCount > this.cap) {
      out.rollback();
      this.capped = true;
      return false;
    }
    out.commit();
    return true;
  }

  /** Line unit: every line closes its sequence. Paragraph unit: a blank line does. */
  private endLine(): boolean {
    const blank = this.lineTokens === 0;
    this.lineTokens = 0;
    return !this.paragraphs || blank ? this.commit() : true;
  }

  /** Scans the complete lines buf[start, end); false to stop reading. */
  scan(buf: Uint8Array, start: number, end: number): boolean {
    const out = this.out;
    const interner = out.interner;
    const stripTags = this.stripTags;
    let i = start;
    while (i < end) {
      let c = buf[i] as number;
      // Between tokens: line ends and whitespace.
      if (c === 0x0a) {
        if (!this.endLine()) return false;
        i++;
        continue;
      }
      if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) {
        i++;
        continue;
      }
      if (c >= 0xc2) {
        const w = spaceLength(buf, i);
        if (w > 0) {
          i += w;
          continue;
        }
      }
      // A token: up to the next whitespace byte (or wide space). Its FNV hash is computed on the
      // way; at each '/' the hash so far is kept, which is the hash of the text before it.
      const a = i;
      let slash = -1;
      let hSlash = 0;
      let h = imul(FNV_OFFSET ^ c, FNV_PRIME);
      i++;
      while (i < end) {
        c = buf[i] as number;
        if (c <= 0x20) {
          if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) break;
        } else if (c === 0x2f) {
          slash = i;
          hSlash = h;
        } else if (c >= 0xc2 && spaceLength(buf, i) > 0) {
          break;
        }
        h = imul(h ^ c, FNV_PRIME);
        i++;
      }
      if (stripTags && slash > a) out.push(interner.idHashed(buf, a, slash, finalHash(hSlash)));
      else out.push(interner.idHashed(buf, a, i, finalHash(h)));
      this.lineTokens++;
    }
    // The last piece of a file may end without '\n': its last line ends here.
    if (end > start && buf[end - 1] !== 0x0a && !this.endLine()) return false;
    return true;
  }
}

/**
 * Reads whitespace-separated tokens of `file` into `out` straight from the bytes (the same token
 * boundaries as whitespaceTokenizer, with no string per token). With `stripTags`, a token that
 * holds a '/' after its first byte is cut at its last '/' (Brown `word/tag` items). Returns true
 * if it stopped because the next sequence would take `out` past `cap` tokens (that sequence is
 * dropped), false when the file was read to its end.
 */
export async function scanWhitespaceFile(file: string, options: ScanOptions, out: SequenceBuffer, cap = Infinity): Promise<boolean> {
  const scanner = new WhitespaceScanner(out, options, options.stripTags, cap);
  await readUtf8Pieces(file, (buf, start, end) => scanner.scan(buf, start, end));
  // An open paragraph at the end of the file.
  if (!scanner.capped) scanner.commit();
  return scanner.capped;
}
