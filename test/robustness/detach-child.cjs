// Child process for test/robustness/detach.test.ts (run as `node --expose-gc detach-child.cjs OP MODE`).
// Calls one native operation of the addon on a large corpus and, while it runs, takes its input
// buffers away (MODE=detach: transfer them and collect the garbage) or overwrites them
// (MODE=mutate: fill(0xfffffff0)), then prints the result as JSON; MODE=clean leaves them alone.
// The test compares the three: the worker must read only what it copied when the call started.
'use strict';
const path = require('node:path');
const addonPath = process.env.COLLAPSE_NATIVE_PATH || path.join(__dirname, '..', '..', 'build', 'Release', 'collapse_native.node');
const native = require(addonPath);
const [op, mode] = process.argv.slice(2);
const V = 500;

// A deterministic corpus: `seqs` sequences of length 5..100 over ids 3..V-1 (xorshift).
function corpus(seqs, seed) {
  let s = seed >>> 0 || 1;
  const rnd = () => ((s ^= s << 13), (s ^= s >>> 17), (s ^= s << 5), (s >>> 0));
  const lens = [];
  let total = 0;
  for (let i = 0; i < seqs; i++) {
    const l = 5 + (rnd() % 96);
    lens.push(l);
    total += l;
  }
  const tokens = new Uint32Array(total);
  const offsets = new Uint32Array(seqs + 1);
  let k = 0;
  for (let i = 0; i < seqs; i++) {
    let prev = 3;
    for (let j = 0; j < lens[i]; j++) {
      // A skewed Markov-ish stream so that n-grams repeat.
      const r = rnd();
      prev = r % 4 === 0 ? 3 + (r >>> 8) % (V - 3) : 3 + ((prev * 7 + (r >>> 4) % 5) % (V - 3));
      tokens[k++] = prev;
    }
    offsets[i + 1] = k;
  }
  return { tokens, offsets };
}

// Takes the arrays away or overwrites them, 20 ms after the call started and again at once.
function attack(arrays) {
  if (mode === 'clean') return Promise.resolve();
  const hit = () => {
    for (const a of arrays) {
      if (mode === 'detach') {
        if (a.buffer.byteLength > 0) structuredClone(a.buffer, { transfer: [a.buffer] });
      } else a.fill(0xfffffff0);
    }
    if (global.gc) global.gc();
  };
  hit(); // synchronously after the call returned its promise
  return new Promise((r) => setTimeout(() => { hit(); r(); }, 20));
}

const round = (x) => (typeof x === 'number' ? Number(x.toPrecision(15)) : x);
const sum = (a) => { let s = 0; for (const x of a) s += x; return s; };

async function main() {
  const threads = 2;
  // ~8M tokens for the engines that are fast; an eighth under the sanitizers (scripts/sanitize.sh),
  // where every access is checked and a smaller corpus still runs long past the attack.
  const scale = /asan/.test(process.env.LD_PRELOAD || '') ? 8 : 1;
  const big = corpus((op.startsWith('tf.') ? 4000 : 160_000) / scale, 7);
  const small = corpus(2000, 11);
  let out;
  switch (op) {
    case 'ngram.fit': {
      const m = new native.NGram({ order: 3, smoothing: 2, k: 1, vocabSize: V, bos: 1, eos: 2, threads });
      const p = m.fit(big.tokens, big.offsets);
      await attack([big.tokens, big.offsets]);
      await p;
      const r = await m.evaluate(small.tokens, small.offsets, false);
      out = { ngrams: m.info().ngrams, ll: round(r.logLikelihood) };
      break;
    }
    case 'ngram.evaluate': {
      const m = new native.NGram({ order: 3, smoothing: 2, k: 1, vocabSize: V, bos: 1, eos: 2, threads });
      await m.fit(small.tokens, small.offsets);
      const p = m.evaluate(big.tokens, big.offsets, false);
      await attack([big.tokens, big.offsets]);
      const r = await p;
      out = { ll: round(r.logLikelihood), positions: r.positions, zero: r.zeroProbability };
      break;
    }
    case 'ngram.conditional': {
      const m = new native.NGram({ order: 3, smoothing: 2, k: 1, vocabSize: V, bos: 1, eos: 2, threads });
      await m.fit(small.tokens, small.offsets);
      const ctx = big.tokens.slice(0, 2 * 4000);
      const pending = m.conditional(ctx, 2, false);
      await attack([ctx]);
      await pending.promise;
      out = { sum: round(sum(pending.rows)), first: round(pending.rows[7]) };
      const pc = m.counts(ctx2 = big.tokens.slice(0, 2 * 4000), 2);
      await attack([ctx2]);
      await pc.promise;
      out.counts = sum(pc.totals);
      break;
    }
    case 'stats': {
      const p1 = native.stats.diversity(big.tokens, big.offsets, threads);
      await attack([big.tokens, big.offsets]);
      const d = await p1;
      const ref = corpus(160_000 / scale, 7);
      const sup = await native.stats.supportBuild(ref.tokens, ref.offsets, new Uint32Array([1, 2, 3]), 1, 2, threads);
      const b = corpus(160_000 / scale, 9);
      const p2 = native.stats.supportCompare(b.tokens, b.offsets, sup.handle, threads);
      await attack([b.tokens, b.offsets]);
      const cmp = await p2;
      const c = corpus(160_000 / scale, 9), e = corpus(160_000 / scale, 7);
      const p3 = native.stats.tailRetention(c.tokens, e.tokens, 0.5, new Uint32Array([1, 2]));
      await attack([c.tokens, e.tokens]);
      const t = await p3;
      const f = corpus(160_000 / scale, 5);
      const p4 = native.stats.supportBuild(f.tokens, f.offsets, new Uint32Array([2]), 1, 2, threads);
      await attack([f.tokens, f.offsets]);
      const sup2 = await p4;
      out = { distinct3: d.distinct3, total2: d.total2, types: d.ids.length, cmp: Array.from(cmp), tail: t.retained, sizes: Array.from(sup2.sizes) };
      break;
    }
    case 'theory': {
      const ctx = big.tokens.slice(0, 2 * 2000);
      const p = native.contextCounts(big.tokens, big.offsets, ctx, 2, V, 1, 2);
      await attack([big.tokens, big.offsets, ctx]);
      const r = await p;
      out = { nnz: r.cols.length, total: sum(r.totals), vals: sum(r.vals) };
      break;
    }
    case 'tf.train':
    case 'tf.evaluate':
    case 'tf.conditional':
    case 'tf.forwardBackward': {
      const t = new native.Transformer({ vocabSize: V, contextLength: 64, hidden: 16, layers: 1, heads: 2, window: 16, intermediate: 32, local: [false], bos: 1, eos: 2, threads });
      await t.init(3);
      if (op === 'tf.train') {
        const p = t.train(big.tokens, big.offsets, { steps: 40, batchSize: 8, seqLen: 64, lr: 1e-3, schedule: 0, warmup: 0, weightDecay: 0, clip: 1, seed: 1 });
        await attack([big.tokens, big.offsets]);
        const r = await p;
        out = { steps: r.steps, loss: round(r.lastLoss), p: round(sum(t.getParams()[0].data)) };
      } else if (op === 'tf.evaluate') {
        const c = corpus(600, 3);
        const pending = t.evaluate(c.tokens, c.offsets, 32, false);
        await attack([c.tokens, c.offsets]);
        const r = await pending.promise;
        out = { ll: round(r.logLikelihood), positions: r.positions };
      } else if (op === 'tf.conditional') {
        const flat = big.tokens.slice(0, 64 * 300);
        const starts = new Uint32Array(301);
        for (let i = 0; i <= 300; i++) starts[i] = 64 * i;
        const pending = t.conditional(flat, starts);
        await attack([flat, starts]);
        await pending.promise;
        out = { sum: round(sum(pending.rows)), x: round(pending.rows[1234]) };
      } else {
        const B = 64, T = 64;
        const inp = big.tokens.slice(0, B * T), tg = big.tokens.slice(1, B * T + 1);
        const p = t.forwardBackward(inp, tg, B, T);
        await attack([inp, tg]);
        const l1 = await p;
        const inp2 = big.tokens.slice(0, B * T), tg2 = big.tokens.slice(1, B * T + 1);
        const p2 = t.loss(inp2, tg2, B, T);
        await attack([inp2, tg2]);
        out = { loss: round(l1), loss2: round(await p2) };
      }
      break;
    }
    default:
      throw new Error(`unknown op ${op}`);
  }
  if (global.gc) global.gc();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
let ctx2;
main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ error: e.code || 'E?', message: e.message })}\n`);
  process.exitCode = 3;
});
