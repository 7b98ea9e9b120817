/**
 * Transformer I/O: safetensors files, Hugging Face GPT-Neo config.json, tokenizers, and the
 * PyTorch reference fixtures of test/fixtures/transformer (written by make_reference.py there).
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CollapseError } from '../src/errors.js';
import {
  SafetensorsFile,
  decodeFloats,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
  type NamedTensor,
} from '../src/models/safetensors.js';
import {
  compressAttentionTypes,
  expandAttentionTypes,
  parseHfConfig,
  readHfConfig,
  toHfConfig,
  writeHfConfig,
  type GptNeoConfig,
} from '../src/models/hf-config.js';
import { HfTokenizer, WordTokenizer, bytesToUnicode, corpusTexts, trainByteLevelBpe, trainByteLevelBpeJson } from '../src/tokenizers/index.js';
import { Vocabulary } from '../src/corpus/vocabulary.js';
import { fromSequences } from '../src/corpus/corpus.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIX = join(HERE, 'fixtures', 'transformer');
const TOK_FIX = join(HERE, 'fixtures', 'tokenizers', 'tiny-gpt2-tokenizer.json');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'collapse-io-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<{ code?: string; message: string }> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CollapseError);
    return { code: (e as CollapseError).code, message: (e as Error).message };
  }
  throw new Error('expected a CollapseError, nothing was thrown');
}

/** A safetensors file from a header object and raw data bytes, written as given (no checks). */
async function rawSafetensors(name: string, header: unknown, data: Uint8Array, headerText?: string): Promise<string> {
  const h = Buffer.from(headerText ?? JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  const p = join(dir, name);
  await writeFile(p, Buffer.concat([len, h, Buffer.from(data)]));
  return p;
}

function f32(...v: number[]): Float32Array {
  return Float32Array.from(v);
}

// ---------------------------------------------------------------------------------------------
describe('safetensors', () => {
  const tensors: NamedTensor[] = [
    { name: 'b.weight', shape: [2, 3], data: f32(1, 2, 3, 4, 5, 6) },
    { name: 'a.bias', shape: [3], data: f32(-1.5, 0, 1e-30) },
    { name: 'scalar', shape: [], data: f32(42) },
    { name: 'empty', shape: [0, 4], data: new Float32Array(0) },
  ];

  test('round trip: names sorted, shapes and values exact, metadata kept', async () => {
    const p = join(dir, 'rt.safetensors');
    await writeSafetensors(p, tensors, { metadata: { format: 'pt', note: 'x' } });
    const back = await readSafetensors(p);
    expect(back.map((t) => t.name)).toEqual(['a.bias', 'b.weight', 'empty', 'scalar']);
    for (const t of back) {
      const orig = tensors.find((x) => x.name === t.name) as NamedTensor;
      expect(t.shape).toEqual(orig.shape);
      expect(Array.from(t.data)).toEqual(Array.from(orig.data));
    }
    const header = await readSafetensorsHeader(p);
    expect(header.metadata).toEqual({ format: 'pt', note: 'x' });
    expect(header.dataStart % 8).toBe(0); // header padded to 8 bytes
    // The layout on disk: u64 LE header length, JSON header, data in name order.
    const bytes = await readFile(p);
    const n = Number(bytes.readBigUInt64LE(0));
    const json = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    expect(json['a.bias']).toEqual({ dtype: 'F32', shape: [3], data_offsets: [0, 12] });
    expect(json['b.weight']).toEqual({ dtype: 'F32', shape: [2, 3], data_offsets: [12, 36] });
    expect(bytes.length).toBe(8 + n + 12 + 24 + 0 + 4);
    expect(bytes.readFloatLE(8 + n + 12 + 4 * 5)).toBe(6);
  });

  test('SafetensorsFile reads one tensor at a time', async () => {
    const p = join(dir, 'one.safetensors');
    await writeSafetensors(p, tensors);
    const f = await SafetensorsFile.open(p);
    try {
      expect(f.tensors.map((t) => t.name).sort()).toEqual(['a.bias', 'b.weight', 'empty', 'scalar']);
      expect(f.info('b.weight')).toMatchObject({ dtype: 'F32', shape: [2, 3], size: 6 });
      expect(Array.from(await f.read('b.weight'))).toEqual([1, 2, 3, 4, 5, 6]);
      expect((await codeOf(f.read('nope'))).message).toMatch(/no tensor "nope"/);
    } finally {
      await f.close();
    }
  });

  test('overwrites atomically and leaves no temp file', async () => {
    const sub = await mkdtemp(join(dir, 'atomic-'));
    const p = join(sub, 'model.safetensors');
    await writeSafetensors(p, tensors);
    await writeSafetensors(p, [{ name: 'x', shape: [1], data: f32(7) }]);
    expect(await readdir(sub)).toEqual(['model.safetensors']);
    expect((await readSafetensors(p)).map((t) => t.name)).toEqual(['x']);
  });

  test('reads F16, BF16 and F64 as float32; other dtypes are listed but not readable', async () => {
    const data = Buffer.alloc(6 * 2 + 2 * 2 + 2 * 8 + 8);
    [0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00, 0x7bff].forEach((h, i) => data.writeUInt16LE(h, 2 * i));
    [0x3f80, 0xc020].forEach((h, i) => data.writeUInt16LE(h, 12 + 2 * i));
    [0.1, -3].forEach((v, i) => data.writeDoubleLE(v, 16 + 8 * i));
    data.writeBigInt64LE(5n, 32);
    const p = await rawSafetensors(
      'dtypes.safetensors',
      {
        h: { dtype: 'F16', shape: [6], data_offsets: [0, 12] },
        bf: { dtype: 'BF16', shape: [2], data_offsets: [12, 16] },
        d: { dtype: 'F64', shape: [2, 1], data_offsets: [16, 32] },
        i: { dtype: 'I64', shape: [1], data_offsets: [32, 40] },
      },
      data,
    );
    const f = await SafetensorsFile.open(p);
    try {
      expect(Array.from(await f.read('h'))).toEqual([1, -2, 0.5, 2 ** -24, Infinity, 65504]);
      expect(Array.from(await f.read('bf'))).toEqual([1, -2.5]);
      expect(Array.from(await f.read('d'))).toEqual([Math.fround(0.1), -3]);
      const err = await codeOf(f.read('i'));
      expect(err.code).toBe('E_BAD_MODEL_FILE');
      expect(err.message).toMatch(/dtype I64/);
    } finally {
      await f.close();
    }
    // readSafetensors skips the integer buffer (old GPT-Neo checkpoints carry such buffers).
    expect((await readSafetensors(p)).map((t) => t.name)).toEqual(['bf', 'd', 'h']);
    expect(Array.from(decodeFloats(new Uint8Array([0x00, 0x80]), 'F16', 1))).toEqual([-0]);
  });

  describe('malformed files are E_BAD_MODEL_FILE with a clear message', () => {
    const ok = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    const eight = new Uint8Array(8);
    const cases: Array<[string, () => Promise<string>, RegExp]> = [
      ['shorter than 8 bytes', async () => {
        const p = join(dir, 'short.safetensors');
        await writeFile(p, Buffer.from([1, 2, 3]));
        return p;
      }, /too short/],
      ['header length past the end', async () => {
        const p = join(dir, 'len.safetensors');
        const b = Buffer.alloc(20);
        b.writeBigUInt64LE(1000n);
        await writeFile(p, b);
        return p;
      }, /header length 1000 is impossible/],
      ['header length 0', async () => {
        const p = join(dir, 'len0.safetensors');
        await writeFile(p, Buffer.alloc(16));
        return p;
      }, /header length 0/],
      ['header not JSON', () => rawSafetensors('nojson.safetensors', null, eight, '{"t": {dtype'), /not valid JSON/],
      ['header not an object', () => rawSafetensors('arr.safetensors', [1, 2], eight), /must be a JSON object/],
      ['unknown dtype', () => rawSafetensors('dtype.safetensors', { t: { dtype: 'F31', shape: [2], data_offsets: [0, 8] } }, eight), /tensor "t": unknown dtype "F31"/],
      ['bad shape', () => rawSafetensors('shape.safetensors', { t: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, eight), /tensor "t": shape must be/],
      ['bad data_offsets', () => rawSafetensors('offs.safetensors', { t: { dtype: 'F32', shape: [2], data_offsets: [0] } }, eight), /data_offsets must be \[begin, end\]/],
      ['offsets end before begin', () => rawSafetensors('rev.safetensors', { t: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, eight), /end before they begin/],
      ['offsets out of range (truncated data)', () => rawSafetensors('trunc.safetensors', ok, new Uint8Array(6)), /run past the end of the data section \(6 bytes\)/],
      ['size ≠ shape × dtype', () => rawSafetensors('size.safetensors', { t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, eight), /needs 12 bytes but data_offsets \[0, 8\] hold 8/],
      ['overlapping tensors', () => rawSafetensors('overlap.safetensors', {
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
      }, eight), /tensors "a" \[0, 8\) and "b" \[4, 8\) overlap/],
      ['metadata not strings', () => rawSafetensors('meta.safetensors', { __metadata__: { format: 1 }, ...ok }, eight), /__metadata__/],
      ['entry not an object', () => rawSafetensors('entry.safetensors', { t: 3 }, eight), /tensor "t": entry must be an object/],
    ];
    test.each(cases)('%s', async (_what, make, re) => {
      const p = await make();
      const err = await codeOf(SafetensorsFile.open(p));
      expect(err.code).toBe('E_BAD_MODEL_FILE');
      expect(err.message).toMatch(re);
      expect(err.message.startsWith(p)).toBe(true); // names the file
    });

    test('a valid file cut short is reported as truncated', async () => {
      const p = join(dir, 'cut.safetensors');
      await writeSafetensors(p, tensors);
      const bytes = await readFile(p);
      await writeFile(p, bytes.subarray(0, bytes.length - 3));
      const err = await codeOf(readSafetensors(p));
      expect(err.code).toBe('E_BAD_MODEL_FILE');
      expect(err.message).toMatch(/truncated/);
    });

    test('a missing file', async () => {
      const err = await codeOf(SafetensorsFile.open(join(dir, 'none.safetensors')));
      expect(err.code).toBe('E_BAD_MODEL_FILE');
      expect(err.message).toMatch(/ENOENT/);
    });
  });

  test('writer rejects duplicate names and data that does not fit the shape', async () => {
    const p = join(dir, 'w.safetensors');
    const dup = await codeOf(writeSafetensors(p, [tensors[0] as NamedTensor, tensors[0] as NamedTensor]));
    expect(dup).toMatchObject({ code: 'E_BAD_ARGUMENT' });
    expect(dup.message).toMatch(/appears twice/);
    const fit = await codeOf(writeSafetensors(p, [{ name: 'x', shape: [2, 2], data: f32(1, 2, 3) }]));
    expect(fit.message).toMatch(/shape \[2, 2\] \(4 elements\) but 3 values/);
  });
});

// ---------------------------------------------------------------------------------------------
describe('Hugging Face GPT-Neo config.json', () => {
  const tinyStories1M = {
    activation_function: 'gelu_new',
    architectures: ['GPTNeoForCausalLM'],
    attention_dropout: 0,
    attention_layers: ['global', 'local', 'global', 'local', 'global', 'local', 'global', 'local'],
    attention_types: [[['global', 'local'], 4]],
    bos_token_id: 50256,
    embed_dropout: 0,
    eos_token_id: 50256,
    hidden_size: 64,
    initializer_range: 0.02,
    intermediate_size: null,
    layer_norm_epsilon: 1e-5,
    max_position_embeddings: 2048,
    model_type: 'gpt_neo',
    num_heads: 16,
    num_layers: 8,
    resid_dropout: 0,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: 50257,
    window_size: 256,
  };

  test('a TinyStories-1M-style config', () => {
    expect(parseHfConfig(tinyStories1M)).toEqual({
      vocabSize: 50257,
      hidden: 64,
      layers: 8,
      heads: 16,
      window: 256,
      contextLength: 2048,
      intermediate: 256, // null → 4 × hidden
      attention: ['global', 'local', 'global', 'local', 'global', 'local', 'global', 'local'],
      bos: 50256,
      eos: 50256,
      layerNormEpsilon: 1e-5,
    });
  });

  test('attention_types expansion', () => {
    expect(expandAttentionTypes([[['global', 'local'], 2]])).toEqual(['global', 'local', 'global', 'local']);
    expect(expandAttentionTypes([[['global'], 2], [['local'], 1]])).toEqual(['global', 'global', 'local']);
    expect(expandAttentionTypes([[['local', 'local', 'global'], 1], [['global'], 0]])).toEqual(['local', 'local', 'global']);
    expect(compressAttentionTypes(['global', 'local', 'global', 'local'])).toEqual([[['global', 'local'], 2]]);
    expect(compressAttentionTypes(['global', 'global', 'local'])).toEqual([[['global', 'global', 'local'], 1]]);
    expect(compressAttentionTypes(['local', 'local'])).toEqual([[['local'], 2]]);
  });

  test('toHfConfig → parseHfConfig is the identity, through a file too', async () => {
    const c: GptNeoConfig = {
      vocabSize: 100, hidden: 32, layers: 3, heads: 4, window: 8, contextLength: 64, intermediate: 48,
      attention: ['global', 'global', 'local'], bos: 99, eos: 98, layerNormEpsilon: 1e-6,
    };
    expect(parseHfConfig(toHfConfig(c))).toEqual(c);
    const p = join(dir, 'config.json');
    await writeHfConfig(p, c);
    expect(await readHfConfig(p)).toEqual(c);
    expect(JSON.parse(await readFile(p, 'utf8'))).toMatchObject({ model_type: 'gpt_neo', attention_types: [[['global', 'global', 'local'], 1]] });
  });

  const bad: Array<[string, Record<string, unknown>, RegExp]> = [
    ['model_type', { model_type: 'gpt2' }, /"model_type" is "gpt2"; only "gpt_neo"/],
    ['missing hidden_size', { hidden_size: undefined }, /"hidden_size" is missing/],
    ['vocab_size not an integer', { vocab_size: 12.5 }, /"vocab_size" must be a positive integer, got 12.5/],
    ['heads not dividing hidden', { num_heads: 7 }, /"num_heads" \(7\) must divide hidden_size \(64\)/],
    ['attention_types count', { attention_types: [[['global', 'local'], 3]], attention_layers: undefined }, /"attention_types" expands to 6 layers but num_layers is 8/],
    ['attention type unknown', { attention_types: [[['global', 'sparse'], 4]] }, /"attention_types" entry 0: unknown attention type "sparse"/],
    ['attention_types malformed', { attention_types: [['global', 4]] }, /"attention_types" entry 0: the pattern must be/],
    ['attention_types repeat', { attention_types: [[['global', 'local'], -1]] }, /repeat count must be an integer ≥ 0/],
    ['attention_layers disagree', { attention_layers: ['local', 'global', 'global', 'local', 'global', 'local', 'global', 'local'] }, /"attention_layers" disagrees/],
    ['no attention at all', { attention_types: undefined, attention_layers: undefined }, /"attention_types" is missing/],
    ['layer_norm_epsilon', { layer_norm_epsilon: -1 }, /"layer_norm_epsilon" must be a positive number/],
    ['bos outside the vocabulary', { bos_token_id: 60000 }, /"bos_token_id" 60000 is outside the vocabulary \[0, 50257\)/],
    ['activation', { activation_function: 'relu' }, /"activation_function" is "relu"/],
    ['window_size', { window_size: 0 }, /"window_size" must be a positive integer/],
  ];
  test.each(bad)('bad field: %s', (_what, patch, re) => {
    const o: Record<string, unknown> = { ...tinyStories1M, ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete o[k];
    let err: unknown;
    try {
      parseHfConfig(o, 'ckpt/config.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CollapseError);
    expect((err as CollapseError).code).toBe('E_BAD_CONFIG');
    expect((err as Error).message).toMatch(/^ckpt\/config\.json: /);
    expect((err as Error).message).toMatch(re);
  });

  test('not JSON, not an object, unreadable', async () => {
    expect(() => parseHfConfig('{"model_type": ')).toThrow(/not valid JSON/);
    expect(() => parseHfConfig('[1]')).toThrow(/must be a JSON object/);
    const err = await codeOf(readHfConfig(join(dir, 'missing.json')));
    expect(err).toMatchObject({ code: 'E_BAD_CONFIG' });
  });
});

// ---------------------------------------------------------------------------------------------
describe('tokenizers', () => {
  describe("a checkpoint's tokenizer.json (GPT-2 byte-level BPE)", () => {
    test('encodes, decodes and finds <|endoftext|> as BOS and EOS', async () => {
      const t = await HfTokenizer.fromFile(TOK_FIX);
      expect(t.kind).toBe('hf');
      expect(t.vocabSize).toBe(24);
      expect([t.bos, t.eos]).toEqual([23, 23]);
      expect(Array.from(t.encode('hello world!'))).toEqual([15, 20, 0]);
      const text = 'hello, world.\nhello<|endoftext|>';
      const ids = t.encode(text);
      expect(Array.from(ids)).toEqual([15, 1, 20, 2, 11, 15, 23]);
      expect(t.decode(ids)).toBe(text);
      expect(t.decode([21, 0])).toBe(' hello!');
      expect(t.tokenId('Ġworld')).toBe(20);
      const err = await codeOf(() => t.decode([3, 24]));
      expect(err.code).toBe('E_TOKEN_RANGE');
    });

    test('loads from a checkpoint folder, with tokenizer_config.json naming the specials', async () => {
      const ck = await mkdtemp(join(dir, 'ckpt-'));
      await writeFile(join(ck, 'tokenizer.json'), await readFile(TOK_FIX));
      await writeFile(join(ck, 'tokenizer_config.json'), JSON.stringify({ bos_token: '!', eos_token: { content: '<|endoftext|>' } }));
      const t = await HfTokenizer.fromFile(ck);
      expect([t.bos, t.eos]).toEqual([0, 23]);
      const o = await HfTokenizer.fromFile(ck, { bos: 5, eos: 'Ġworld' });
      expect([o.bos, o.eos]).toEqual([5, 20]);
      // save → load gives the same tokenizer
      await t.save(join(ck, 'copy.json'));
      const back = await HfTokenizer.fromFile(join(ck, 'copy.json'));
      expect(Array.from(back.encode('hello world'))).toEqual([15, 20]);
    });

    const base = async (): Promise<Record<string, any>> => JSON.parse(await readFile(TOK_FIX, 'utf8'));
    const corruptCases: Array<[string, (j: Record<string, any>) => unknown, RegExp]> = [
      ['not JSON', () => '{"model": {', /not valid JSON/],
      ['no model', (j) => ({ ...j, model: undefined }), /has no "model" object/],
      ['vocab not an object', (j) => ({ ...j, model: { ...j.model, vocab: [1, 2] } }), /model\.vocab must be an object/],
      ['negative id', (j) => ({ ...j, model: { ...j.model, vocab: { ...j.model.vocab, h: -1 } } }), /id of "h" must be an integer ≥ 0/],
      ['two tokens, one id', (j) => ({ ...j, model: { ...j.model, vocab: { ...j.model.vocab, h: 4 } } }), /id 4 is given to both/],
      ['merges not a list', (j) => ({ ...j, model: { ...j.model, merges: 'h e' } }), /model\.merges must be a list/],
      ['malformed merge', (j) => ({ ...j, model: { ...j.model, merges: ['h e', 'hel'] } }), /model\.merges\[1\] is malformed/],
      ['merge of unknown token', (j) => ({ ...j, model: { ...j.model, merges: ['h e', 'x y'] } }), /model\.merges\[1\] "x y": token "x" is not in model\.vocab/],
      ['added token without content', (j) => ({ ...j, added_tokens: [{ id: 23 }] }), /added_tokens\[0\] must be an object/],
      ['no <|endoftext|>', (j) => ({ ...j, added_tokens: [] , model: { ...j.model, vocab: Object.fromEntries(Object.entries(j.model.vocab).filter(([k]) => k !== '<|endoftext|>')) } }), /BOS token "<\|endoftext\|>".*not in the vocabulary/],
    ];
    test.each(corruptCases)('corrupt tokenizer.json: %s → E_BAD_MODEL_FILE', async (_what, edit, re) => {
      const j = edit(await base());
      const p = join(dir, 'bad-tokenizer.json');
      await writeFile(p, typeof j === 'string' ? j : JSON.stringify(j));
      const err = await codeOf(HfTokenizer.fromFile(p));
      expect(err.code).toBe('E_BAD_MODEL_FILE');
      expect(err.message.startsWith(p)).toBe(true);
      expect(err.message).toMatch(re);
    });
  });

  test('word-level tokenizer over a Vocabulary', () => {
    const v = Vocabulary.build('the cat sat on the mat'.split(' '));
    const t = new WordTokenizer(v);
    expect(t.kind).toBe('word');
    expect(t.vocabSize).toBe(v.size);
    expect([t.bos, t.eos]).toEqual([v.bos, v.eos]);
    const ids = t.encode('  the cat   ate the mat ');
    expect(Array.from(ids)).toEqual([v.id('the'), v.id('cat'), v.unk, v.id('the'), v.id('mat')]);
    expect(t.decode(ids)).toBe('the cat <unk> the mat');
    expect(t.decode(t.encode('the mat sat'))).toBe('the mat sat');
    expect(() => t.decode([v.size])).toThrow(CollapseError);
  });

  describe('trained byte-level BPE', () => {
    const texts = [
      'the cat sat on the mat.',
      'the cat ate the rat, and the rat ran.',
      'A dog and a cat: the dog sat, the cat ran!',
      'naïve café — 東京 😀 the end\n',
    ];

    test('round trips any text, seen or not, and learns frequent words', () => {
      const t = trainByteLevelBpe(texts, { vocabSize: 290, minFrequency: 1 });
      expect(t.kind).toBe('bpe');
      expect(t.vocabSize).toBe(290);
      expect([t.bos, t.eos]).toEqual([289, 289]); // <|endoftext|> takes the last id
      expect(t.tokenId('<|endoftext|>')).toBe(289);
      // With the default minFrequency 2 this tiny corpus runs out of pairs before 290.
      expect(trainByteLevelBpe(texts, { vocabSize: 290 }).vocabSize).toBeLessThan(290);
      for (const s of [...texts, 'unseen: Zürich, 42 ÅÄÖ 🤖\t tabs', '']) expect(t.decode(t.encode(s))).toBe(s);
      expect(t.tokenId('Ġthe')).toBeDefined();
      expect(Array.from(t.encode(' the'))).toEqual([t.tokenId('Ġthe')]);
      const ids = t.encode('the cat sat on the mat.');
      expect(ids.length).toBeLessThan('the cat sat on the mat.'.length / 2);
      expect(Array.from(t.encode('x<|endoftext|>')).at(-1)).toBe(289);
    });

    test('is deterministic and independent of text order', () => {
      const a = trainByteLevelBpeJson(texts, { vocabSize: 290 });
      const b = trainByteLevelBpeJson(texts.slice().reverse(), { vocabSize: 290 });
      expect(JSON.stringify(a)).toBe(JSON.stringify(b));
      expect(JSON.stringify(trainByteLevelBpeJson(texts, { vocabSize: 290 }))).toBe(JSON.stringify(a));
    });

    test('ties go to the pair with the smaller left id, then the smaller right id', () => {
      const u = bytesToUnicode();
      // pieces "cd", "ab", "ad": every pair occurs once; a(97) < c(99); then (a,b) before (a,d).
      const j = trainByteLevelBpeJson(['cd', 'ad', 'ab'], { vocabSize: 256 + 3 + 1, minFrequency: 1 }) as { model: { merges: string[] } };
      expect(j.model.merges).toEqual([`${u[97]} ${u[98]}`, `${u[97]} ${u[100]}`, `${u[99]} ${u[100]}`]);
      // minFrequency stops early: no pair occurs twice.
      const k = trainByteLevelBpeJson(['cd', 'ad', 'ab'], { vocabSize: 300 }) as { model: { merges: string[] } };
      expect(k.model.merges).toEqual([]);
    });

    test('trains on a word corpus split, and the result loads as a tokenizer.json', async () => {
      const v = Vocabulary.build('the cat sat on the mat the cat ran'.split(' '));
      const corpus = fromSequences([v.encode(['the', 'cat', 'sat']), v.encode(['the', 'cat', 'ran'])]);
      expect(Array.from(corpusTexts(corpus, v))).toEqual(['the cat sat', 'the cat ran']);
      const t = trainByteLevelBpe(corpusTexts(corpus, v), { vocabSize: 270 });
      expect(t.decode(t.encode('the cat sat'))).toBe('the cat sat');
      const p = join(dir, 'trained-tokenizer.json');
      await t.save(p);
      const back = await HfTokenizer.fromFile(p);
      expect(Array.from(back.encode('the cat ran'))).toEqual(Array.from(t.encode('the cat ran')));
      expect([back.bos, back.eos, back.vocabSize]).toEqual([t.bos, t.eos, t.vocabSize]);
    });

    test('bad options', () => {
      expect(() => trainByteLevelBpe(texts, { vocabSize: 200 })).toThrow(/vocabSize must be an integer in \[257/);
      expect(() => trainByteLevelBpe(texts, { vocabSize: 300, specialTokens: ['a', 'a'] })).toThrow(/distinct/);
    });
  });
});

// ---------------------------------------------------------------------------------------------
/** The PyTorch reference (test/fixtures/transformer, see make_reference.py and README.md there). */
interface Reference {
  config: { vocabSize: number; hidden: number; layers: number; heads: number; window: number; contextLength: number; intermediate: number; attention: string[]; layerNormEpsilon: number };
  batch: number;
  seq: number;
  inputIds: number[][];
  loss: number;
  lossPositions: number;
  adamw: { lr: number; beta1: number; beta2: number; eps: number; weight_decay: number };
  tensors: Array<{ name: string; shape: number[]; offset: number }>;
  totalFloats: number;
}

async function loadReference(): Promise<{ ref: Reference; tensor: (name: string) => NamedTensor }> {
  const ref = JSON.parse(await readFile(join(FIX, 'reference.json'), 'utf8')) as Reference;
  const bin = await readFile(join(FIX, 'reference.bin'));
  expect(bin.length).toBe(4 * ref.totalFloats);
  const all = new Float32Array(ref.totalFloats);
  for (let i = 0; i < all.length; i++) all[i] = bin.readFloatLE(4 * i);
  const tensor = (name: string): NamedTensor => {
    const e = ref.tensors.find((t) => t.name === name);
    if (!e) throw new Error(`reference has no tensor ${name}`);
    const n = e.shape.reduce((a, b) => a * b, 1);
    return { name, shape: e.shape, data: all.slice(e.offset, e.offset + n) };
  };
  return { ref, tensor };
}

describe('PyTorch reference fixture (file formats)', () => {
  test("model.safetensors holds exactly the parameters the script dumped, in HF names and layout", async () => {
    const { ref, tensor } = await loadReference();
    const params = await readSafetensors(join(FIX, 'model.safetensors'));
    const dumped = ref.tensors.filter((t) => t.name.startsWith('param/')).map((t) => t.name.slice(6));
    expect(params.map((p) => p.name)).toEqual(dumped.slice().sort());
    for (const p of params) {
      const want = tensor(`param/${p.name}`);
      expect(p.shape).toEqual(want.shape);
      expect(Buffer.from(p.data.buffer, p.data.byteOffset, p.data.byteLength).equals(Buffer.from(want.data.buffer))).toBe(true);
    }
    const h = ref.config.hidden;
    const byName = new Map(params.map((p) => [p.name, p]));
    expect(byName.get('transformer.wte.weight')?.shape).toEqual([ref.config.vocabSize, h]);
    expect(byName.get('transformer.wpe.weight')?.shape).toEqual([ref.config.contextLength, h]);
    expect(byName.get('transformer.h.0.mlp.c_fc.weight')?.shape).toEqual([ref.config.intermediate, h]); // [out, in]
    expect(byName.get('transformer.h.1.mlp.c_proj.weight')?.shape).toEqual([h, ref.config.intermediate]);
    expect(byName.has('transformer.h.0.attn.attention.q_proj.bias')).toBe(false);
    expect(byName.has('transformer.h.0.attn.attention.out_proj.bias')).toBe(true);
    expect(byName.has('lm_head.weight')).toBe(false); // tied to wte
    expect((await readSafetensorsHeader(join(FIX, 'model.safetensors'))).metadata).toEqual({ format: 'pt' });
  });

  test('config.json parses to the reference configuration', async () => {
    const { ref } = await loadReference();
    const c = await readHfConfig(join(FIX, 'config.json'));
    expect(c).toMatchObject(ref.config);
    expect(c.attention).toEqual(['global', 'local']);
    expect([c.bos, c.eos]).toEqual([ref.config.vocabSize - 1, ref.config.vocabSize - 1]);
  });

  test('reference.json is self-consistent', async () => {
    const { ref, tensor } = await loadReference();
    expect(ref.inputIds.length).toBe(ref.batch);
    expect(ref.inputIds.every((r) => r.length === ref.seq && r.every((id) => id >= 0 && id < ref.config.vocabSize))).toBe(true);
    expect(tensor('logits').shape).toEqual([ref.batch, ref.seq, ref.config.vocabSize]);
    expect(ref.lossPositions).toBe(ref.batch * (ref.seq - 1));
    // The loss is the mean next-token cross-entropy of the dumped logits (HF: labels shifted inside).
    const logits = tensor('logits').data;
    const V = ref.config.vocabSize;
    let sum = 0;
    for (let b = 0; b < ref.batch; b++) {
      for (let t = 0; t + 1 < ref.seq; t++) {
        const row = logits.subarray((b * ref.seq + t) * V, (b * ref.seq + t + 1) * V);
        let m = -Infinity;
        for (const x of row) m = Math.max(m, x);
        let z = 0;
        for (const x of row) z += Math.exp(x - m);
        sum += m + Math.log(z) - (row[(ref.inputIds[b] as number[])[t + 1] as number] as number);
      }
    }
    expect(Math.abs(sum / ref.lossPositions - ref.loss)).toBeLessThan(1e-5 * ref.loss);
    // One AdamW step from the dumped gradients reproduces the dumped parameters.
    const { lr, beta1, beta2, eps, weight_decay } = ref.adamw;
    for (const e of ref.tensors.filter((t) => t.name.startsWith('param/'))) {
      const name = e.name.slice(6);
      const p = tensor(`param/${name}`).data;
      const g = tensor(`grad/${name}`).data;
      const u = tensor(`adamw/${name}`).data;
      const wd = e.shape.length === 2 ? weight_decay : 0;
      for (let i = 0; i < p.length; i++) {
        const gi = g[i] as number;
        const m = (1 - beta1) * gi;
        const v = (1 - beta2) * gi * gi;
        const want = (p[i] as number) * (1 - lr * wd) - (lr * (m / (1 - beta1))) / (Math.sqrt(v / (1 - beta2)) + eps);
        expect(Math.abs(want - (u[i] as number))).toBeLessThan(1e-6);
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// PARITY WITH PYTORCH: the native GPT-Neo engine against the reference fixture.
// Runs once src/models/transformer.ts exports `Transformer`; skipped (with the reason in its
// name) until then.
// ---------------------------------------------------------------------------------------------
const engine: { Transformer?: unknown } | undefined = await (async () => {
  try {
    const modPath = '../src/models/transformer.js'; // a variable: the module may not exist yet
    const mod = (await import(modPath)) as { Transformer?: unknown };
    return typeof mod.Transformer === 'function' ? mod : undefined;
  } catch {
    return undefined;
  }
})();

/** max |a − b| ≤ rtol · max |b| (per tensor), with the worst element in the message. */
function expectClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i] as number));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs((actual[i] as number) - (expected[i] as number));
    if (!(d <= worst)) {
      worst = d;
      at = i;
    }
  }
  if (!(worst <= rtol * Math.max(scale, 1e-30))) {
    throw new Error(`${what}: max |diff| ${worst.toExponential(3)} at ${at} (got ${actual[at]}, want ${expected[at]}) exceeds ${rtol} × max |ref| ${scale.toExponential(3)}`);
  }
}

/**
 * The engine API this block uses. Beyond the public one (constructor, setParameters, parameters,
 * conditional), gradients and the optimizer step need a debug hook; the block checks for it and
 * skips those two tests, with the reason in their names, while it is missing:
 *   forwardBackward(inputs: Uint32Array, targets: Uint32Array, B, T) → Promise<number> | number
 *       mean cross-entropy over targets ≠ IGNORE (0xffffffff), gradients kept by the model;
 *   gradients() → [{ name, shape, data }] in parameters()'s names;
 *   adamwStep({ lr, beta1, beta2, eps, weightDecay }) → applies one AdamW step (step 1) with the
 *       kept gradients, weight decay on 2-D parameters only.
 */
interface EngineModel {
  setParameters(list: NamedTensor[]): unknown;
  parameters(): NamedTensor[] | Promise<NamedTensor[]>;
  conditional(prefixes: Uint32Array[]): Float32Array | Promise<Float32Array>;
  forwardBackward?(inputs: Uint32Array, targets: Uint32Array, B: number, T: number): number | Promise<number>;
  gradients?(): NamedTensor[] | Promise<NamedTensor[]>;
  adamwStep?(o: { lr: number; beta1: number; beta2: number; eps: number; weightDecay: number }): unknown;
}
const IGNORE = 0xffffffff;

async function referenceModel(): Promise<{ model: EngineModel; ref: Reference; tensor: (name: string) => NamedTensor }> {
  const { ref, tensor } = await loadReference();
  const Ctor = engine?.Transformer as new (o: Record<string, unknown>) => EngineModel;
  const c = ref.config;
  const model = new Ctor({
    vocabSize: c.vocabSize, hidden: c.hidden, layers: c.layers, heads: c.heads, window: c.window,
    contextLength: c.contextLength, intermediate: c.intermediate, attention: c.attention,
  });
  await model.setParameters(await readSafetensors(join(FIX, 'model.safetensors')));
  return { model, ref, tensor };
}

/** The engine's tensor names: HF's, with or without the "transformer." prefix. */
function refName(name: string): string {
  return name.startsWith('transformer.') || name === 'lm_head.weight' ? name : `transformer.${name}`;
}

const probe: EngineModel | undefined = engine ? (await referenceModel().catch(() => undefined))?.model : undefined;
const hasTrainHook = !!probe && typeof probe.forwardBackward === 'function' && typeof probe.gradients === 'function';
const hasStepHook = hasTrainHook && typeof probe?.adamwStep === 'function';

(engine ? describe : describe.skip)(
  engine ? 'GPT-Neo engine matches the PyTorch reference' : 'GPT-Neo engine matches the PyTorch reference — skipped: src/models/transformer.ts does not export Transformer yet',
  () => {
    test('setParameters / parameters round trip the reference weights exactly', async () => {
      const { model, tensor } = await referenceModel();
      const params = await model.parameters();
      expect(params.length).toBe((await readSafetensors(join(FIX, 'model.safetensors'))).length);
      for (const p of params) {
        const want = tensor(`param/${refName(p.name)}`);
        expect(p.shape).toEqual(want.shape);
        expect(Array.from(p.data)).toEqual(Array.from(want.data));
      }
    });

    test('logits (as p(·|prefix) = softmax(logits)) and the loss', async () => {
      const { model, ref, tensor } = await referenceModel();
      const V = ref.config.vocabSize;
      const logits = tensor('logits').data;
      const prefixes: Uint32Array[] = [];
      for (let b = 0; b < ref.batch; b++) {
        for (let t = 0; t < ref.seq; t++) prefixes.push(Uint32Array.from((ref.inputIds[b] as number[]).slice(0, t + 1)));
      }
      const probs = await model.conditional(prefixes);
      expect(probs.length).toBe(prefixes.length * V);
      const want = new Float64Array(prefixes.length * V);
      for (let r = 0; r < prefixes.length; r++) {
        const row = logits.subarray(r * V, (r + 1) * V);
        let m = -Infinity;
        for (const x of row) m = Math.max(m, x);
        let z = 0;
        for (const x of row) z += Math.exp(x - m);
        for (let v = 0; v < V; v++) want[r * V + v] = Math.exp((row[v] as number) - m) / z;
      }
      expectClose('p(·|prefix)', probs, want);
      let nll = 0;
      for (let b = 0; b < ref.batch; b++) {
        for (let t = 0; t + 1 < ref.seq; t++) {
          nll -= Math.log(probs[(b * ref.seq + t) * V + ((ref.inputIds[b] as number[])[t + 1] as number)] as number);
        }
      }
      expect(Math.abs(nll / ref.lossPositions - ref.loss)).toBeLessThanOrEqual(1e-5 * ref.loss);
    });

    (hasTrainHook ? test : test.skip)(
      hasTrainHook ? 'loss and every gradient' : 'loss and every gradient — skipped: the engine has no forwardBackward()/gradients() hook yet',
      async () => {
        const { model, ref, tensor } = await referenceModel();
        const { inputs, targets } = batchOf(ref);
        const loss = await (model.forwardBackward as NonNullable<EngineModel['forwardBackward']>)(inputs, targets, ref.batch, ref.seq);
        expect(Math.abs(loss - ref.loss)).toBeLessThanOrEqual(1e-5 * ref.loss);
        const grads = await (model.gradients as NonNullable<EngineModel['gradients']>)();
        expect(grads.length).toBe(ref.tensors.filter((t) => t.name.startsWith('grad/')).length);
        for (const g of grads) expectClose(`grad ${g.name}`, g.data, tensor(`grad/${refName(g.name)}`).data);
      },
    );

    (hasStepHook ? test : test.skip)(
      hasStepHook ? 'parameters after one AdamW step' : 'parameters after one AdamW step — skipped: the engine has no adamwStep() hook yet',
      async () => {
        const { model, ref, tensor } = await referenceModel();
        const { inputs, targets } = batchOf(ref);
        await (model.forwardBackward as NonNullable<EngineModel['forwardBackward']>)(inputs, targets, ref.batch, ref.seq);
        const a = ref.adamw;
        await (model.adamwStep as NonNullable<EngineModel['adamwStep']>)({ lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: a.eps, weightDecay: a.weight_decay });
        for (const p of await model.parameters()) expectClose(`adamw ${p.name}`, p.data, tensor(`adamw/${refName(p.name)}`).data);
      },
    );
  },
);

/** The reference batch as engine inputs/targets: targets are the inputs shifted left, the last ignored. */
function batchOf(ref: Reference): { inputs: Uint32Array; targets: Uint32Array } {
  const inputs = Uint32Array.from(ref.inputIds.flat());
  const targets = new Uint32Array(inputs.length);
  for (let b = 0; b < ref.batch; b++) {
    for (let t = 0; t < ref.seq; t++) {
      targets[b * ref.seq + t] = t + 1 < ref.seq ? ((ref.inputIds[b] as number[])[t + 1] as number) : IGNORE;
    }
  }
  return { inputs, targets };
}
