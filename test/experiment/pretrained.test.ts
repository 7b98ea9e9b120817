/**
 * Pretrained starts and saved models, end to end through the built CLI (dist/cli/main.js):
 * - `--init DIR` from a checkpoint this test trains and saves: every generation starts from it
 *   (at a negligible learning rate each generation's perplexity on H is the checkpoint's own, and
 *   its saved parameters are the checkpoint's), the checkpoint's tokenizer and architecture are
 *   used, config.json records the folder and its content hash, and a resume refuses a changed one;
 * - `--save-models`: each generation's folder loads with Transformer.load and scores H exactly as the
 *   run recorded, and its files have the layout Hugging Face reads (config.json, safetensors);
 * - the flags that conflict with --init, one clear line each;
 * - JSONL samples: newlines and U+FFFD from a byte-level tokenizer stay one record per line.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, cpSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fromSequences, loadCorpus, REAL, type Corpus, type LoadedCorpus } from '../../src/corpus/index.js';
import { sampleJsonl } from '../../src/experiment/run-folder.js';
import { checkpointSha256 } from '../../src/experiment/init.js';
import { Transformer } from '../../src/models/transformer.js';
import { sampleLines } from '../../src/sweep/cell.js';
import { corpusTexts, countPieces, trainByteLevelBpe, type TextTokenizer } from '../../src/tokenizers/index.js';
import { listFiles, readRecords, removeDir, requireBuiltCli, runCli, sentences, tempDir, writeLines, type CliResult } from './helpers.js';

let root: string;
let corpusFile: string;
let ckpt: string;
let corpus: LoadedCorpus;
let ckptPerplexity: number;
/** The checkpoint's vocabulary: its BPE's size (the tiny corpus stops the merges before 300). */
let ckptV: number;
let runA: CliResult;
let runS: CliResult;
const dir = (tag: string) => path.join(root, tag);
const tiny = ['--seq-len', '32', '--max-length', '32', '--batch-size', '4', '--seed', '3'];

/** The test split as the run sees it: each sequence's text through `tok`. */
function encodeH(tok: TextTokenizer): Corpus {
  const seqs: Uint32Array[] = [];
  for (const text of corpusTexts(corpus.test, corpus.vocab)) seqs.push(tok.encode(text));
  return fromSequences(seqs, REAL);
}

beforeAll(async () => {
  requireBuiltCli();
  root = tempDir('pretrained');
  corpusFile = writeLines(path.join(root, 'corpus.txt'), sentences(11, 400, { vocab: 30, minLen: 2, maxLen: 8 }));
  corpus = await loadCorpus(`text:${corpusFile}`);
  // The checkpoint: a small GPT-Neo with its own trained byte-level BPE, trained on the train split.
  const bpe = trainByteLevelBpe(countPieces(corpusTexts(corpus.train, corpus.vocab)), { vocabSize: 300 });
  const train = fromSequences([...corpusTexts(corpus.train, corpus.vocab)].map((t) => bpe.encode(t)), REAL);
  const lm = new Transformer({ vocabSize: bpe.vocabSize, hidden: 16, layers: 2, heads: 2, window: 256, contextLength: 64, bos: bpe.bos, eos: bpe.eos, tokenizer: bpe });
  await lm.init(5);
  await lm.train(train, { epochs: 2, batchSize: 4, seqLen: 32, lr: 3e-3, seed: 5 });
  ckptV = bpe.vocabSize;
  ckpt = dir('ckpt');
  await lm.save(ckpt);
  const loaded = await Transformer.load(ckpt);
  ckptPerplexity = (await loaded.evaluate(encodeH(loaded.tokenizer!))).perplexity;
  [runA, runS] = await Promise.all([
    // A negligible learning rate: each generation's model is the checkpoint to float32 precision.
    runCli(['run', '--corpus', `text:${corpusFile}`, '--model', 'transformer', '--init', ckpt, '--paradigm', 'replace', '--generations', '2', '--lr', '1e-12', '--save-models', ...tiny, '--out', dir('A')]),
    // From scratch, nearly untrained: byte-level samples full of newlines and broken UTF-8.
    runCli(['run', '--corpus', `text:${corpusFile}`, '--model', 'transformer', '--hidden', '16', '--layers', '1', '--tokenizer', 'bpe', '--vocab-size', '300', '--paradigm', 'replace', '--generations', '1', '--lr', '1e-12', '--save-models', ...tiny, '--out', dir('S'), '--quiet']),
  ]);
}, 180_000);

afterAll(() => removeDir(root));

test('the runs succeed', () => {
  expect({ code: runA.code, stderr: runA.code === 0 ? '' : runA.stderr }).toEqual({ code: 0, stderr: '' });
  expect({ code: runS.code, stderr: runS.stderr }).toEqual({ code: 0, stderr: '' });
  // The header names the start and the checkpoint's tokenizer.
  expect(runA.stderr).toContain(`model transformer fine-tuned from ${ckpt} (hidden 16, 2 layers, 2 heads, window 256, context 64; the checkpoint's tokenizer (V = ${ckptV})`);
});

test('--init: every generation starts from the checkpoint (perplexity on H and parameters are its own)', async () => {
  const records = readRecords(dir('A'));
  expect(records.map((r) => r.generation)).toEqual([0, 1]);
  // Generation 1 trains on generation 0's samples, yet starts from the checkpoint again, not from M_0.
  for (const r of records) expect(Math.abs(r.perplexity! - ckptPerplexity) / ckptPerplexity).toBeLessThan(1e-6);
  const want = await (await Transformer.load(ckpt)).parameters();
  for (const g of ['gen-000', 'gen-001']) {
    const got = await (await Transformer.load(path.join(dir('A'), 'models', 'replace', g))).parameters();
    expect(got.map((p) => p.name)).toEqual(want.map((p) => p.name));
    let maxDiff = 0;
    got.forEach((p, i) => p.data.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - want[i]!.data[j]!)))));
    expect(maxDiff).toBeLessThan(1e-9);
  }
  // A model trained from scratch on the same data is nowhere near the checkpoint.
  const scratch = await (await Transformer.load(path.join(dir('S'), 'models', 'replace', 'gen-000'))).parameters();
  expect(scratch.find((p) => p.name === 'transformer.wte.weight')!.data).not.toEqual(want.find((p) => p.name === 'transformer.wte.weight')!.data);
});

test('--init: config.json records the checkpoint, its content hash, architecture and tokenizer', async () => {
  const meta = JSON.parse(readFileSync(path.join(dir('A'), 'config.json'), 'utf8'));
  // The hash, recomputed here from its definition: each file's name, NUL, SHA-256, newline.
  const outer = createHash('sha256');
  for (const f of ['config.json', 'model.safetensors', 'tokenizer.json']) {
    outer.update(`${f}\0${createHash('sha256').update(readFileSync(path.join(ckpt, f))).digest('hex')}\n`);
  }
  const sha = outer.digest('hex');
  expect(await checkpointSha256(ckpt)).toBe(sha);
  expect(meta.config.model).toMatchObject({ init: ckpt, initSha256: sha, tokenizer: 'checkpoint', vocabSize: ckptV, hidden: 16, layers: 2, heads: 2, contextLength: 64, window: 256, intermediate: 64 });
  expect(meta.config.saveModels).toBe(true);
});

test('--save-models: each generation loads with Transformer.load and scores H as the run recorded', async () => {
  for (const [tag, gens] of [['A', 2], ['S', 1]] as const) {
    const records = readRecords(dir(tag));
    for (let g = 0; g < gens; g++) {
      const m = await Transformer.load(path.join(dir(tag), 'models', 'replace', `gen-00${g}`));
      expect(m.tokenizer).toBeDefined(); // the run's tokenizer travels with the model
      expect((await m.evaluate(encodeH(m.tokenizer!))).perplexity).toBe(records[g]!.perplexity);
    }
  }
  expect(listFiles(dir('A')).filter((f) => f.startsWith('models/'))).toEqual(
    ['gen-000', 'gen-001'].flatMap((g) => ['config.json', 'model.safetensors', 'tokenizer.json'].map((f) => `models/replace/${g}/${f}`)),
  );
});

test('--save-models: the Hugging Face layout (GPT-Neo config.json, safetensors that transformers reads)', () => {
  const g = path.join(dir('S'), 'models', 'replace', 'gen-000');
  const cfg = JSON.parse(readFileSync(path.join(g, 'config.json'), 'utf8'));
  expect(cfg).toMatchObject({ model_type: 'gpt_neo', architectures: ['GPTNeoForCausalLM'], vocab_size: ckptV, hidden_size: 16, num_layers: 1, num_heads: 1, max_position_embeddings: 32 });
  // safetensors: u64 LE header length, JSON header, then the tensors back to back (the reader refuses gaps).
  const buf = readFileSync(path.join(g, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const { __metadata__: meta, ...tensors } = header as Record<string, unknown>;
  expect(meta).toMatchObject({ format: 'pt' });
  const entries = Object.entries(tensors as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>).sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  let at = 0;
  for (const [name, t] of entries) {
    expect(name).toMatch(/^transformer\.(wte|wpe|ln_f|h\.0\.(ln_1|ln_2|attn\.attention\.(q_proj|k_proj|v_proj|out_proj)|mlp\.(c_fc|c_proj)))\.(weight|bias)$/);
    expect(t.dtype).toBe('F32');
    expect(t.data_offsets[0]).toBe(at);
    expect(t.data_offsets[1] - t.data_offsets[0]).toBe(4 * t.shape.reduce((a, b) => a * b, 1));
    at = t.data_offsets[1];
  }
  expect(8 + n + at).toBe(buf.length);
  expect(header['transformer.wte.weight']!.shape).toEqual([ckptV, 16]); // the same BPE training on the same split
  expect(JSON.parse(readFileSync(path.join(g, 'tokenizer.json'), 'utf8')).model.type).toBe('BPE');
});

test('JSONL samples: a byte-level tokenizer\'s newlines and U+FFFD stay inside one record per line', () => {
  const text = readFileSync(path.join(dir('S'), 'samples', 'replace', 'gen-000.jsonl'), 'utf8');
  const lines = text.split('\n');
  expect(lines.pop()).toBe('');
  const records = readRecords(dir('S'));
  expect(lines).toHaveLength(Math.min(50, records[0]!.sampleSequences));
  const texts = lines.map((l) => (JSON.parse(l) as { text: string }).text);
  // The nearly untrained model draws bytes almost uniformly: raw newlines and broken UTF-8.
  expect(texts.some((t) => t.includes('\n'))).toBe(true);
  expect(texts.some((t) => t.includes('\uFFFD'))).toBe(true);
  // The report reads the same texts back.
  expect(sampleLines(text, true)).toEqual(texts);
});

test('sampleJsonl: any text, one line per sequence, read back exactly', () => {
  const texts = ['a\nb\r\nc', '\uFFFD\uFFFD', 'x\u2028y\u2029z', '"quoted" \\ back', '', 'tab\there'];
  const s = { offsets: Uint32Array.from(texts.map((_, i) => i).concat(texts.length)), tokens: Uint32Array.from(texts.map((_, i) => i)) };
  const out = sampleJsonl(s, (ids) => texts[ids[0]!]!, 10);
  expect(out.split('\n')).toHaveLength(texts.length + 1);
  expect(out).not.toMatch(/[\u2028\u2029\r]/);
  expect(out.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { text: string }).text)).toEqual(texts);
  expect(sampleLines(out, true)).toEqual(texts);
  expect(sampleJsonl(s, (ids) => texts[ids[0]!]!, 2).split('\n')).toHaveLength(3);
});

test('--force replaces a run folder holding saved models (and only such a folder)', async () => {
  const again = await runCli(['run', '--corpus', `text:${corpusFile}`, '--model', 'transformer', '--hidden', '16', '--layers', '1', '--vocab-size', '300', '--paradigm', 'replace', '--generations', '1', '--save-models', ...tiny, '--out', dir('S'), '--force', '--quiet', '--no-report']);
  expect({ code: again.code, stderr: again.stderr }).toEqual({ code: 0, stderr: '' });
  writeFileSync(path.join(dir('S'), 'models', 'replace', 'gen-000', 'notes.txt'), 'mine');
  const refused = await runCli(['run', '--corpus', `text:${corpusFile}`, '--out', dir('S'), '--force', '--quiet']);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/it holds models\/replace\/gen-000\/notes\.txt, which a run does not write/);
});

test('a resume refuses a checkpoint whose content changed', async () => {
  const copy = dir('ckpt-copy');
  cpSync(ckpt, copy, { recursive: true });
  const common = ['run', '--corpus', `text:${corpusFile}`, '--model', 'transformer', '--init', copy, '--paradigm', 'replace', '--generations', '1', ...tiny, '--quiet', '--no-report'];
  const first = await runCli([...common, '--out', dir('R')]);
  expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
  const same = await runCli(['run', '--resume', dir('R'), '--quiet', '--no-report']);
  expect({ code: same.code, stderr: same.stderr }).toEqual({ code: 0, stderr: '' });
  appendFileSync(path.join(copy, 'config.json'), '\n'); // same architecture, other bytes
  const changed = await runCli(['run', '--resume', dir('R'), '--quiet', '--no-report']);
  expect(changed.code).toBe(2);
  expect(changed.stderr.trim().split('\n')).toHaveLength(1);
  expect(changed.stderr).toMatch(/the checkpoint .*ckpt-copy changed since this run started .*restore it, or start a new run/);
}, 120_000);

describe('usage errors with --init (one line, exit 2)', () => {
  const base = () => ['run', '--corpus', `text:${corpusFile}`, '--model', 'transformer', '--init', ckpt, ...tiny, '--out', dir('never')];
  test.each([
    [['--hidden', '32'], /--hidden conflicts with --init .*: the checkpoint defines the architecture and the tokenizer; drop it/],
    [['--tokenizer', 'word', '--vocab-size', '500'], /--tokenizer, --vocab-size conflict with --init/],
    [['--preset', 'tinystories-1m'], /--preset conflicts with --init/],
    [['--max-length', '100'], /sampling\.maxLength \(100\) must be ≤ model\.contextLength \(64\) \(the checkpoint's max_position_embeddings\)/],
  ])('%j', async (extra, re) => {
    const r = await runCli([...base(), ...extra]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(re);
  });

  test('a folder without a tokenizer, a missing folder, --save-models for an n-gram', async () => {
    const bare = dir('bare');
    mkdirSync(bare);
    for (const f of ['config.json', 'model.safetensors']) cpSync(path.join(ckpt, f), path.join(bare, f));
    const noTok = await runCli(['run', '--corpus', `text:${corpusFile}`, '--model', 'transformer', '--init', bare, '--out', dir('never')]);
    expect(noTok.code).toBe(2);
    expect(noTok.stderr).toMatch(/model\.init .*bare: it has no tokenizer\.json/);
    rmSync(bare, { recursive: true });
    const missing = await runCli(['run', '--corpus', `text:${corpusFile}`, '--model', 'transformer', '--init', bare, '--out', dir('never')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/model\.init .*bare: no checkpoint folder there .*--init scratch/);
    const ngram = await runCli(['run', '--corpus', `text:${corpusFile}`, '--save-models', '--out', dir('never')]);
    expect(ngram.code).toBe(2);
    expect(ngram.stderr).toMatch(/--save-models applies to --model transformer only|saveModels: .*"transformer" only/);
  });
});
