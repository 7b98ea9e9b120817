/**
 * Transformer checkpoints in Hugging Face layout: save → load round trips (parameters, logits,
 * samples, tokenizer), loading the PyTorch fixture folder (test/fixtures/transformer), hub-style
 * variants (no prefix, tied lm_head, attention buffers, F16/BF16), and typed errors for malformed
 * or mismatched checkpoints.
 */
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CollapseError } from '../src/errors.js';
import { Transformer, type TransformerConfigOptions } from '../src/models/transformer.js';
import { expectedTensors } from '../src/models/gpt-neo-checkpoint.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors, type NamedTensor } from '../src/models/safetensors.js';
import { HfTokenizer, WordTokenizer } from '../src/tokenizers/index.js';
import { Vocabulary } from '../src/corpus/vocabulary.js';
import type { LanguageModel } from '../src/models/types.js';
import * as lib from '../src/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const FIX = join(HERE, 'fixtures', 'transformer');
const TOK_FIX = join(HERE, 'fixtures', 'tokenizers', 'tiny-gpt2-tokenizer.json');

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'collapse-ckpt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = async (tag: string) => {
  const d = join(dir, `${tag}-${n++}`);
  await mkdir(d, { recursive: true });
  return d;
};

async function codeOf(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CollapseError);
    return { code: (e as CollapseError).code, message: (e as Error).message };
  }
  throw new Error('expected a CollapseError, nothing was thrown');
}

const tiny = (over: Partial<TransformerConfigOptions> = {}): TransformerConfigOptions => ({
  vocabSize: 24, hidden: 16, layers: 2, heads: 2, window: 4, contextLength: 16, threads: 1, ...over,
});

/** Every parameter scaled up so attention is not near-uniform (tests see mistakes). */
async function perturbed(m: Transformer, seed: number): Promise<void> {
  await m.init(seed);
  const ps = await m.parameters();
  let s = seed * 7919 + 1;
  const r = () => ((s = (s * 48271) % 2147483647) / 2147483647) - 0.5;
  await m.setParameters(ps.map((p) => ({ name: p.name, data: p.data.map((x) => x * 5 + r() * 0.2) })));
}

const prefixesOf = (V: number) => [Uint32Array.of(V - 1), Uint32Array.of(V - 1, 3, 5), Uint32Array.of(2, 7, 1, 9, 9, 4, 11)];

describe('save → load', () => {
  test('identical parameters, logits and samples; HF files; LanguageModel and the public export', async () => {
    const a = new Transformer(tiny({ attention: ['local', 'global'] }));
    const lm: LanguageModel = a; // implements the interface
    expect(lm.vocabSize).toBe(24);
    expect(lib.Transformer).toBe(Transformer);
    await perturbed(a, 3);
    const d = await fresh('rt');
    await a.save(d);
    expect((await readdir(d)).sort()).toEqual(['config.json', 'model.safetensors']);
    const cfg = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'));
    expect(cfg).toMatchObject({ model_type: 'gpt_neo', hidden_size: 16, num_layers: 2, num_heads: 2, window_size: 4, vocab_size: 24, attention_layers: ['local', 'global'] });
    const header = await readSafetensorsHeader(join(d, 'model.safetensors'));
    expect(header.metadata).toMatchObject({ format: 'pt', producer: 'collapse-lab' });
    expect(header.tensors.every((t) => t.dtype === 'F32' && t.name.startsWith('transformer.'))).toBe(true);
    expect(header.tensors.map((t) => t.name).sort()).toEqual(expectedTensors(a.config).map((t) => t.name).sort());

    const b = await Transformer.load(d, { threads: 2 });
    expect(b.config).toEqual(a.config);
    expect(b.threads).toBe(2);
    expect(b.tokenizer).toBeUndefined();
    const pa = await a.parameters();
    const pb = await b.parameters();
    expect(pb.map((p) => p.name)).toEqual(pa.map((p) => p.name));
    pa.forEach((p, i) => expect(Buffer.from(pb[i]!.data.buffer).equals(Buffer.from(p.data.buffer))).toBe(true));
    const pre = prefixesOf(24);
    expect(Array.from(await b.conditional(pre))).toEqual(Array.from(await a.conditional(pre)));
    const so = { sequences: 12, maxLength: 10, seed: 5 };
    const [sa, sb] = [await a.sample(so), await b.sample(so)];
    expect(Array.from(sb.tokens)).toEqual(Array.from(sa.tokens));
    expect(Array.from(sb.offsets)).toEqual(Array.from(sa.offsets));
    // expectedTensors agrees with the engine's own list.
    expect(expectedTensors(a.config)).toEqual(pa.map((p) => ({ name: p.name, shape: p.shape })));
  });

  test('a tokenizer travels with the model: tokenizer.json (HF / BPE) or vocabulary.json (word level)', async () => {
    const hf = await HfTokenizer.fromFile(TOK_FIX);
    const a = new Transformer(tiny({ bos: hf.bos, eos: hf.eos, tokenizer: hf }));
    await a.init(1);
    const d = await fresh('tok');
    await a.save(d);
    expect((await readdir(d)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    const b = await Transformer.load(d);
    expect(b.tokenizer).toBeInstanceOf(HfTokenizer);
    expect(Array.from(b.tokenizer!.encode('hello world!'))).toEqual(Array.from(hf.encode('hello world!')));
    expect([b.tokenizer!.bos, b.tokenizer!.eos]).toEqual([23, 23]);

    // Saving again with a word-level vocabulary replaces the tokenizer file.
    const v = Vocabulary.build('the cat sat on the mat'.split(' '));
    const c = new Transformer(tiny({ vocabSize: v.size, bos: v.bos, eos: v.eos, tokenizer: new WordTokenizer(v) }));
    await c.init(2);
    await c.save(d);
    expect((await readdir(d)).sort()).toEqual(['config.json', 'model.safetensors', 'vocabulary.json']);
    const e = await Transformer.load(d);
    expect(e.tokenizer).toBeInstanceOf(WordTokenizer);
    expect(e.tokenizer!.decode(e.tokenizer!.encode('the mat sat'))).toBe('the mat sat');
    expect(() => new Transformer(tiny({ vocabSize: 4, tokenizer: hf }))).toThrow(/tokenizer has 24 ids/);
  });

  test('fit = init (from fitOptions.initSeed) when needed, then train with the stored options', async () => {
    const corpus = { tokens: Uint32Array.from({ length: 200 }, (_, i) => (i * 7) % 20), offsets: Uint32Array.of(0, 50, 120, 200) };
    const a = new Transformer(tiny({ fit: { initSeed: 9, epochs: 1, batchSize: 2, seqLen: 8, lr: 1e-3, seed: 4 } }));
    await a.fit(corpus);
    const b = new Transformer(tiny());
    await b.init(9);
    await b.train(corpus, { epochs: 1, batchSize: 2, seqLen: 8, lr: 1e-3, seed: 4 });
    const [pa, pb] = [await a.parameters(), await b.parameters()];
    pa.forEach((p, i) => expect(Array.from(p.data)).toEqual(Array.from(pb[i]!.data)));
  });

  test('never overwrites a checkpoint collapse-lab did not write; refuses an unfitted model', async () => {
    const a = new Transformer(tiny());
    expect((await codeOf(a.save(await fresh('nofit')))).code).toBe('E_NOT_FITTED');
    await a.init(1);
    const d = await fresh('foreign');
    await copyFile(join(FIX, 'config.json'), join(d, 'config.json'));
    await copyFile(join(FIX, 'model.safetensors'), join(d, 'model.safetensors'));
    const before = await readFile(join(d, 'model.safetensors'));
    const err = await codeOf(a.save(d));
    expect(err.code).toBe('E_BAD_ARGUMENT');
    expect(err.message).toMatch(/refusing to save.*model\.safetensors.*did not write/);
    expect((await readFile(join(d, 'model.safetensors'))).equals(before)).toBe(true);
    expect((await readdir(d)).sort()).toEqual(['config.json', 'model.safetensors']);
    const d2 = await fresh('foreign2');
    await writeFile(join(d2, 'config.json'), '{}');
    expect((await codeOf(a.save(d2))).message).toMatch(/config\.json belongs to a checkpoint/);
    // A collapse-lab folder is overwritten in place.
    const d3 = await fresh('ours');
    await a.save(d3);
    const b = new Transformer(tiny());
    await b.init(2);
    await b.save(d3);
    const back = await Transformer.load(d3);
    expect(Array.from((await back.parameters())[0]!.data)).toEqual(Array.from((await b.parameters())[0]!.data));
    expect((await readdir(d3)).sort()).toEqual(['config.json', 'model.safetensors']);
  });
});

// ---------------------------------------------------------------------------------------------
interface Reference {
  config: { vocabSize: number };
  batch: number;
  seq: number;
  inputIds: number[][];
  tensors: Array<{ name: string; shape: number[]; offset: number }>;
  totalFloats: number;
}

async function referenceLogits(): Promise<{ ref: Reference; logits: Float32Array }> {
  const ref = JSON.parse(await readFile(join(FIX, 'reference.json'), 'utf8')) as Reference;
  const bin = await readFile(join(FIX, 'reference.bin'));
  const e = ref.tensors.find((t) => t.name === 'logits')!;
  const nl = e.shape.reduce((a, b) => a * b, 1);
  const logits = new Float32Array(nl);
  for (let i = 0; i < nl; i++) logits[i] = bin.readFloatLE(4 * (e.offset + i));
  return { ref, logits };
}

/** p(·|prefix) of every prefix of the reference batch, checked against softmax(reference logits). */
async function expectFixtureLogits(m: Transformer, rtol = 1e-5): Promise<void> {
  const { ref, logits } = await referenceLogits();
  const V = ref.config.vocabSize;
  const prefixes: Uint32Array[] = [];
  for (const row of ref.inputIds) for (let t = 0; t < ref.seq; t++) prefixes.push(Uint32Array.from(row.slice(0, t + 1)));
  const probs = await m.conditional(prefixes);
  let worst = 0;
  for (let r = 0; r < prefixes.length; r++) {
    const row = logits.subarray(r * V, (r + 1) * V);
    const mx = Math.max(...row);
    let z = 0;
    for (const x of row) z += Math.exp(x - mx);
    for (let v = 0; v < V; v++) worst = Math.max(worst, Math.abs(probs[r * V + v]! - Math.exp(row[v]! - mx) / z));
  }
  expect(worst).toBeLessThan(rtol);
}

describe('the PyTorch fixture folder and hub-style checkpoints', () => {
  test('Transformer.load(test/fixtures/transformer) gives the reference logits', async () => {
    const m = await Transformer.load(FIX, { threads: 1 });
    expect(m.config).toMatchObject({ vocabSize: 37, hidden: 16, layers: 2, heads: 4, window: 4, contextLength: 16, intermediate: 64, attention: ['global', 'local'], bos: 36, eos: 36 });
    await expectFixtureLogits(m);
  });

  /** A checkpoint folder from the fixture's config and a tensor list. */
  async function variant(tag: string, tensors: Array<NamedTensor & { raw?: { dtype: string; bytes: Uint8Array } }>, config?: Record<string, unknown>): Promise<string> {
    const d = await fresh(tag);
    const cfg = config ?? JSON.parse(await readFile(join(FIX, 'config.json'), 'utf8'));
    await writeFile(join(d, 'config.json'), JSON.stringify(cfg));
    if (tensors.some((t) => t.raw)) {
      // Hand-built file for non-F32 dtypes.
      const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
      const parts: Uint8Array[] = [];
      let off = 0;
      for (const t of tensors) {
        const bytes = t.raw ? t.raw.bytes : new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
        header[t.name] = { dtype: t.raw ? t.raw.dtype : 'F32', shape: t.shape, data_offsets: [off, off + bytes.length] };
        parts.push(bytes);
        off += bytes.length;
      }
      const h = Buffer.from(JSON.stringify(header));
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(h.length));
      await writeFile(join(d, 'model.safetensors'), Buffer.concat([len, h, ...parts]));
    } else {
      await writeSafetensors(join(d, 'model.safetensors'), tensors);
    }
    return d;
  }

  const fixtureTensors = () => readSafetensors(join(FIX, 'model.safetensors'));

  test('hub layouts: names without "transformer.", tied lm_head.weight, attention buffers (integer and bool), BF16 / F16', async () => {
    const base = await fixtureTensors();
    const wte = base.find((t) => t.name === 'transformer.wte.weight')!;
    // No prefix (GPTNeoModel) + tied lm_head + buffers.
    const causal = new Uint8Array(16 * 16).fill(1);
    const d1 = await variant('hub', [
      ...base.map((t) => ({ ...t, name: t.name.replace(/^transformer\./, '') })),
      { name: 'lm_head.weight', shape: wte.shape, data: wte.data.slice() },
      { name: 'h.0.attn.attention.bias', shape: [1, 1, 16, 16], data: new Float32Array(0), raw: { dtype: 'BOOL', bytes: causal } },
      { name: 'h.1.attn.attention.masked_bias', shape: [], data: new Float32Array(0), raw: { dtype: 'I64', bytes: new Uint8Array(8) } },
    ]);
    await expectFixtureLogits(await Transformer.load(d1, { threads: 1 }));

    // BF16 weights: the values the file holds (rounded) are what the model gets.
    const toBf16 = (x: Float32Array) => {
      const u = new Uint32Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
      const out = new Uint16Array(u.length);
      for (let i = 0; i < u.length; i++) out[i] = u[i]! >>> 16;
      return new Uint8Array(out.buffer);
    };
    const d2 = await variant('bf16', base.map((t) => ({ ...t, raw: { dtype: 'BF16', bytes: toBf16(t.data) } })));
    const m2 = await Transformer.load(d2, { threads: 1 });
    const p2 = await m2.parameters();
    for (const p of p2) {
      const src = base.find((t) => t.name === p.name)!;
      const u = new Uint32Array(src.data.buffer.slice(src.data.byteOffset, src.data.byteOffset + src.data.byteLength));
      const want = new Float32Array(new Uint32Array(Array.from(u, (x) => (x >>> 16) << 16)).buffer);
      expect(Array.from(p.data)).toEqual(Array.from(want));
    }
    // F16: close to the F32 weights.
    const toF16 = (x: Float32Array) => {
      const out = new Uint16Array(x.length);
      for (let i = 0; i < x.length; i++) {
        const v = x[i]!;
        const s = v < 0 ? 0x8000 : 0;
        const a = Math.abs(v);
        if (a < 2 ** -14) out[i] = s | Math.round(a / 2 ** -24);
        else {
          const e = Math.floor(Math.log2(a));
          const m = Math.round((a / 2 ** e - 1) * 1024);
          out[i] = m === 1024 ? s | ((e + 16) << 10) : s | ((e + 15) << 10) | m;
        }
      }
      return new Uint8Array(out.buffer);
    };
    const d3 = await variant('f16', base.map((t) => ({ ...t, raw: { dtype: 'F16', bytes: toF16(t.data) } })));
    const m3 = await Transformer.load(d3, { threads: 1 });
    for (const p of await m3.parameters()) {
      const src = base.find((t) => t.name === p.name)!;
      p.data.forEach((x, i) => expect(Math.abs(x - src.data[i]!)).toBeLessThanOrEqual(Math.abs(src.data[i]!) * 1e-3 + 1e-7));
    }
  });
});

describe('malformed or mismatched checkpoints → typed errors', () => {
  const fixtureTensors = () => readSafetensors(join(FIX, 'model.safetensors'));
  const fixtureConfig = async () => JSON.parse(await readFile(join(FIX, 'config.json'), 'utf8')) as Record<string, unknown>;
  async function folder(tag: string, tensors: NamedTensor[] | null, config: unknown): Promise<string> {
    const d = await fresh(tag);
    if (config !== undefined) await writeFile(join(d, 'config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    if (tensors) await writeSafetensors(join(d, 'model.safetensors'), tensors);
    return d;
  }

  test('config/tensor shape mismatch names the tensor and both shapes', async () => {
    const d = await folder('shape', await fixtureTensors(), { ...(await fixtureConfig()), intermediate_size: 32 });
    const err = await codeOf(Transformer.load(d));
    expect(err.code).toBe('E_BAD_MODEL_FILE');
    expect(err.message).toMatch(/tensor "transformer\.h\.0\.mlp\.c_fc\.weight" has shape \[64, 16\] but .*config\.json implies \[32, 16\]/);
    const d2 = await folder('vocab', await fixtureTensors(), { ...(await fixtureConfig()), vocab_size: 40 });
    expect((await codeOf(Transformer.load(d2))).message).toMatch(/"transformer\.wte\.weight" has shape \[37, 16\] but .* implies \[40, 16\]/);
  });

  test('missing tensors, extra layers, untied lm_head', async () => {
    const base = await fixtureTensors();
    const d = await folder('missing', base.filter((t) => !t.name.includes('h.1.ln_2')), await fixtureConfig());
    const err = await codeOf(Transformer.load(d));
    expect(err.code).toBe('E_BAD_MODEL_FILE');
    expect(err.message).toMatch(/missing tensors "transformer\.h\.1\.ln_2\.weight", "transformer\.h\.1\.ln_2\.bias"/);
    const d2 = await folder('fewer-layers', base, { ...(await fixtureConfig()), num_layers: 1, attention_types: [[['global'], 1]], attention_layers: ['global'] });
    expect((await codeOf(Transformer.load(d2))).message).toMatch(/unexpected tensor "transformer\.h\.1\..*has no such parameter/);
    const wte = base.find((t) => t.name === 'transformer.wte.weight')!;
    const head = wte.data.slice();
    head[5]! += 1;
    const d3 = await folder('untied', [...base, { name: 'lm_head.weight', shape: wte.shape, data: head }], await fixtureConfig());
    expect((await codeOf(Transformer.load(d3))).message).toMatch(/"lm_head\.weight" differs from "transformer\.wte\.weight" \(first at index 5/);
  });

  test('malformed files: config, weights, tokenizer, absent folder', async () => {
    const base = await fixtureTensors();
    expect((await codeOf(Transformer.load(join(dir, 'nope')))).code).toBe('E_BAD_MODEL_FILE');
    expect((await codeOf(Transformer.load(await folder('nocfg', base, undefined)))).code).toBe('E_BAD_CONFIG');
    const badJson = await codeOf(Transformer.load(await folder('badcfg', base, '{"model_type": ')));
    expect(badJson).toMatchObject({ code: 'E_BAD_CONFIG' });
    expect(badJson.message).toMatch(/config\.json: not valid JSON/);
    const gpt2 = await codeOf(Transformer.load(await folder('gpt2', base, { ...(await fixtureConfig()), model_type: 'gpt2' })));
    expect(gpt2.message).toMatch(/"model_type" is "gpt2"/);
    expect((await codeOf(Transformer.load(await folder('noweights', null, await fixtureConfig())))).message).toMatch(/model\.safetensors: cannot open/);
    const d = await folder('bin', null, await fixtureConfig());
    await writeFile(join(d, 'pytorch_model.bin'), 'x');
    expect((await codeOf(Transformer.load(d))).message).toMatch(/pytorch_model\.bin but no model\.safetensors/);
    const trunc = await folder('trunc', base, await fixtureConfig());
    const bytes = await readFile(join(trunc, 'model.safetensors'));
    await writeFile(join(trunc, 'model.safetensors'), bytes.subarray(0, bytes.length - 100));
    const t = await codeOf(Transformer.load(trunc));
    expect(t.code).toBe('E_BAD_MODEL_FILE');
    expect(t.message).toMatch(/truncated or corrupt/);
    const nan = base.map((x) => (x.name === 'transformer.ln_f.bias' ? { ...x, data: x.data.map((v, i) => (i === 2 ? NaN : v)) } : x));
    expect((await codeOf(Transformer.load(await folder('nan', nan, await fixtureConfig())))).message).toMatch(/"transformer\.ln_f\.bias" holds a non-finite value/);
    const tok = await folder('badtok', base, await fixtureConfig());
    await writeFile(join(tok, 'tokenizer.json'), '{"model": {');
    const te = await codeOf(Transformer.load(tok));
    expect(te.code).toBe('E_BAD_MODEL_FILE');
    expect(te.message).toMatch(/tokenizer\.json.*not valid JSON/);
    // A tokenizer whose BOS/EOS id (config: 36) is outside its 24 ids does not fit the model.
    const tok2 = await folder('smalltok', base, await fixtureConfig());
    await copyFile(TOK_FIX, join(tok2, 'tokenizer.json'));
    expect((await codeOf(Transformer.load(tok2))).message).toMatch(/does not fit the model/);
  });
});
