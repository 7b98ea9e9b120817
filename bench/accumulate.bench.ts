/**
 * Accumulate's refits: T_0 = D (all of Brown), T_{k+1} = T_k + S_k with S_k sampled from M_k (|D|
 * positions), ten fits as in the default run. "incremental": one model refitted on each T_k (fit()
 * sees the extension and merges counts); "full": a fresh model per T_k (every position counted).
 * Reported in CPU time of this process (user + system, best of `reps`), which a shared machine
 * disturbs less than wall time; the models are checked equal (saved bytes) on the last T_k.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { concatCorpora, NGramModel, type Corpus } from '../src/index.js';
import { allOfBrown } from './brown.js';

export interface AccumulateRow {
  task: string;
  cpuS: number;
  wallS: number;
}

export async function accumulateBench(generations = 10, reps = 2, threads = 1): Promise<AccumulateRow[]> {
  const { corpus, vocabSize } = await allOfBrown();
  const D: Corpus = { tokens: corpus.tokens, offsets: corpus.offsets, provenance: new Int32Array(corpus.offsets.length - 1) };
  const positions = D.tokens.length + D.offsets.length - 1;
  // The training sets, built once (sampling is not what is timed).
  const sets: Corpus[] = [D];
  const m0 = new NGramModel({ order: 3, vocabSize, threads: 2 });
  for (let k = 1; k < generations; k++) {
    await m0.fit(sets[k - 1]!);
    const s = await m0.sample({ tokens: positions, maxLength: 256, seed: k });
    sets.push(concatCorpora([sets[k - 1]!, { ...s, provenance: new Int32Array(s.offsets.length - 1).fill(k) }]));
  }
  const rows: AccumulateRow[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'collapse-acc-'));
  try {
    const last: Buffer[] = [];
    for (const mode of ['full', 'incremental'] as const) {
      let best: AccumulateRow | null = null;
      for (let r = 0; r < reps; r++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        let m = new NGramModel({ order: 3, vocabSize, threads });
        for (const T of sets) {
          if (mode === 'full') m = new NGramModel({ order: 3, vocabSize, threads });
          await m.fit(T);
        }
        const c = process.cpuUsage(c0);
        const row = { task: `Accumulate's ${generations} fits (T_k up to ${generations}|D|), ${mode}, ${threads} thr`, cpuS: (c.user + c.system) / 1e6, wallS: (performance.now() - t0) / 1000 };
        if (!best || row.cpuS < best.cpuS) best = row;
        if (r === 0) {
          await m.save(join(dir, mode));
          last.push(await readFile(join(dir, mode)));
        }
      }
      rows.push(best!);
    }
    if (!last[0]!.equals(last[1]!)) throw new Error('incremental and full fits differ');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}
