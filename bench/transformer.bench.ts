/**
 * GPT-Neo engine benchmarks (float32, CPU): training tokens/s for two small configurations at batch
 * 16 × 256, KV-cache sampling tokens/s (64 sequences × 256 tokens at once, and one sequence), and
 * matmul GFLOP/s at 512³ and 2048³. Synthetic token data: speed does not depend on the text.
 *
 * When Debian's PyTorch is importable by /usr/bin/python3, bench/pytorch_peer.py runs the same
 * models, batch, optimizer and sampling loop in torch (same thread count) in the same run, and
 * each row gets the peer's figure and the ratio; otherwise those columns are left out.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { loadNative } from '../src/native.js';
import { Transformer, type TransformerConfigOptions } from '../src/models/transformer.js';
import type { BenchRow } from './ngram.bench.js';

const S: TransformerConfigOptions = { vocabSize: 4096, hidden: 64, layers: 8, heads: 16, window: 256, contextLength: 2048, bos: 1, eos: 2 };
const M: TransformerConfigOptions = { vocabSize: 8192, hidden: 128, layers: 4, heads: 8, window: 256, contextLength: 2048, bos: 1, eos: 2 };
/** TinyStories-1M's architecture (GPT-2's 50257-token vocabulary). */
const T1M: TransformerConfigOptions = { vocabSize: 50257, hidden: 64, layers: 8, heads: 16, window: 256, contextLength: 2048, bos: 50256, eos: 50256 };

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

/** A row with the PyTorch peer's figure for the same task (same unit), when it ran. */
export interface TransformerBenchRow extends BenchRow {
  /** Rate at the best (fastest) call. */
  bestRate: number;
  peer?: number;
}

interface PeerResult {
  torch: string;
  threads: number;
  blas?: string;
  matmul: Record<string, number>;
  train: Record<string, number>;
  sample: Record<string, number>;
}

const PYTHON = '/usr/bin/python3';

/** Runs bench/pytorch_peer.py; null (with a note on stderr) when torch is not importable there. */
export function runPytorchPeer(threads: number): PeerResult | null {
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    console.error('pytorch peer: skipped (/usr/bin/python3 cannot import torch; apt-get install python3-torch)');
    return null;
  }
  const script = join(dirname(fileURLToPath(import.meta.url)), 'pytorch_peer.py');
  // OMP_WAIT_POLICY=PASSIVE: on a shared 2-core machine torch's spinning OpenMP barriers lose
  // their time slices and 2 threads ran ~2x slower than passive waiting (measured); passive is the
  // fairer peer. OPENBLAS_NUM_THREADS: Debian's torch calls the system libblas.so.3 (OpenBLAS when
  // libopenblas0-pthread is installed; the reference BLAS, ~40x slower, otherwise: see "blas").
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OMP_NUM_THREADS: String(threads),
    OPENBLAS_NUM_THREADS: String(threads),
    OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE',
  };
  // The issue's PyTorch figures were taken with jemalloc preloaded, as PyTorch's own benchmarks do.
  for (const lib of ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2'])
    if (existsSync(lib)) env.LD_PRELOAD = env.LD_PRELOAD ? `${env.LD_PRELOAD}:${lib}` : lib;
  const r = spawnSync(PYTHON, [script, '--threads', String(threads)], { env, encoding: 'utf8', timeout: 20 * 60_000, maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    console.error(`pytorch peer: failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').slice(-2000)}`);
    return null;
  }
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const res = JSON.parse(line) as PeerResult;
    console.error(`pytorch peer: torch ${res.torch}, ${res.threads} threads, BLAS ${res.blas ?? 'unknown'}`);
    return res;
  } catch {
    console.error(`pytorch peer: unreadable output: ${line.slice(0, 200)}`);
    return null;
  }
}

export async function transformerBench(threads: number[] = [2], withPeer = true): Promise<TransformerBenchRow[]> {
  const rows: TransformerBenchRow[] = [];
  const native = loadNative();
  for (const t of threads) {
    // The peer runs first, alone, so the two never share the cores.
    const peer = withPeer ? runPytorchPeer(t) : null;
    for (const n of [512, 2048]) {
      const sec = native.transformerMatmulSeconds(n, n, n, t, n === 512 ? 20 : 3);
      const flops = 2 * n * n * n;
      const rate = flops / sec / 1e9;
      rows.push({
        suite: 'transformer',
        task: `matmul ${n}³ (A·Bᵀ), ${t} thr`,
        meanMs: sec * 1e3,
        minMs: sec * 1e3,
        rate,
        bestRate: rate,
        unit: 'GFLOP/s',
        peer: peer?.matmul[String(n)],
      });
    }
    const bench = new Bench({ time: 3000, iterations: 2, warmupIterations: 1 });
    const units: Record<string, [number, string, number | undefined]> = {};
    const add = (name: string, work: number, unit: string, fn: () => Promise<unknown>, peerRate?: number) => {
      units[name] = [work, unit, peerRate];
      bench.add(name, fn);
    };
    const B = 16, T = 256;
    const configs = [
      ['S (h64 L8 H16 V4096)', S, 'S'],
      ['M (h128 L4 H8 V8192)', M, 'M'],
      ['TinyStories-1M (h64 L8 H16 V50257)', T1M, 'T1M'],
    ] as const;
    for (const [label, cfg, key] of configs) {
      const m = new Transformer({ ...cfg, threads: t });
      await m.init(1);
      const corpus = syntheticCorpus(cfg.vocabSize, B * T * 3 + 1);
      add(
        `train ${label}, batch 16×256, 3 steps, ${t} thr`,
        3 * B * T,
        'tokens/s',
        () => m.train(corpus, { steps: 3, batchSize: B, seqLen: T, lr: 1e-3 }),
        peer?.train[key],
      );
      if (cfg === S) {
        add(`sample ${label}, 64 seq × 256 tokens, ${t} thr`, 64 * 256, 'tokens/s', async () => {
          // random weights: EOS has p ≈ 1/V per token, so nearly every sequence runs to maxLength
          await m.sample({ sequences: 64, maxLength: 256, seed: 1 });
        }, peer?.sample.S_64x256);
        add(`sample ${label}, 1 seq × 256 tokens, ${t} thr`, 256, 'tokens/s', () => m.sample({ sequences: 1, maxLength: 256, seed: 1 }), peer?.sample.S_1x256);
      }
    }
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result as { latency?: { mean: number; min: number } };
      if (!r.latency) continue;
      const [work, unit, peerRate] = units[task.name]!;
      rows.push({
        suite: 'transformer',
        task: task.name,
        meanMs: r.latency.mean,
        minMs: r.latency.min,
        rate: (work / r.latency.mean) * 1000,
        bestRate: (work / r.latency.min) * 1000,
        unit,
        peer: peerRate,
      });
    }
  }
  return rows;
}

// `npx tsx bench/transformer.bench.ts` runs this suite alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const noPeer = process.argv.includes('--no-peer');
  const rows = await transformerBench([2], !noPeer);
  const { cpus, loadavg } = await import('node:os');
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}; load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const hasPeer = rows.some((r) => r.peer !== undefined);
  console.log(`| task | mean | best | rate (mean) | rate (best) |${hasPeer ? ' PyTorch | best / PyTorch |' : ''}`);
  console.log(`|---|---:|---:|---:|---:|${hasPeer ? '---:|---:|' : ''}`);
  for (const r of rows) {
    const peer = r.peer !== undefined ? ` ${r.peer.toFixed(1)} | ${(r.bestRate / r.peer).toFixed(2)}× |` : hasPeer ? ' – | – |' : '';
    console.log(`| ${r.task} | ${r.meanMs.toFixed(1)} ms | ${r.minMs.toFixed(1)} ms | ${r.rate.toFixed(1)} ${r.unit} | ${r.bestRate.toFixed(1)} ${r.unit} |${peer}`);
  }
}
