/**
 * n-gram engine benchmarks on all of Brown (~1.16M tokens): counting + KN estimation (fit), scoring,
 * exact sampling, transformed sampling (temperature / top-k) and dense conditionals.
 */
import { Bench } from 'tinybench';
import { NGramModel } from '../src/index.js';
import { allOfBrown } from './brown.js';

export interface BenchRow {
  suite: string;
  task: string;
  /** Mean and best wall time per call, ms. */
  meanMs: number;
  minMs: number;
  /** Work units per second at the mean, with the unit name. */
  rate: number;
  unit: string;
}

export async function ngramBench(threads: number[] = [1, 2]): Promise<BenchRow[]> {
  const { corpus, vocabSize } = await allOfBrown();
  const positions = corpus.tokens.length + corpus.offsets.length - 1;
  const rows: BenchRow[] = [];
  for (const t of threads) {
    const lm = new NGramModel({ order: 3, smoothing: 'kneser-ney', vocabSize, threads: t });
    await lm.fit(corpus);
    const ctx = corpus.tokens.subarray(1000, 1000 + 2 * 1000); // 1000 contexts of width 2
    const bench = new Bench({ time: 2000, iterations: 3, warmupIterations: 1 });
    const units: Record<string, [number, string]> = {};
    const add = (name: string, work: number, unit: string, fn: () => Promise<unknown>) => {
      units[name] = [work, unit];
      bench.add(name, fn);
    };
    add(`fit KN trigram (count + estimate), ${t} thr`, positions, 'tokens/s', () => lm.fit(corpus));
    add(`evaluate (score all of Brown), ${t} thr`, positions, 'tokens/s', () => lm.evaluate(corpus));
    add(`sample 1.16M tokens, T=1 exact, ${t} thr`, positions, 'tokens/s', () => lm.sample({ tokens: positions, maxLength: 256, seed: 1 }));
    // A generation's worth (1.16M tokens) for the temperature path: its tables cost one pass over the
    // n-grams per call, paid once per generation in an experiment; top-k's row cache holds a
    // generation's contexts. top-p on less (slow path).
    add(`sample 1.16M tokens, T=0.8, ${t} thr`, positions, 'tokens/s', () => lm.sample({ tokens: positions, maxLength: 256, seed: 1, temperature: 0.8 }));
    add(`sample 1.16M tokens, top-k 50, ${t} thr`, positions, 'tokens/s', () => lm.sample({ tokens: positions, maxLength: 256, seed: 1, topK: 50 }));
    add(`sample 10k tokens, top-p 0.9, ${t} thr`, 10_000, 'tokens/s', () => lm.sample({ tokens: 10_000, maxLength: 256, seed: 1, topP: 0.9 }));
    add(`conditional 1000 rows × |V|, ${t} thr`, 1000, 'rows/s', () => lm.conditional(ctx));
    await bench.run();
    for (const task of bench.tasks) {
      const r = task.result as { latency?: { mean: number; min: number } };
      if (!r.latency) continue;
      const [work, unit] = units[task.name]!;
      rows.push({ suite: 'ngram', task: task.name, meanMs: r.latency.mean, minMs: r.latency.min, rate: (work / r.latency.mean) * 1000, unit });
    }
    if (t === threads[0]) {
      for (const order of [3, 5]) {
        const m = order === 3 ? lm : new NGramModel({ order, smoothing: 'kneser-ney', vocabSize, threads: t });
        if (order !== 3) await m.fit(corpus);
        const info = m.info();
        const ngrams = info.ngrams!.reduce((a, b) => a + b, 0);
        rows.push({ suite: 'ngram', task: `model memory: ${ngrams} n-grams (orders 1–${order})`, meanMs: 0, minMs: 0, rate: info.bytes! / ngrams, unit: 'bytes/n-gram' });
      }
    }
  }
  return rows;
}
