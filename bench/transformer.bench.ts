/**
 * GPT-Neo engine benchmarks (float32, CPU): training tokens/s for two small configurations at batch
 * 16 × 256, KV-cache sampling tokens/s (64 sequences × 256 tokens at once, and one sequence), and
 * matmul GFLOP/s at 512³ and 2048³. Synthetic token data: speed does not depend on the text.
 */
import { Bench } from 'tinybench';
import { loadNative } from '../src/native.js';
import { Transformer, type TransformerConfigOptions } from '../src/models/transformer.js';
import type { BenchRow } from './ngram.bench.js';

const S: TransformerConfigOptions = { vocabSize: 4096, hidden: 64, layers: 8, heads: 16, window: 256, contextLength: 2048, bos: 1, eos: 2 };
const M: TransformerConfigOptions = { vocabSize: 8192, hidden: 128, layers: 4, heads: 8, window: 256, contextLength: 2048, bos: 1, eos: 2 };

/** A corpus of `n` random sequences of 40–400 tokens (ids 3..V-1), deterministic. */
function syntheticCorpus(V: number, tokens: number): { tokens: Uint32Array; offsets: Uint32Array } {
  let s = 12345;
  const next = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) / 16777216;
  const toks = new Uint32Array(tokens);
  for (let i = 0; i < tokens; i++) toks[i] = 3 + Math.floor(next() * (V - 3));
  const offsets: number[] = [0];
  while (offsets[offsets.length - 1]! < tokens) offsets.push(Math.min(tokens, offsets[offsets.length - 1]! + 40 + Math.floor(next() * 360)));
  return { tokens: toks, offsets: Uint32Array.from(offsets) };
}

export async function transformerBench(threads: number[] = [2]): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const native = loadNative();
  for (const t of threads) {
    for (const n of [512, 2048]) {
      const sec = native.transformerMatmulSeconds(n, n, n, t, n === 512 ? 20 : 3);
      const flops = 2 * n * n * n;
      rows.push({ suite: 'transformer', task: `matmul ${n}³ (A·Bᵀ), ${t} thr`, meanMs: sec * 1e3, minMs: sec * 1e3, rate: flops / sec / 1e9, unit: 'GFLOP/s' });
    }
    const bench = new Bench({ time: 3000, iterations: 2, warmupIterations: 1 });
    const units: Record<string, [number, string]> = {};
    const add = (name: string, work: number, unit: string, fn: () => Promise<unknown>) => {
      units[name] = [work, unit];
      bench.add(name, fn);
    };
    const B = 16, T = 256;
    for (const [label, cfg] of [['S (h64 L8 H16 V4096)', S], ['M (h128 L4 H8 V8192)', M]] as const) {
      const m = new Transformer({ ...cfg, threads: t });
      await m.init(1);
      const corpus = syntheticCorpus(cfg.vocabSize, B * T * 3 + 1);
      add(`train ${label}, batch 16×256, 3 steps, ${t} thr`, 3 * B * T, 'tokens/s', () => m.train(corpus, { steps: 3, batchSize: B, seqLen: T, lr: 1e-3 }));
      if (cfg === S) {
        add(`sample ${label}, 64 seq × 256 tokens, ${t} thr`, 64 * 256, 'tokens/s', async () => {
          // random weights: EOS has p ≈ 1/V per token, so nearly every sequence runs to maxLength
          await m.sample({ sequences: 64, maxLength: 256, seed: 1 });
        });
        add(`sample ${label}, 1 seq × 256 tokens, ${t} thr`, 256, 'tokens/s', () => m.sample({ sequences: 1, maxLength: 256, seed: 1 }));
      }
    }
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result as { latency?: { mean: number; min: number } };
      if (!r.latency) continue;
      const [work, unit] = units[task.name]!;
      rows.push({ suite: 'transformer', task: task.name, meanMs: r.latency.mean, minMs: r.latency.min, rate: (work / r.latency.mean) * 1000, unit });
    }
  }
  return rows;
}

// `npx tsx bench/transformer.bench.ts` runs this suite alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await transformerBench();
  for (const r of rows) console.log(`${r.task}: ${r.meanMs.toFixed(1)} ms, ${r.rate.toFixed(1)} ${r.unit}`);
}
