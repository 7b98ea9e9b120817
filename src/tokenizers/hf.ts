/**
 * A checkpoint's own Hugging Face `tokenizer.json` (GPT-2 byte-level BPE for GPT-Neo and the
 * TinyStories models), loaded from disk, offline, through `@huggingface/tokenizers` (Hugging
 * Face's pure-JS port of their tokenizers: no dependencies, no downloads).
 *
 * Special ids: BOS and EOS come from the options (a token string or an id), else from a
 * `tokenizer_config.json` beside the file (`bos_token` / `eos_token`), else from the token
 * `<|endoftext|>`, which GPT-2 uses as both (id 50256). Nothing assumes ids 0–2.
 *
 * `encode` adds no special tokens; a literal `<|endoftext|>` in the text becomes its id.
 * Characters the vocabulary cannot express are dropped by the library (GPT-2's byte-level
 * vocabulary expresses every byte, so for real checkpoints nothing is dropped).
 * `decode` keeps special tokens and does not "clean up" spaces, so decode(encode(text)) === text
 * for a byte-level tokenizer.
 *
 * A tokenizer.json that is not JSON, lacks its model, has a malformed vocabulary or merges, or
 * that the library rejects is a CollapseError E_BAD_MODEL_FILE naming the file.
 */
import { stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { CollapseError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { readRegularText, statRegularFile } from '../util/paths.js';
import { checkIds, type TextTokenizer } from './types.js';

/** GPT-2's end-of-text token, BOS and EOS of GPT-2-family checkpoints. */
export const ENDOFTEXT = '<|endoftext|>';

export interface HfTokenizerOptions {
  /** BOS as a token string or id (default: see the module comment). */
  bos?: string | number;
  /** EOS as a token string or id. */
  eos?: string | number;
  /** The checkpoint's tokenizer_config.json object, if the caller has it. */
  config?: Record<string, unknown>;
  /** Names the source in error messages. */
  source?: string;
  /** 'bpe' for a tokenizer that collapse-lab trained (trainByteLevelBpe); default 'hf'. */
  kind?: 'hf' | 'bpe';
}

function corrupt(source: string, message: string, cause?: unknown): CollapseError {
  return new CollapseError('E_BAD_MODEL_FILE', `${source}: ${message}`, cause === undefined ? undefined : { cause });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Checks the parts of a tokenizer.json the wrapper relies on; returns token → id of the whole vocabulary. */
function validateTokenizerJson(j: unknown, source: string): Map<string, number> {
  if (!isObject(j)) throw corrupt(source, 'tokenizer.json must be a JSON object');
  const model = j.model;
  if (!isObject(model)) throw corrupt(source, 'tokenizer.json has no "model" object');
  if (typeof model.type !== 'string' && !(isObject(model.vocab) && Array.isArray(model.merges))) {
    throw corrupt(source, 'tokenizer.json "model" has no "type"');
  }
  const vocab = new Map<string, number>();
  const byId = new Map<number, string>();
  const add = (token: string, id: unknown, where: string): void => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw corrupt(source, `${where}: id of ${JSON.stringify(token)} must be an integer ≥ 0, got ${JSON.stringify(id)}`);
    }
    const other = byId.get(id);
    if (other !== undefined && other !== token) {
      throw corrupt(source, `${where}: id ${id} is given to both ${JSON.stringify(other)} and ${JSON.stringify(token)}`);
    }
    byId.set(id, token);
    vocab.set(token, id);
  };
  const type = model.type ?? 'BPE';
  if (type === 'BPE' || type === 'WordPiece' || type === 'WordLevel') {
    if (!isObject(model.vocab)) throw corrupt(source, `model.vocab must be an object token → id (model type ${String(type)})`);
    for (const [tok, id] of Object.entries(model.vocab)) add(tok, id, 'model.vocab');
  }
  if (type === 'BPE') {
    const merges = model.merges;
    if (!Array.isArray(merges)) throw corrupt(source, 'model.merges must be a list of merges ("a b" or ["a", "b"])');
    merges.forEach((m, i) => {
      let pair: [string, string] | undefined;
      if (typeof m === 'string') {
        const parts = m.split(' ');
        if (parts.length === 2 && parts[0] && parts[1]) pair = [parts[0], parts[1]];
      } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
        pair = [m[0], m[1]];
      }
      if (!pair) throw corrupt(source, `model.merges[${i}] is malformed: ${JSON.stringify(m)} (expected "a b" or ["a", "b"])`);
      for (const t of [pair[0], pair[1], pair[0] + pair[1]]) {
        if (!vocab.has(t)) throw corrupt(source, `model.merges[${i}] ${JSON.stringify(m)}: token ${JSON.stringify(t)} is not in model.vocab`);
      }
    });
  }
  const added = j.added_tokens ?? [];
  if (!Array.isArray(added)) throw corrupt(source, '"added_tokens" must be a list');
  added.forEach((t, i) => {
    if (!isObject(t) || typeof t.content !== 'string') {
      throw corrupt(source, `added_tokens[${i}] must be an object with "id" and "content"`);
    }
    add(t.content, t.id, `added_tokens[${i}]`);
  });
  if (vocab.size === 0) throw corrupt(source, 'the vocabulary is empty');
  return vocab;
}

function specialName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

/** The largest tokenizer.json read (GPT-2's is 1.4 MB; the largest on the hub are a few tens of MB). */
const MAX_TOKENIZER_BYTES = 256 * 2 ** 20;

export class HfTokenizer implements TextTokenizer {
  readonly kind: 'hf' | 'bpe';
  readonly vocabSize: number;
  readonly bos: number;
  readonly eos: number;
  private readonly tok: Tokenizer;
  private readonly vocab: Map<string, number>;

  private constructor(
    /** The tokenizer.json object (kept so a checkpoint can save it). */
    readonly json: Record<string, unknown>,
    options: HfTokenizerOptions,
  ) {
    const source = options.source ?? 'tokenizer.json';
    this.kind = options.kind ?? 'hf';
    this.vocab = validateTokenizerJson(json, source);
    try {
      // The library needs the "decoder" key present (null is fine).
      this.tok = new Tokenizer({ decoder: null, ...json }, options.config ?? {});
    } catch (err) {
      throw corrupt(source, `the tokenizer cannot be built: ${(err as Error).message}`, err);
    }
    let max = -1;
    for (const id of this.vocab.values()) if (id > max) max = id;
    this.vocabSize = max + 1;
    const resolve = (which: 'bos' | 'eos'): number => {
      const given = options[which];
      const fromConfig = specialName(options.config?.[`${which}_token`]);
      const want = given ?? fromConfig ?? ENDOFTEXT;
      if (typeof want === 'number') {
        if (!Number.isSafeInteger(want) || want < 0 || want >= this.vocabSize) {
          throw new CollapseError('E_BAD_ARGUMENT', `${source}: ${which} id ${want} is outside the vocabulary [0, ${this.vocabSize})`);
        }
        return want;
      }
      const id = this.vocab.get(want);
      if (id === undefined) {
        const how = given !== undefined ? 'given' : fromConfig !== undefined ? 'named by tokenizer_config.json' : 'GPT-2\'s default';
        throw new CollapseError(
          given !== undefined ? 'E_BAD_ARGUMENT' : 'E_BAD_MODEL_FILE',
          `${source}: the ${which.toUpperCase()} token ${JSON.stringify(want)} (${how}) is not in the vocabulary; pass { ${which}: '<token>' or id }`,
        );
      }
      return id;
    };
    this.bos = resolve('bos');
    this.eos = resolve('eos');
  }

  /** A tokenizer from a tokenizer.json object or its text. */
  static fromJSON(json: unknown, options: HfTokenizerOptions = {}): HfTokenizer {
    const source = options.source ?? 'tokenizer.json';
    let obj = json;
    if (typeof json === 'string') {
      try {
        obj = JSON.parse(json);
      } catch (err) {
        throw corrupt(source, `tokenizer.json is not valid JSON (${(err as Error).message})`, err);
      }
    }
    if (!isObject(obj)) throw corrupt(source, 'tokenizer.json must be a JSON object');
    return new HfTokenizer(obj, { ...options, source });
  }

  /**
   * Loads `path` (a tokenizer.json, or a checkpoint folder holding one). A tokenizer_config.json
   * beside it, when present, supplies bos_token/eos_token unless the options give them.
   */
  static async fromFile(path: string, options: HfTokenizerOptions = {}): Promise<HfTokenizer> {
    if (typeof path !== 'string' || path.length === 0) throw new CollapseError('E_BAD_ARGUMENT', 'fromFile expects a tokenizer.json path or a folder holding one');
    // Regular files only, of bounded size: a FIFO or a device would block or never end.
    const read = (p: string, what: string) =>
      readRegularText(p, { code: 'E_BAD_MODEL_FILE', maxBytes: MAX_TOKENIZER_BYTES, message: (q, reason) => `${q}: cannot read ${what} (${reason})` });
    const isFolder = await stat(path).then((s) => s.isDirectory(), () => false);
    const file = isFolder ? join(path, 'tokenizer.json') : path;
    const text = await read(file, 'tokenizer');
    let config = options.config;
    if (!config) {
      const cfgPath = join(dirname(file), 'tokenizer_config.json');
      // Optional: absent is fine, but something that is not a regular file there is refused.
      const cfgText = (await statRegularFile(cfgPath, { code: 'E_BAD_MODEL_FILE', message: (q, reason) => `${q}: cannot read tokenizer config (${reason})` }))
        ? await read(cfgPath, 'tokenizer config')
        : undefined;
      if (cfgText !== undefined) {
        try {
          const parsed: unknown = JSON.parse(cfgText);
          if (isObject(parsed)) config = parsed;
          else throw new Error('not a JSON object');
        } catch (err) {
          throw corrupt(cfgPath, `tokenizer_config.json is not a JSON object (${(err as Error).message})`, err);
        }
      }
    }
    return HfTokenizer.fromJSON(text, { ...options, source: file, ...(config ? { config } : {}) });
  }

  /** Id of a token string (its vocabulary entry), or undefined. */
  tokenId(token: string): number | undefined {
    return this.vocab.get(token);
  }

  encode(text: string): Uint32Array {
    if (typeof text !== 'string') throw new CollapseError('E_BAD_ARGUMENT', 'encode needs a string');
    return Uint32Array.from(this.tok.encode(text, { add_special_tokens: false }).ids);
  }

  decode(ids: ArrayLike<number>): string {
    checkIds(ids, this.vocabSize, (m) => {
      throw new CollapseError('E_TOKEN_RANGE', m);
    });
    if (ids.length === 0) return '';
    return this.tok.decode(Array.from(ids), { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** Writes the tokenizer.json atomically (e.g. into a checkpoint folder). */
  async save(path: string): Promise<void> {
    await writeFileAtomic(path, `${JSON.stringify(this.json)}\n`);
  }
}
