// Child process of test/robustness/memory.test.ts (node --expose-gc memory-child.cjs CASE): runs one
// engine call on the raw addon and prints { growth, shape } where growth is the peak resident set
// during the call minus the resident set just before it (Linux: VmHWM reset through clear_refs).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const native = require(process.env.COLLAPSE_NATIVE_PATH || path.join(__dirname, '..', '..', 'build', 'Release', 'collapse_native.node'));

const status = (key) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
function measure(start) {
  global.gc();
  fs.writeFileSync('/proc/self/clear_refs', '5'); // resets VmHWM to the current RSS
  const base = status('VmRSS');
  return start().then((extra) => ({ growth: status('VmHWM') - base, ...extra }));
}
function corpus(nseq, len, V, seed) {
  let s = seed;
  const tokens = new Uint32Array(nseq * len);
  const offsets = new Uint32Array(nseq + 1);
  for (let i = 0; i < tokens.length; i++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    tokens[i] = 3 + (s % (V - 3));
  }
  for (let i = 0; i <= nseq; i++) offsets[i] = i * len;
  return { tokens, offsets };
}

const [which] = process.argv.slice(2);
(async () => {
  let r;
  if (which === 'ngram-distinct') {
    // Random ids over a large vocabulary: almost every bigram and trigram distinct (the worst case).
    const V = 200000, c = corpus(20000, 100, V, 7);
    const m = new native.NGram({ order: 3, smoothing: 2, k: 1, vocabSize: V, bos: 1, eos: 2, threads: 2 });
    r = await measure(async () => (await m.fit(c.tokens, c.offsets), { order: 3, vocabSize: V, tokens: c.tokens.length, sequences: 20000 }));
  } else if (which === 'ngram-order6') {
    const V = 200000, c = corpus(20000, 100, V, 9);
    const m = new native.NGram({ order: 6, smoothing: 2, k: 1, vocabSize: V, bos: 1, eos: 2, threads: 2 });
    r = await measure(async () => (await m.fit(c.tokens, c.offsets), { order: 6, vocabSize: V, tokens: c.tokens.length, sequences: 20000 }));
  } else if (which === 'ngram-dense') {
    // A huge vocabulary and a small corpus: the dense first level dominates.
    const V = 20_000_000, c = corpus(100, 50, 1000, 3);
    const m = new native.NGram({ order: 4, smoothing: 2, k: 1, vocabSize: V, bos: 1, eos: 2, threads: 2 });
    r = await measure(async () => (await m.fit(c.tokens, c.offsets), { order: 4, vocabSize: V, tokens: c.tokens.length, sequences: 100 }));
  } else if (which === 'tf-construct' || which === 'tf-train' || which === 'tf-evaluate') {
    const shape = { vocabSize: 50000, hidden: 128, layers: 2, heads: 4, contextLength: 128, intermediate: 512 };
    const opts = { ...shape, window: 32, local: [false, true], bos: 1, eos: 2, threads: 2 };
    if (which === 'tf-construct') {
      r = await measure(async () => (new native.Transformer(opts).info(), { shape }));
    } else {
      const t = new native.Transformer(opts);
      await t.init(1);
      const c = corpus(which === 'tf-train' ? 400 : 60, 100, 50000, 5);
      if (which === 'tf-train') {
        const req = { steps: 3, batchSize: 8, seqLen: 64, lr: 1e-3, schedule: 0, warmup: 0, weightDecay: 0, clip: 1, seed: 1 };
        r = await measure(async () => (await t.train(c.tokens, c.offsets, req), { shape, batchSize: 8, seqLen: 64, tokens: c.tokens.length, sequences: 400 }));
      } else {
        r = await measure(async () => (await t.evaluate(c.tokens, c.offsets, 0, false).promise, { shape, tokens: c.tokens.length, sequences: 60 }));
      }
    }
  } else throw new Error(`unknown case ${which}`);
  process.stdout.write(`${JSON.stringify(r)}\n`);
})();
