/**
 * The GPT-Neo engine on the CPU: every fast kernel against its naive reference, finite-difference
 * gradients of the whole model (global and local layers), training, scoring = conditional, the
 * local-attention window convention, sampling frequencies against conditional (chi-square, fixed
 * seeds), determinism across thread counts, and typed errors on bad input.
 */
import { CollapseError } from '../src/errors.js';
import { Transformer, type TransformerConfigOptions } from '../src/models/transformer.js';
import { tinyTransformer } from './helpers/transformer.js';
import { chiSquareCritical, rng, toCorpus } from './helpers/reference-ngram.js';

const IGNORE = 0xffffffff;

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(CollapseError);
    expect((err as CollapseError).code).toBe(code);
    return;
  }
  throw new Error(`expected a CollapseError ${code}`);
}

const tiny = tinyTransformer;

/** Adds uniform(-scale, scale) noise to every parameter, so gradients and distributions are not trivial. */
async function perturb(m: Transformer, seed: number, scale: number): Promise<void> {
  const r = rng(seed);
  const ps = await m.parameters();
  for (const p of ps) for (let i = 0; i < p.data.length; i++) p.data[i]! += (r() * 2 - 1) * scale;
  await m.setParameters(ps);
}

// The kernels against their naive references (both instruction-set paths, several thread counts)
// are C++ tests now: native/tests/*_test.cc, run by `npm test` through ctest.

describe('parameters', () => {
  test('names, shapes and order map 1:1 to Hugging Face GPT-Neo', async () => {
    const m = new Transformer(tiny({ intermediate: 24 }));
    const ps = await m.parameters();
    const C = 8, I = 24;
    const expected: [string, number[]][] = [
      ['transformer.wte.weight', [13, C]],
      ['transformer.wpe.weight', [16, C]],
    ];
    for (let l = 0; l < 2; l++) {
      const h = `transformer.h.${l}.`;
      expected.push(
        [h + 'ln_1.weight', [C]],
        [h + 'ln_1.bias', [C]],
        [h + 'attn.attention.q_proj.weight', [C, C]],
        [h + 'attn.attention.k_proj.weight', [C, C]],
        [h + 'attn.attention.v_proj.weight', [C, C]],
        [h + 'attn.attention.out_proj.weight', [C, C]],
        [h + 'attn.attention.out_proj.bias', [C]],
        [h + 'ln_2.weight', [C]],
        [h + 'ln_2.bias', [C]],
        [h + 'mlp.c_fc.weight', [I, C]],
        [h + 'mlp.c_fc.bias', [I]],
        [h + 'mlp.c_proj.weight', [C, I]],
        [h + 'mlp.c_proj.bias', [C]],
      );
    }
    expected.push(['transformer.ln_f.weight', [C]], ['transformer.ln_f.bias', [C]]);
    expect(ps.map((p) => [p.name, p.shape])).toEqual(expected);
    expect(m.parameterCount).toBe(ps.reduce((s, p) => s + p.data.length, 0));
  });

  test('init: LayerNorm 1/0, biases 0, weights ~ normal(0, 0.02); same seed, same bits', async () => {
    const a = new Transformer(tiny({ hidden: 32, heads: 4 }));
    const b = new Transformer(tiny({ hidden: 32, heads: 4, threads: 1 }));
    await a.init(3);
    await b.init(3);
    const pa = await a.parameters();
    const pb = await b.parameters();
    for (let i = 0; i < pa.length; i++) expect(Buffer.from(pa[i]!.data.buffer).equals(Buffer.from(pb[i]!.data.buffer))).toBe(true);
    for (const p of pa) {
      if (p.name.endsWith('ln_1.weight') || p.name.endsWith('ln_2.weight') || p.name.endsWith('ln_f.weight')) expect([...p.data].every((x) => x === 1)).toBe(true);
      else if (p.name.endsWith('.bias')) expect([...p.data].every((x) => x === 0)).toBe(true);
      else {
        const n = p.data.length;
        const mean = p.data.reduce((s, x) => s + x, 0) / n;
        const sd = Math.sqrt(p.data.reduce((s, x) => s + (x - mean) ** 2, 0) / n);
        expect(Math.abs(mean)).toBeLessThan(0.02 * 5 / Math.sqrt(n) + 1e-3);
        expect(Math.abs(sd - 0.02)).toBeLessThan(0.02 * 0.25);
      }
    }
    const c = new Transformer(tiny({ hidden: 32, heads: 4 }));
    await c.init(4);
    const pc = await c.parameters();
    expect(Buffer.from(pc[0]!.data.buffer).equals(Buffer.from(pa[0]!.data.buffer))).toBe(false);
  });
});

describe('gradients', () => {
  test.each([
    ['global + local (window 3)', tiny()],
    ['local window 1 + global, intermediate 12', tiny({ attention: ['local', 'global'], window: 1, intermediate: 12 })],
  ])('finite differences match backward for every tensor: %s', async (_name, cfg) => {
    const m = new Transformer({ ...cfg, threads: 2 });
    await m.init(5);
    await perturb(m, 9, 0.3);
    const B = 2, T = 7;
    const r = rng(21);
    const inputs = Uint32Array.from({ length: B * T }, () => Math.floor(r() * cfg.vocabSize));
    const targets = Uint32Array.from({ length: B * T }, () => Math.floor(r() * cfg.vocabSize));
    targets[3] = IGNORE;
    const loss = await m.forwardBackward(inputs, targets, B, T);
    expect(loss).toBeCloseTo(await m.loss(inputs, targets, B, T), 5);
    const named = await m.gradients();
    const grads = new Float32Array(named.reduce((s, g) => s + g.data.length, 0));
    let at = 0;
    for (const g of named) {
      grads.set(g.data, at);
      at += g.data.length;
    }
    const params = await m.parameters();
    expect(named.map((g) => g.name)).toEqual(params.map((p) => p.name));
    let offset = 0;
    for (const p of params) {
      const n = p.data.length;
      // Directional derivative along a random unit direction d of this tensor (float64 sums).
      const d = Float64Array.from({ length: n }, () => r() * 2 - 1);
      const norm = Math.hypot(...d);
      let analytic = 0;
      for (let i = 0; i < n; i++) {
        d[i]! /= norm;
        analytic += grads[offset + i]! * d[i]!;
      }
      const eps = 1e-2;
      const shifted = (s: number) => Float32Array.from(p.data, (x, i) => x + s * eps * d[i]!);
      await m.setParameters([{ name: p.name, data: shifted(1) }]);
      const up = await m.loss(inputs, targets, B, T);
      await m.setParameters([{ name: p.name, data: shifted(-1) }]);
      const down = await m.loss(inputs, targets, B, T);
      await m.setParameters([{ name: p.name, data: p.data }]);
      const fd = (up - down) / (2 * eps);
      const err = Math.abs(analytic - fd);
      if (!(err <= 1e-2 * Math.abs(fd) + 3e-5)) throw new Error(`${p.name}: analytic ${analytic} vs finite difference ${fd}`);
      offset += n;
    }
    expect(offset).toBe(grads.length);
  });
});

describe('forward semantics', () => {
  test('local layers see key j from query i iff i - window < j <= i', async () => {
    // One local layer with window 2: the last position's distribution depends on the last two
    // tokens only (with L local layers the receptive field is L·(window-1)+1). With window 3 an
    // earlier token changes it.
    const m = new Transformer(tiny({ layers: 1, attention: ['local'], window: 2 }));
    await m.init(1);
    await perturb(m, 2, 0.5);
    const rows = await m.conditional([Uint32Array.of(3, 4, 5, 6), Uint32Array.of(9, 8, 5, 6), Uint32Array.of(3, 4, 7, 6)]);
    const V = 13;
    const row = (i: number) => rows.subarray(i * V, (i + 1) * V);
    expect([...row(0)]).toEqual([...row(1)]);
    expect(maxDiff(row(0), row(2))).toBeGreaterThan(1e-4);
    const g = new Transformer(tiny({ layers: 1, attention: ['local'], window: 3 }));
    await g.setParameters(await m.parameters());
    const rows3 = await g.conditional([Uint32Array.of(3, 4, 5, 6), Uint32Array.of(9, 8, 5, 6)]);
    expect(maxDiff(rows3.subarray(0, V), rows3.subarray(V, 2 * V))).toBeGreaterThan(1e-4);
  });

  test('conditional rows are distributions; batching does not change them', async () => {
    const m = new Transformer(tiny());
    await m.init(2);
    await perturb(m, 3, 0.4);
    const prefixes = [Uint32Array.of(1), Uint32Array.of(1, 5, 6, 7, 8), Uint32Array.of(1, 3), Uint32Array.of(1, 5, 6, 7, 8, 9, 10, 11, 12, 3, 4)];
    const all = (await m.conditional(prefixes)) as Float32Array;
    const V = 13;
    for (let i = 0; i < prefixes.length; i++) {
      const row = all.subarray(i * V, (i + 1) * V);
      expect(Math.abs(row.reduce((s, x) => s + x, 0) - 1)).toBeLessThan(1e-5);
      const alone = await m.conditional([prefixes[i]!]);
      expect([...alone]).toEqual([...row]);
    }
  });

  test('evaluate = Σ log conditional (BOS-prefixed), and the sliding window follows the stride recipe', async () => {
    const m = new Transformer(tiny({ contextLength: 6 }));
    await m.init(4);
    await perturb(m, 5, 0.4);
    const seqs = [[3, 4, 5], [6], [], [7, 8, 9, 10, 11, 12, 3, 4, 5, 6, 7, 8]]; // the last one is longer than the context
    const corpus = toCorpus(seqs);
    const stride = 2;
    const e = await m.evaluate(corpus, { perPosition: true, stride });
    expect(e.positions).toBe(corpus.tokens.length + seqs.length);
    const ctx = 6;
    let k = 0;
    let sum = 0;
    for (const s of seqs) {
      const inputs = [1, ...s];
      const targets = [...s, 2];
      const L = inputs.length;
      // Which window scores position p, and from which begin.
      const beginOf: number[] = new Array(L).fill(0);
      if (L > ctx) {
        let prevEnd = 0;
        for (let begin = 0; ; begin += stride) {
          const end = Math.min(begin + ctx, L);
          for (let p = prevEnd; p < end; p++) beginOf[p] = begin;
          prevEnd = end;
          if (end === L) break;
        }
      }
      for (let p = 0; p < L; p++) {
        const row = await m.conditional([Uint32Array.from(inputs.slice(beginOf[p], p + 1))], { float64: true });
        const lp = Math.log(row[targets[p]!]!);
        expect(e.logProbs![k]!).toBeCloseTo(lp, 4);
        sum += e.logProbs![k]!;
        k++;
      }
    }
    expect(e.logLikelihood).toBeCloseTo(sum, 8);
    expect(e.perplexity).toBeCloseTo(Math.exp(-sum / e.positions), 8);
  });
});

describe('training', () => {
  test('loss falls on a tiny repetitive corpus; progress is reported per step', async () => {
    const seqs = Array.from({ length: 40 }, (_, i) => [3, 4, 5, 6, 7, 8, 9, 10, 11, 12].slice(0, 5 + (i % 6)));
    const corpus = toCorpus(seqs);
    const m = new Transformer(tiny({ hidden: 16, heads: 2, contextLength: 32 }));
    await m.init(1);
    const before = await m.evaluate(corpus);
    const steps: number[] = [];
    const losses: number[] = [];
    const r = await m.train(corpus, {
      steps: 60,
      batchSize: 4,
      seqLen: 16,
      lr: 1e-2,
      schedule: 'cosine',
      warmup: 5,
      weightDecay: 0.01,
      seed: 3,
      onProgress: (p) => {
        steps.push(p.step);
        losses.push(p.loss);
        expect(p.totalSteps).toBe(60);
        expect(Number.isFinite(p.gradNorm)).toBe(true);
      },
    });
    expect(r.steps).toBe(60);
    await new Promise((res) => setImmediate(res));
    expect(steps).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    const after = await m.evaluate(corpus);
    expect(after.perplexity).toBeLessThan(before.perplexity / 3);
    expect(losses.slice(-5).reduce((a, b) => a + b) / 5).toBeLessThan(losses.slice(0, 5).reduce((a, b) => a + b) / 5 / 2);
  });

  test('an AbortSignal stops training with E_ABORTED', async () => {
    const corpus = toCorpus(Array.from({ length: 50 }, () => [3, 4, 5, 6, 7, 8]));
    const m = new Transformer(tiny());
    await m.init(1);
    const ac = new AbortController();
    let seen = 0;
    await expectCode(
      m.train(corpus, {
        steps: 100000,
        batchSize: 2,
        seqLen: 8,
        signal: ac.signal,
        onProgress: () => {
          if (++seen === 3) ac.abort();
        },
      }),
      'E_ABORTED',
    );
    const pre = new AbortController();
    pre.abort();
    await expectCode(m.train(corpus, { steps: 1, signal: pre.signal }), 'E_ABORTED');
    // the model is usable afterwards
    expect((await m.evaluate(corpus)).positions).toBe(corpus.tokens.length + 50);
  });
});

describe('sampling', () => {
  const V = 9;
  async function model(): Promise<Transformer> {
    const m = new Transformer(tiny({ vocabSize: V, contextLength: 8, threads: 2 }));
    await m.init(11);
    await perturb(m, 12, 0.6);
    return m;
  }
  function chiSquare(counts: number[], probs: ArrayLike<number>, total: number): { stat: number; df: number } {
    let stat = 0;
    let df = -1;
    let restObs = 0;
    let restExp = 0;
    for (let v = 0; v < counts.length; v++) {
      const e = probs[v]! * total;
      if (e >= 5) {
        stat += (counts[v]! - e) ** 2 / e;
        df++;
      } else {
        restObs += counts[v]!;
        restExp += e;
      }
    }
    if (restExp > 0) {
      stat += (restObs - restExp) ** 2 / restExp;
      df++;
    }
    return { stat, df };
  }

  test('first-token and second-token frequencies match conditional (chi-square, fixed seed)', async () => {
    const m = await model();
    const N = 6000;
    const s = await m.sample({ sequences: N, maxLength: 2, seed: 5 });
    expect(s.offsets.length).toBe(N + 1);
    const first = new Array(V).fill(0);
    const second = new Map<number, number[]>();
    for (let i = 0; i < N; i++) {
      const a = s.offsets[i]!, b = s.offsets[i + 1]!;
      if (a === b) first[2]++;
      else {
        const t0 = s.tokens[a]!;
        first[t0]++;
        const row = second.get(t0) ?? new Array(V).fill(0);
        if (b - a === 1) row[2]++;
        else row[s.tokens[a + 1]!]++;
        second.set(t0, row);
      }
    }
    const p1 = await m.conditional([Uint32Array.of(1)]);
    expect(first[1]).toBe(0 + (p1[1]! > 0 ? first[1] : 0));
    const c1 = chiSquare(first, p1, N);
    expect(c1.stat).toBeLessThan(chiSquareCritical(c1.df));
    // the most frequent first token: its continuations (KV cache at position 1)
    const top = first.indexOf(Math.max(...first.filter((_, v) => v !== 2)));
    const row = second.get(top)!;
    const n2 = row.reduce((a, b) => a + b, 0);
    const p2 = await m.conditional([Uint32Array.of(1, top)]);
    const c2 = chiSquare(row, p2, n2);
    expect(c2.stat).toBeLessThan(chiSquareCritical(c2.df));
  });

  test('top-k and temperature: only the k most likely ids, in the renormalised proportions', async () => {
    const m = await model();
    const p = await m.conditional([Uint32Array.of(1)]);
    const T = 0.7;
    const q = Array.from(p, (x) => Math.pow(x, 1 / T));
    const order = q.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    const keep = new Set(order.slice(0, 3).map(([, i]) => i));
    const mass = order.slice(0, 3).reduce((s, [x]) => s + x, 0);
    const expected = q.map((x, i) => (keep.has(i) ? x / mass : 0));
    const N = 4000;
    const s = await m.sample({ sequences: N, maxLength: 1, seed: 8, topK: 3, temperature: T });
    const counts = new Array(V).fill(0);
    for (let i = 0; i < N; i++) counts[s.offsets[i] === s.offsets[i + 1] ? 2 : s.tokens[s.offsets[i]!]!]++;
    for (let v = 0; v < V; v++) if (!keep.has(v)) expect(counts[v]).toBe(0);
    const c = chiSquare(counts, expected, N);
    expect(c.stat).toBeLessThan(chiSquareCritical(Math.max(1, c.df)));
  });

  test('sequence i depends only on (seed, i); `tokens` draws whole sequences up to the count', async () => {
    const m = await model();
    const a = await m.sample({ sequences: 70, maxLength: 8, seed: 3 });
    const b = await m.sample({ sequences: 5, maxLength: 8, seed: 3 });
    expect([...b.offsets]).toEqual([...a.offsets.subarray(0, 6)]);
    expect([...b.tokens]).toEqual([...a.tokens.subarray(0, b.offsets[5]!)]);
    const t = await m.sample({ tokens: 100, maxLength: 8, seed: 3 });
    const nseq = t.offsets.length - 1;
    const positions = t.tokens.length + nseq;
    expect(positions).toBeGreaterThanOrEqual(100);
    expect(positions - (t.offsets[nseq]! - t.offsets[nseq - 1]! + 1)).toBeLessThan(100);
    expect([...t.offsets]).toEqual([...a.offsets.subarray(0, nseq + 1)]);
    for (let i = 0; i < 70; i++) expect(a.offsets[i + 1]! - a.offsets[i]!).toBeLessThanOrEqual(8);
    for (const x of a.tokens) expect(x).not.toBe(2);
  });
});

describe('determinism', () => {
  test('1 and 2 threads give bit-identical training, scoring and samples', async () => {
    const corpus = toCorpus(Array.from({ length: 30 }, (_, i) => Array.from({ length: 3 + (i % 9) }, (_, j) => 3 + ((i * 7 + j * 3) % 30))));
    const cfg: TransformerConfigOptions = { vocabSize: 33, hidden: 32, layers: 2, heads: 4, window: 5, contextLength: 64, bos: 1, eos: 2 };
    const run = async (threads: number) => {
      const m = new Transformer({ ...cfg, threads });
      await m.init(7);
      await m.train(corpus, { steps: 4, batchSize: 3, seqLen: 40, lr: 3e-3, seed: 2 });
      const params = await m.parameters();
      const ev = await m.evaluate(corpus, { perPosition: true });
      const s = await m.sample({ sequences: 20, maxLength: 30, seed: 9, topP: 0.9 });
      return { params, ev, s };
    };
    const a = await run(1);
    const b = await run(2);
    for (let i = 0; i < a.params.length; i++) expect(Buffer.from(a.params[i]!.data.buffer).equals(Buffer.from(b.params[i]!.data.buffer))).toBe(true);
    expect(Buffer.from(a.ev.logProbs!.buffer).equals(Buffer.from(b.ev.logProbs!.buffer))).toBe(true);
    expect([...a.s.tokens]).toEqual([...b.s.tokens]);
    expect([...a.s.offsets]).toEqual([...b.s.offsets]);
  });
});

describe('sampling lanes', () => {
  // sample() runs one lane per thread, each with its own few cache slots; what a sequence draws
  // must not depend on which lane ran it, on the lanes' timing, or on how many there are.
  test.each([
    ['head dim 4 (fused decode)', 32, 8, 128],
    ['head dim 16', 32, 2, 128],
    // gelu runs over rows × 12 values: a partial last vector whose place depends on the batch
    ['MLP width 12', 32, 8, 12],
  ])('%s: tokens mode and sequences mode agree across 1, 2 and 3 threads', async (_, hidden, heads, intermediate) => {
    // A 1 MiB KV cache per sequence at maxLength 2048 keeps a lane to a few slots, so the lanes
    // take turns on the sequence counter (random weights: EOS ends a sequence after ~40 tokens).
    const cfg: TransformerConfigOptions = { vocabSize: 41, hidden, layers: 2, heads, window: 6, contextLength: 2048, intermediate, bos: 1, eos: 2 };
    const draw = async (threads: number) => {
      const m = new Transformer({ ...cfg, threads });
      await m.init(11);
      return { t: await m.sample({ tokens: 900, maxLength: 2048, seed: 4 }), s: await m.sample({ sequences: 37, maxLength: 2048, seed: 4 }) };
    };
    const one = await draw(1);
    for (const threads of [2, 3]) {
      const other = await draw(threads);
      expect([...other.t.offsets]).toEqual([...one.t.offsets]);
      expect([...other.t.tokens]).toEqual([...one.t.tokens]);
      expect([...other.s.tokens]).toEqual([...one.s.tokens]);
    }
    // tokens mode keeps the first sequences whose positions reach the count, as sequences mode draws them
    const n = one.t.offsets.length - 1;
    expect(one.t.tokens.length + n).toBeGreaterThanOrEqual(900);
    expect([...one.t.offsets.subarray(0, Math.min(n, 37) + 1)]).toEqual([...one.s.offsets.subarray(0, Math.min(n, 37) + 1)]);
  });
});

describe('bad input → typed errors', () => {
  test('configuration', async () => {
    await expectCode(() => new Transformer(tiny({ heads: 3 })), 'E_BAD_ARGUMENT');
    await expectCode(() => new Transformer(tiny({ attention: ['global'] })), 'E_BAD_ARGUMENT');
    await expectCode(() => new Transformer(tiny({ attention: ['global', 'sparse' as 'local'] })), 'E_BAD_ARGUMENT');
    await expectCode(() => new Transformer(tiny({ bos: 13 })), 'E_BAD_ARGUMENT');
    await expectCode(() => new Transformer(tiny({ hidden: 0 })), 'E_BAD_ARGUMENT');
    await expectCode(() => new Transformer({ preset: 'tinystories-2m' as 'tinystories-1m' }), 'E_BAD_ARGUMENT');
    await expectCode(() => new Transformer({ preset: 'tinystories-1m', vocabSize: 1000 }), 'E_BAD_ARGUMENT');
    const p = new Transformer({ preset: 'tinystories-1m', vocabSize: 1000, bos: 1, eos: 2 });
    expect(p.config).toMatchObject({ hidden: 64, layers: 8, heads: 16, window: 256, contextLength: 2048, intermediate: 256 });
    expect(p.config.attention).toEqual(['global', 'local', 'global', 'local', 'global', 'local', 'global', 'local']);
  });

  test('calls', async () => {
    const m = new Transformer(tiny());
    await expectCode(m.train(toCorpus([[3, 4]]), { steps: 1 }), 'E_NOT_FITTED'); // not initialised
    await m.init(1);
    await expectCode(m.train(toCorpus([[3, 13]]), { steps: 1 }), 'E_TOKEN_RANGE');
    await expectCode(m.evaluate(toCorpus([[3, 99]])), 'E_TOKEN_RANGE');
    await expectCode(m.train({ tokens: Uint32Array.of(3), offsets: Uint32Array.of(0, 2) }, { steps: 1 }), 'E_OFFSETS');
    await expectCode(m.train(toCorpus([]), { steps: 1 }), 'E_CORPUS_EMPTY');
    await expectCode(m.train(toCorpus([[3]]), { steps: 1, seqLen: 17 }), 'E_BAD_ARGUMENT');
    await expectCode(m.train(toCorpus([[3]]), { steps: 1, epochs: 1 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, maxLength: 17, seed: 1 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, tokens: 3, maxLength: 4, seed: 1 }), 'E_BAD_ARGUMENT');
    await expectCode(m.sample({ sequences: 1, maxLength: 4, seed: 1, topP: 0 }), 'E_BAD_ARGUMENT');
    await expectCode(m.conditional([Uint32Array.of()]), 'E_BAD_ARGUMENT');
    await expectCode(m.conditional([Uint32Array.of(1, 13)]), 'E_TOKEN_RANGE');
    await expectCode(m.setParameters([{ name: 'transformer.wte.weight', data: new Float32Array(3) }]), 'E_BAD_ARGUMENT');
    await expectCode(m.setParameters([{ name: 'lm_head.weight', data: new Float32Array(13 * 8) }]), 'E_BAD_ARGUMENT');
    await expectCode(m.forwardBackward(Uint32Array.of(1, 2), Uint32Array.of(2, 14), 1, 2), 'E_TOKEN_RANGE');
    // still usable
    expect((await m.conditional([Uint32Array.of(1)])).length).toBe(13);
  });
});

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
