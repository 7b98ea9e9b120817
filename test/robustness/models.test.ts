/**
 * Issue 10, items 2, 5 and 6 on the models: hostile config.json fields are refused before anything
 * is allocated; calls on one model take effect in call order; a transformer without parameters,
 * non-finite parameters and a diverged training step are typed errors; sampling at T → 0 is
 * exactly greedy; what cannot fit in the memory limit is refused up front.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { fromSequences } from '../../src/corpus/corpus.js';
import { CollapseError } from '../../src/errors.js';
import { parseHfConfig } from '../../src/models/hf-config.js';
import { NGramModel } from '../../src/models/ngram.js';
import { Transformer, type TransformerConfigOptions } from '../../src/models/transformer.js';
import { tinyTransformer } from '../helpers/transformer.js';
import { memoryLimit, parseByteSize } from '../../src/util/memory.js';

async function errorOf(p: Promise<unknown> | (() => unknown)): Promise<CollapseError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(CollapseError);
    return err as CollapseError;
  }
  throw new Error('expected a CollapseError, nothing was thrown');
}

const oneLine = (e: Error) => expect(e.message).not.toMatch(/\n/);

const tiny = (over: Partial<TransformerConfigOptions> = {}): TransformerConfigOptions => tinyTransformer({ threads: 2, ...over });

function seqs(n: number, seed: number, V = 13, len = 10): number[][] {
  let s = seed;
  const out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const q: number[] = [];
    for (let j = 0; j < len; j++) {
      s = (s * 1103515245 + 12345) % 2147483648;
      q.push(3 + (s % (V - 3)));
    }
    out.push(q);
  }
  return out;
}

describe('config.json: every field bounded before anything is allocated', () => {
  const base = {
    model_type: 'gpt_neo',
    vocab_size: 100,
    hidden_size: 8,
    num_layers: 2,
    num_heads: 2,
    attention_types: [[['global', 'local'], 1]],
    bos_token_id: 1,
    eos_token_id: 2,
  };

  test('the issue\'s 489-byte config: num_layers 3e7 with a matching attention_types', () => {
    const hostile = { ...base, num_layers: 3e7, attention_types: [[['global', 'local'], 1.5e7]] };
    const e = (() => {
      try {
        parseHfConfig(JSON.stringify(hostile), 'x/config.json');
      } catch (err) {
        return err as CollapseError;
      }
      throw new Error('accepted');
    })();
    expect(e).toBeInstanceOf(CollapseError);
    expect(e.code).toBe('E_BAD_CONFIG');
    expect(e.message).toBe('x/config.json: "num_layers" is 30000000; at most 1024 is supported');
  });

  test.each([
    ['a repeat of 1e9', { attention_types: [[['global'], 1e9]] }, /"attention_types" expands to more than 1024 layers/],
    ['a repeat past the limit with a long pattern', { attention_types: [[['global', 'local', 'local'], 400]] }, /expands to more than 1024 layers/],
    ['a pattern of 1e5 entries', { attention_types: [[Array(100000).fill('global'), 1]] }, /the pattern has 100000 entries/],
    ['1e5 pairs', { attention_types: Array(100000).fill([['global'], 0]) }, /has 100000 entries/],
    ['hidden_size 2^20', { hidden_size: 2 ** 20, num_heads: 1 }, /"hidden_size" is 1048576; at most 65536/],
    ['vocab_size 2^40', { vocab_size: 2 ** 40 }, /"vocab_size" is 1099511627776; at most 2147483647/],
    ['window_size 1e9', { window_size: 1e9 }, /"window_size" is 1000000000; at most 1048576/],
    ['max_position_embeddings 1e12', { max_position_embeddings: 1e12 }, /"max_position_embeddings" is 1000000000000; at most 1048576/],
    ['intermediate_size 1e8', { intermediate_size: 1e8 }, /"intermediate_size" is 100000000; at most 1048576/],
    ['num_heads 1e6', { num_heads: 1e6, hidden_size: 1e6 }, /at most/],
  ])('%s: E_BAD_CONFIG naming the field', (_name, over, re) => {
    let err: unknown;
    try {
      parseHfConfig({ ...base, ...over }, 'c.json');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CollapseError);
    expect((err as CollapseError).code).toBe('E_BAD_CONFIG');
    expect((err as Error).message).toMatch(re);
    oneLine(err as Error);
  });

  test('Transformer.load of a folder whose config asks for 3e7 layers: E_BAD_CONFIG, nothing allocated', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'collapse-hostile-'));
    try {
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...base, num_layers: 3e7, attention_types: [[['global'], 3e7]] }));
      await writeFile(join(dir, 'model.safetensors'), Buffer.alloc(16));
      const e = await errorOf(Transformer.load(dir));
      expect(e.code).toBe('E_BAD_CONFIG');
      oneLine(e);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a config within the bounds but too big for memory: E_MEMORY_LIMIT from load, before any tensor is read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'collapse-hostile-'));
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'config.json'), JSON.stringify({ ...base, vocab_size: 50_000_000, hidden_size: 64, num_heads: 1 }));
      // An empty but valid safetensors file: the memory check must come first.
      const header = Buffer.from('{}');
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(header.length));
      await writeFile(join(dir, 'model.safetensors'), Buffer.concat([len, header]));
      const e = await errorOf(Transformer.load(dir, { memoryLimit: '8G' }));
      expect(e.code).toBe('E_MEMORY_LIMIT');
      expect(e.message).toMatch(/^the checkpoint .* \(vocabulary 50000000, hidden 64, 2 layers\) needs about 23\.\d GiB of memory \(estimate\), more than the memory limit of 8\.00 GiB;/);
      oneLine(e);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('calls on one model take effect in the order they were made', () => {
  test('n-gram: two fit() without awaiting end with the second corpus, whichever finishes first', async () => {
    const big = fromSequences(seqs(20000, 1, 50, 40));
    const small = fromSequences(seqs(3, 2, 50, 5));
    const probe = fromSequences(seqs(50, 3, 50, 8));
    const ref = new NGramModel({ order: 3, vocabSize: 50, threads: 1 });
    await ref.fit(small);
    const expected = await ref.evaluate(probe);
    const m = new NGramModel({ order: 3, vocabSize: 50, threads: 1 });
    // The big fit takes far longer than the small one; the small one was called last.
    const a = m.fit(big);
    const b = m.fit(small);
    const ev = m.evaluate(probe); // called after both: sees the small corpus's model
    await Promise.all([a, b]);
    expect(await ev).toEqual(expected);
    expect(await m.evaluate(probe)).toEqual(expected);
    expect(m.info().positions).toBe(3 * 5 + 3);
  });

  test('n-gram: a fit whose inputs are overwritten while it waits in the queue uses what was passed', async () => {
    const big = fromSequences(seqs(20000, 1, 50, 40));
    const small = fromSequences(seqs(30, 2, 50, 5));
    const probe = fromSequences(seqs(50, 3, 50, 8));
    const ref = new NGramModel({ order: 2, vocabSize: 50, threads: 1 });
    await ref.fit(small);
    const m = new NGramModel({ order: 2, vocabSize: 50, threads: 1 });
    const a = m.fit(big);
    const b = m.fit(small);
    small.tokens.fill(0xfffffff0); // after the call: must not matter
    await Promise.all([a, b]);
    expect(await m.evaluate(probe)).toEqual(await ref.evaluate(probe));
  });

  test('transformer: init, setParameters and train without awaiting run in call order', async () => {
    const m = new Transformer(tiny());
    const ref = new Transformer(tiny());
    await ref.init(5);
    const params = await ref.parameters();
    const corpus = fromSequences(seqs(40, 9));
    await ref.train(corpus, { steps: 3, batchSize: 4, seqLen: 8 });
    const evRef = await ref.evaluate(corpus);
    // init(1) then setParameters(ref's init) then train: the model must end as ref.
    const p1 = m.init(1);
    const p2 = m.setParameters(params);
    const p3 = m.train(corpus, { steps: 3, batchSize: 4, seqLen: 8 });
    const p4 = m.evaluate(corpus);
    await Promise.all([p1, p2, p3]);
    expect(await p4).toEqual(evRef);
  });
});

describe('transformer misuse is a typed error', () => {
  test('used before init(): E_NOT_FITTED for evaluate, sample, conditional, train', async () => {
    const m = new Transformer(tiny());
    const c = fromSequences(seqs(4, 1));
    for (const p of [m.evaluate(c), m.sample({ sequences: 1, maxLength: 4, seed: 1 }), m.conditional([new Uint32Array([1])]), m.train(c, { steps: 1 })]) {
      const e = await errorOf(p);
      expect(e.code).toBe('E_NOT_FITTED');
      oneLine(e);
    }
    // init() called (not awaited) before evaluate(): fine.
    const q = m.init(3);
    await expect(m.evaluate(c)).resolves.toMatchObject({ positions: 44 });
    await q;
  });

  test.each([NaN, Infinity, -Infinity])('setParameters refuses %p and leaves the model as it was', async (bad) => {
    const m = new Transformer(tiny());
    await m.init(2);
    const before = await m.parameters();
    const wpe = before.find((t) => t.name === 'transformer.wpe.weight')!;
    const data = wpe.data.slice();
    data[7] = bad;
    const e = await errorOf(m.setParameters([{ name: wpe.name, data }]));
    expect(e.code).toBe('E_BAD_ARGUMENT');
    expect(e.message).toMatch(/transformer\.wpe\.weight.*non-finite.*index 7/);
    expect(await m.parameters()).toEqual(before);
  });

  test('lr 1e30: the diverged step is an E_DIVERGED error naming the step', async () => {
    const m = new Transformer(tiny());
    await m.init(1);
    const c = fromSequences(seqs(40, 4));
    const e = await errorOf(m.train(c, { steps: 20, batchSize: 4, seqLen: 8, lr: 1e30, clip: 0 }));
    expect(e.code).toBe('E_DIVERGED');
    expect(e.message).toMatch(/^training diverged at step \d+ of 20: the (loss|gradient norm) is (NaN|Infinity|-Infinity) \(learning rate 1e\+30; lower lr/);
    oneLine(e);
  });

  test('temperature 1e-300 (and 1e-30) is exactly greedy: each token is the argmax of conditional()', async () => {
    const m = new Transformer(tiny({ vocabSize: 40 }));
    await m.init(11);
    for (const temperature of [1e-300, 5e-324, 1e-30]) {
      const s = await m.sample({ sequences: 6, maxLength: 12, seed: 3, temperature });
      for (let i = 0; i + 1 < s.offsets.length; i++) {
        const seq = [1, ...s.tokens.subarray(s.offsets[i]!, s.offsets[i + 1]!)];
        const ended = s.offsets[i + 1]! - s.offsets[i]! < 12;
        const steps = ended ? seq.length : seq.length - 1;
        for (let t = 1; t <= steps; t++) {
          const rows = await m.conditional([Uint32Array.from(seq.slice(0, t))]);
          let best = 0;
          for (let v = 1; v < 40; v++) if (rows[v]! > rows[best]!) best = v;
          const next = t < seq.length ? seq[t]! : 2; // the EOS that ended it
          expect(next).toBe(best);
        }
      }
      // Different seeds give the same (greedy) sequences.
      const s2 = await m.sample({ sequences: 6, maxLength: 12, seed: 99, temperature });
      expect(Array.from(s2.tokens)).toEqual(Array.from(s.tokens));
    }
  });
});

describe('memory: what cannot fit is refused up front, with the estimate and the limit', () => {
  test('parseByteSize and the limit\'s precedence (option, environment, machine share)', () => {
    expect(parseByteSize('8G')).toBe(8 * 2 ** 30);
    expect(parseByteSize('512M')).toBe(512 * 2 ** 20);
    expect(parseByteSize('1.5T')).toBe(1.5 * 2 ** 40);
    expect(parseByteSize('64KiB')).toBe(65536);
    expect(parseByteSize(12345)).toBe(12345);
    for (const bad of ['', 'lots', '-1G', '8Q', 0, NaN]) expect(() => parseByteSize(bad)).toThrow(CollapseError);
    const saved = process.env.COLLAPSE_MEMORY_LIMIT;
    try {
      process.env.COLLAPSE_MEMORY_LIMIT = '3G';
      expect(memoryLimit()).toBe(3 * 2 ** 30);
      expect(memoryLimit('1G')).toBe(2 ** 30);
      delete process.env.COLLAPSE_MEMORY_LIMIT;
      const d = memoryLimit();
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThanOrEqual(totalmem());
    } finally {
      if (saved === undefined) delete process.env.COLLAPSE_MEMORY_LIMIT;
      else process.env.COLLAPSE_MEMORY_LIMIT = saved;
    }
  });

  test('NGramModel({ vocabSize: 2^31 - 1 }) fitting 3 tokens: E_MEMORY_LIMIT with the estimate and the limit', async () => {
    const m = new NGramModel({ order: 3, vocabSize: 2 ** 31 - 1, memoryLimit: '8G' });
    const e = await errorOf(m.fit(fromSequences([[3, 4, 5]])));
    expect(e.code).toBe('E_MEMORY_LIMIT');
    expect(e.message).toMatch(/^fitting an order-3 n-gram model \(vocabulary 2147483647\) on 3 tokens needs about 136 GiB of memory \(estimate\), more than the memory limit of 8\.00 GiB; /);
    oneLine(e);
  });

  test('a transformer with vocabulary 5e7: E_MEMORY_LIMIT at construction', () => {
    let err: unknown;
    try {
      new Transformer({ vocabSize: 5e7, hidden: 64, layers: 2, heads: 2, window: 8, contextLength: 64, memoryLimit: '8G' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CollapseError);
    expect((err as CollapseError).code).toBe('E_MEMORY_LIMIT');
    expect((err as Error).message).toMatch(/^a transformer with vocabulary 50000000, hidden 64, 2 layers and context 64 needs about 23\.\d GiB of memory \(estimate\), more than the memory limit of 8\.00 GiB/);
  });

  test('the default limit (no option) refuses a model bigger than the machine', () => {
    expect(() => new Transformer({ vocabSize: 2 ** 31 - 1, hidden: 65536, layers: 1, heads: 1, window: 8, contextLength: 8 })).toThrow(/E?memory limit/);
  });
});
