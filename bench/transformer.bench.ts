/**
 * GPT-Neo engine benchmarks (float32, CPU): training tokens/s for two small configurations at batch
 * 16 × 256, KV-cache sampling tokens/s (64 sequences × 256 tokens at once, and one sequence), and
 * matmul GFLOP/s at 512³ and 2048³. Synthetic token data: speed does not depend on the text.
 *
 * When Debian's PyTorch is importable by /usr/bin/python3, bench/pytorch_peer.py runs the same
 * models, batch, optimizer and sampling loop in torch (same thread count, tuned: see peerEnv),
 * interleaved with the engine's tasks round by round (`--rounds=N`, default 3), and each row gets
 * the peer's best round and the ratio; otherwise those columns are left out.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  /** The PyTorch peer's best round, same unit. */
  peer?: number;
  /** The 1-minute load average's range over the rounds. */
  load?: [number, number];
}

interface PeerResult {
  torch: string;
  threads: number;
  blas?: string;
  /** OpenBLAS's kernel (openblas_get_corename), e.g. "Cooperlake", "SkylakeX", "Zen". */
  blasCore?: string;
  matmul: Record<string, number>;
  train: Record<string, number>;
  sample: Record<string, number>;
}

const PYTHON = '/usr/bin/python3';
const LIBDIR = '/usr/lib/x86_64-linux-gnu';

/**
 * The tuned PyTorch peer's environment (README, "The PyTorch peer": what was measured for each
 * choice, on the Zen 4 EPYC here and, by the transformer issue, on an AVX-512 Xeon):
 * - OpenMP OpenBLAS (libopenblas0-openmp), chosen for this process alone through LD_LIBRARY_PATH:
 *   torch's ops already run on OpenMP threads, and Debian's default pthread OpenBLAS adds its own
 *   pool beside them (4 busy threads on 2 cores); the OpenMP build shares torch's threads.
 * - OpenBLAS's own core detection, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE removed (some
 *   machines here preset them for older OpenBLAS builds, which forces slower kernels); the kernel
 *   it picks is reported (blasCore). PEER_OPENBLAS_CORETYPE forces one (e.g. SKYLAKEX).
 * - OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = torch.set_num_threads = `threads` (no oversubscription).
 * - jemalloc preloaded (as PyTorch's own CPU benchmarks do).
 * - OMP_WAIT_POLICY=PASSIVE unless set: on a shared machine spinning barriers lose their time
 *   slices (2 threads ran ~2× slower spinning); PEER_OMP_WAIT_POLICY=ACTIVE for a quiet machine.
 */
export function peerEnv(threads: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  if (process.env.PEER_OPENBLAS_CORETYPE) env.OPENBLAS_CORETYPE = process.env.PEER_OPENBLAS_CORETYPE;
  const openmp = `${LIBDIR}/openblas-openmp`;
  if (existsSync(`${openmp}/libblas.so.3`)) env.LD_LIBRARY_PATH = env.LD_LIBRARY_PATH ? `${openmp}:${env.LD_LIBRARY_PATH}` : openmp;
  env.OMP_NUM_THREADS = String(threads);
  env.OPENBLAS_NUM_THREADS = String(threads);
  env.OMP_WAIT_POLICY = process.env.PEER_OMP_WAIT_POLICY ?? 'PASSIVE';
  for (const lib of [`${LIBDIR}/libjemalloc.so.2`, '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2'])
    if (existsSync(lib)) env.LD_PRELOAD = env.LD_PRELOAD ? `${env.LD_PRELOAD}:${lib}` : lib;
  return env;
}

/** Runs bench/pytorch_peer.py (tuned: peerEnv); null (with a note on stderr) when torch is not importable there. */
export function runPytorchPeer(threads: number, quick = false): PeerResult | null {
  if (!existsSync(PYTHON) || spawnSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) {
    console.error('pytorch peer: skipped (/usr/bin/python3 cannot import torch; apt-get install python3-torch)');
    return null;
  }
  const script = join(dirname(fileURLToPath(import.meta.url)), 'pytorch_peer.py');
  const argv = [script, '--threads', String(threads), ...(quick ? ['--quick'] : [])];
  const r = spawnSync(PYTHON, argv, { env: peerEnv(threads), encoding: 'utf8', timeout: 20 * 60_000, maxBuffer: 1 << 20 });
  if (r.status !== 0) {
    console.error(`pytorch peer: failed (${r.error?.message ?? `exit ${r.status}`}): ${(r.stderr ?? '').slice(-2000)}`);
    return null;
  }
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    const res = JSON.parse(line) as PeerResult;
    console.error(`pytorch peer: torch ${res.torch}, ${res.threads} threads, BLAS ${res.blas ?? 'unknown'} (kernel ${res.blasCore ?? 'unknown'})`);
    return res;
  } catch {
    console.error(`pytorch peer: unreadable output: ${line.slice(0, 200)}`);
    return null;
  }
}

const load1 = () => loadavg()[0]!;

/**
 * Engine and peer, interleaved: `rounds` rounds, each the peer (one process, --quick) and then
 * every engine task once, so both see the same load on a shared machine; each row reports the best
 * round of each (and the engine's mean over rounds). The load average is logged at every round.
 */
export async function transformerBench(threads: number[] = [2], withPeer = true, rounds = 3): Promise<TransformerBenchRow[]> {
  const rows: TransformerBenchRow[] = [];
  const native = loadNative();
  for (const t of threads) {
    const B = 16, T = 256;
    const configs = [
      ['S (h64 L8 H16 V4096)', S, 'S'],
      ['M (h128 L4 H8 V8192)', M, 'M'],
      ['TinyStories-1M (h64 L8 H16 V50257)', T1M, 'T1M'],
    ] as const;
    interface Task {
      name: string;
      work: number;
      unit: string;
      run: () => Promise<number>; // seconds
      peer: (p: PeerResult) => number | undefined;
      secs: number[];
      peers: number[];
    }
    const tasks: Task[] = [];
    const timed = async (fn: () => Promise<unknown> | unknown) => {
      const t0 = performance.now();
      await fn();
      return (performance.now() - t0) / 1000;
    };
    for (const n of [512, 2048])
      tasks.push({
        name: `matmul ${n}³ (A·Bᵀ), ${t} thr`,
        work: 2 * n * n * n * 1e-9,
        unit: 'GFLOP/s',
        run: async () => native.transformerMatmulSeconds(n, n, n, t, n === 512 ? 10 : 2),
        peer: (p) => p.matmul[String(n)],
        secs: [],
        peers: [],
      });
    for (const [label, cfg, key] of configs) {
      const m = new Transformer({ ...cfg, threads: t });
      await m.init(1);
      const corpus = syntheticCorpus(cfg.vocabSize, B * T * 3 + 1);
      await m.train(corpus, { steps: 1, batchSize: B, seqLen: T, lr: 1e-3 }); // warm-up
      tasks.push({
        name: `train ${label}, batch 16×256, 3 steps, ${t} thr`,
        work: 3 * B * T,
        unit: 'tokens/s',
        run: () => timed(() => m.train(corpus, { steps: 3, batchSize: B, seqLen: T, lr: 1e-3 })),
        peer: (p) => p.train[key],
        secs: [],
        peers: [],
      });
      if (cfg === S) {
        // random weights: EOS has p ≈ 1/V per token, so nearly every sequence runs to maxLength
        tasks.push({
          name: `sample ${label}, 64 seq × 256 tokens, ${t} thr`,
          work: 64 * 256,
          unit: 'tokens/s',
          run: () => timed(() => m.sample({ sequences: 64, maxLength: 256, seed: 1 })),
          peer: (p) => p.sample.S_64x256,
          secs: [],
          peers: [],
        });
        tasks.push({
          name: `sample ${label}, 1 seq × 256 tokens, ${t} thr`,
          work: 256,
          unit: 'tokens/s',
          run: async () => Math.min(await timed(() => m.sample({ sequences: 1, maxLength: 256, seed: 1 })), await timed(() => m.sample({ sequences: 1, maxLength: 256, seed: 1 }))),
          peer: (p) => p.sample.S_1x256,
          secs: [],
          peers: [],
        });
      }
    }
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      loads.push(load1());
      const peer = withPeer ? runPytorchPeer(t, true) : null;
      for (const task of tasks) {
        const p = peer ? task.peer(peer) : undefined;
        if (p !== undefined) task.peers.push(p);
        task.secs.push(await task.run());
      }
      loads.push(load1());
      console.error(`round ${r + 1}/${rounds}: load average ${loads[loads.length - 2]!.toFixed(1)} → ${loads[loads.length - 1]!.toFixed(1)}`);
    }
    for (const task of tasks) {
      const best = Math.min(...task.secs);
      const mean = task.secs.reduce((a, b) => a + b, 0) / task.secs.length;
      rows.push({
        suite: 'transformer',
        task: task.name,
        meanMs: mean * 1e3,
        minMs: best * 1e3,
        rate: task.work / mean,
        bestRate: task.work / best,
        unit: task.unit,
        peer: task.peers.length ? Math.max(...task.peers) : undefined,
        load: [Math.min(...loads), Math.max(...loads)],
      });
    }
  }
  return rows;
}

// `npx tsx bench/transformer.bench.ts` runs this suite alone.
if (import.meta.url === `file://${process.argv[1]}`) {
  const noPeer = process.argv.includes('--no-peer');
  const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
  const rows = await transformerBench([2], !noPeer, roundsArg ? Math.max(1, Number(roundsArg.slice(9)) | 0) : 3);
  const { cpus } = await import('node:os');
  const isa = new Transformer({ ...S, threads: 1 }).info().isa;
  console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, kernels ${isa}; load average over the rounds ${rows[0]?.load?.map((x) => x.toFixed(1)).join('–') ?? '?'}`);
  const hasPeer = rows.some((r) => r.peer !== undefined);
  console.log(`| task | mean | best | rate (mean) | rate (best) |${hasPeer ? ' PyTorch | best / PyTorch |' : ''}`);
  console.log(`|---|---:|---:|---:|---:|${hasPeer ? '---:|---:|' : ''}`);
  for (const r of rows) {
    const peer = r.peer !== undefined ? ` ${r.peer.toFixed(1)} | ${(r.bestRate / r.peer).toFixed(2)}× |` : hasPeer ? ' – | – |' : '';
    console.log(`| ${r.task} | ${r.meanMs.toFixed(1)} ms | ${r.minMs.toFixed(1)} ms | ${r.rate.toFixed(1)} ${r.unit} | ${r.bestRate.toFixed(1)} ${r.unit} |${peer}`);
  }
}
