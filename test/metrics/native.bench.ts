/**
 * Timing script for the native metrics against their TS references on Brown (not a jest test:
 * tests never assert timings). Run with
 *   npx tsx test/metrics/native.bench.ts
 * D = the Brown train split of loadCorpus('brown'); S = a sample of D's size from an order-3
 * Kneser–Ney model fitted on D (as generation 0 of `collapse run`). Prints the median of 5 runs
 * of each metric, TS and native, and checks that both give the same results.
 */
import { isDeepStrictEqual } from 'node:util';
import { corpusPositions, loadCorpus } from '../../src/corpus/index.js';
import {
  diversity,
  diversityAsync,
  ngramSupport,
  ngramSupportAsync,
  supportStats,
  supportStatsAsync,
  tailRetention,
  tailRetentionAsync,
} from '../../src/metrics/index.js';
import { NGramModel } from '../../src/models/ngram.js';

async function time<T>(label: string, f: () => T | Promise<T>, reps = 5): Promise<T> {
  let out = await f();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    out = await f();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  console.log(`${label.padEnd(40)} median ${ts[reps >> 1]!.toFixed(1).padStart(8)} ms   min ${ts[0]!.toFixed(1).padStart(8)} ms`);
  return out;
}

const corpus = await loadCorpus('brown');
const D = corpus.train;
const model = new NGramModel({ order: 3, smoothing: 'kneser-ney', vocabSize: corpus.vocab.size });
await model.fit(D);
const S = await model.sample({ tokens: corpusPositions(D), maxLength: 256, seed: 1 });
console.log(`D: ${D.tokens.length} tokens, ${D.offsets.length - 1} sequences; S: ${S.tokens.length} tokens, ${S.offsets.length - 1} sequences; V = ${corpus.vocab.size}`);

const refTs = await time('ngramSupport(D)            TS', () => ngramSupport(D));
const refNative = await time('ngramSupportAsync(D)       native', () => ngramSupportAsync(D));
const a = await time('supportStats(S, supD)      TS', () => supportStats(S, refTs));
const b = await time('supportStatsAsync(S, supD) native', () => supportStatsAsync(S, refNative));
const c = await time('diversity(S)               TS', () => diversity(S));
const d = await time('diversityAsync(S)          native', () => diversityAsync(S));
const e = await time('tailRetention(S, D)        TS', () => tailRetention(S, D));
const f = await time('tailRetentionAsync(S, D)   native', () => tailRetentionAsync(S, D));
await time('all three per generation    native', () => Promise.all([supportStatsAsync(S, refNative), diversityAsync(S), tailRetentionAsync(S, D)]));
await time('all three, threads 1        native', () =>
  Promise.all([supportStatsAsync(S, refNative, { threads: 1 }), diversityAsync(S, { threads: 1 }), tailRetentionAsync(S, D)]),
);
console.log('equal:', { support: isDeepStrictEqual(a, b), diversity: isDeepStrictEqual(c, d), tail: isDeepStrictEqual(e, f) });
console.log(b, d);
