/**
 * The native metrics (src/metrics/native-metrics.ts, native/stats) against their TS references:
 * every field equal (Object.is, so doubles bit for bit), on hand-worked, random and Brown-sized
 * corpora, including empty sequences, ids ≥ 2^21 (the packed keys' fallback), non-default BOS/EOS
 * ids and thread counts.
 */
import { describe, expect, it } from '@jest/globals';
import { loadCorpus } from '../../src/corpus/index.js';
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
import type { TokenCorpus } from '../../src/models/types.js';
import { loadNative } from '../../src/native.js';
import { corpusOf, randomCorpus, rng } from './helpers.js';

const code = (c: string) => expect.objectContaining({ code: c }) as unknown as Error;

// Ids small enough for every packing, and ones that are not: ≥ 2^16 (order 4), ≥ 2^21 (order 3),
// up to 2^32 − 1.
const SMALL = Array.from({ length: 40 }, (_, i) => i);
const LARGE = [...SMALL.slice(0, 12), 2 ** 16, 2 ** 16 + 1, 2 ** 21 - 1, 2 ** 21, 2 ** 21 + 3, 2 ** 26 + 5, 2 ** 32 - 2, 2 ** 32 - 1];

async function expectSameSupport(S: TokenCorpus, D: TokenCorpus, opts: { orders?: number[]; bos?: number; eos?: number }) {
  const want = supportStats(S, D, opts);
  expect(await supportStatsAsync(S, D, opts)).toStrictEqual(want);
  const ref = await ngramSupportAsync(D, opts);
  const tsRef = ngramSupport(D, opts);
  expect(ref.positions).toBe(tsRef.positions);
  expect(ref.sizes).toStrictEqual(tsRef.tables.map((t) => t.size));
  expect(await supportStatsAsync(S, ref, { threads: 1 })).toStrictEqual(want);
  expect(await supportStatsAsync(S, ref, { threads: 2 })).toStrictEqual(want);
}

async function expectSameDiversity(S: TokenCorpus) {
  const want = diversity(S);
  expect(await diversityAsync(S, { threads: 1 })).toStrictEqual(want);
  expect(await diversityAsync(S, { threads: 3 })).toStrictEqual(want);
}

describe('native support statistics', () => {
  // The hand-worked example of support.test.ts.
  const D = corpusOf([[3, 4, 3], [3, 4]]);
  const S = corpusOf([[3, 5], [3, 4]]);

  it('hand-computed distinct counts of orders 1–3', async () => {
    expect(await supportStatsAsync(S, D)).toStrictEqual([
      { order: 1, sample: 4, reference: 3, both: 3, novel: 1, coverage: 1 },
      { order: 2, sample: 5, reference: 5, both: 3, novel: 2, coverage: 3 / 5 },
      { order: 3, sample: 5, reference: 5, both: 3, novel: 2, coverage: 3 / 5 },
    ]);
    const ref = await ngramSupportAsync(D);
    expect(ref).toMatchObject({ kind: 'native-ngram-support', orders: [1, 2, 3], bos: 1, eos: 2, positions: 7, sizes: [3, 5, 5] });
  });

  it('equals supportStats on random corpora: small and large ids, several orders, BOS/EOS ids', async () => {
    const cases: { ids: number[]; orders?: number[]; bos?: number; eos?: number }[] = [
      { ids: SMALL },
      { ids: SMALL, orders: [3, 1], bos: 7, eos: 0 },
      { ids: LARGE },
      { ids: LARGE, orders: [1, 2, 3, 4, 5], bos: 2 ** 21, eos: 2 ** 32 - 1 },
      { ids: SMALL, orders: [4, 6, 16], bos: 0, eos: 39 },
      { ids: [5, 6], orders: [2, 3], bos: 5, eos: 6 }, // BOS/EOS equal to token ids
    ];
    for (const [k, c] of cases.entries()) {
      for (let seed = 1; seed <= 3; seed++) {
        const D = corpusOf(randomCorpus(100 * k + seed, 60, 12, c.ids));
        const S = corpusOf(randomCorpus(100 * k + seed + 50, 50, 12, c.ids));
        const opts = { orders: c.orders, bos: c.bos, eos: c.eos };
        await expectSameSupport(S, D, opts);
        await expectSameSupport(D, D, opts);
      }
    }
  });

  it('empty corpora, empty sequences and a sample with no ids of the reference', async () => {
    const empty = corpusOf([]);
    const blanks = corpusOf([[], [], []]);
    const other = corpusOf([[100, 101], [], [2 ** 30]]);
    for (const [s, d] of [
      [empty, D],
      [D, empty],
      [empty, empty],
      [blanks, D],
      [D, blanks],
      [other, D],
      [blanks, blanks],
    ] as const) {
      await expectSameSupport(s, d, {});
    }
  });

  it('large random corpus: many keys through the radix sort, packed and wide', async () => {
    const r = rng(7);
    const ids = Array.from({ length: 3000 }, (_, i) => (i % 50 === 0 ? 2 ** 21 + i : i));
    const seqs = Array.from({ length: 3000 }, () => Array.from({ length: Math.floor(r() * 40) }, () => ids[Math.floor(r() * r() * ids.length)]!));
    const D = corpusOf(seqs.slice(0, 2000));
    const S = corpusOf(seqs.slice(1000));
    await expectSameSupport(S, D, {});
    await expectSameSupport(S, D, { orders: [2, 4], bos: 9, eos: 2 ** 21 + 50 });
  });

  it('rejects bad input with a code', async () => {
    const ref = await ngramSupportAsync(D);
    await expect(supportStatsAsync(S, ref, { orders: [1, 2] })).rejects.toThrow(code('E_BAD_ARGUMENT'));
    await expect(supportStatsAsync(S, ref, { bos: 3 })).rejects.toThrow(code('E_BAD_ARGUMENT'));
    await expect(ngramSupportAsync(D, { orders: [2, 2] })).rejects.toThrow(code('E_BAD_ARGUMENT'));
    await expect(ngramSupportAsync(D, { orders: [0] })).rejects.toThrow(code('E_BAD_ARGUMENT'));
    await expect(ngramSupportAsync(D, { threads: 0 })).rejects.toThrow(code('E_BAD_ARGUMENT'));
    const bad = { tokens: new Uint32Array([1, 2]), offsets: new Uint32Array([0, 3]) };
    await expect(supportStatsAsync(bad, ref)).rejects.toThrow(code('E_OFFSETS'));
    // The raw surface checks too: a forged handle, a bad corpus that skipped the TS checks.
    const raw = loadNative().stats;
    await expect(
      (async () => raw.supportCompare(S.tokens, S.offsets, {} as never))(),
    ).rejects.toThrow(code('E_BAD_ARGUMENT'));
    await expect(raw.supportCompare(bad.tokens, bad.offsets, ref.handle)).rejects.toThrow(code('E_OFFSETS'));
    await expect(raw.diversity(bad.tokens, new Uint32Array([1, 2]))).rejects.toThrow(code('E_OFFSETS'));
  });
});

describe('native diversity', () => {
  it('equals diversity on hand-made, edge-case and random corpora', async () => {
    const cases: number[][][] = [
      [],
      [[]],
      [[], [], []],
      [[5]],
      [[5, 5, 5, 5]],
      [[3, 4, 5], [3, 4, 5], [3, 4], [], [], [3, 4, 5, 6]],
      [[2 ** 32 - 1, 2 ** 21, 2 ** 21, 7], [2 ** 32 - 1, 2 ** 21, 2 ** 21, 7], [2 ** 21 + 1]],
    ];
    for (const seqs of cases) await expectSameDiversity(corpusOf(seqs));
    for (let seed = 1; seed <= 6; seed++) {
      const ids = seed % 2 ? SMALL : LARGE;
      const seqs = randomCorpus(seed, 80, 6, ids);
      // Add exact copies so repeats are frequent.
      const withCopies = [...seqs, ...seqs.filter((_, i) => i % 3 === 0), [], []];
      await expectSameDiversity(corpusOf(withCopies));
    }
  });

  it('sparse huge ids take the sorting path of the type counts', async () => {
    const r = rng(3);
    const seqs = Array.from({ length: 200 }, () => Array.from({ length: 5 }, () => Math.floor(r() * 1000) * 4000000));
    await expectSameDiversity(corpusOf(seqs));
  });
});

describe('native tail retention', () => {
  it('equals tailRetention over quantiles, exclusions and ties', async () => {
    for (let seed = 1; seed <= 5; seed++) {
      const ids = seed % 2 ? SMALL : LARGE;
      const D = corpusOf(randomCorpus(seed, 80, 10, ids));
      const S = corpusOf(randomCorpus(seed + 9, 30, 10, ids));
      for (const options of [{}, { quantile: 0.1 }, { quantile: 1 }, { quantile: 0.5, exclude: [0, 3, 2 ** 21, -1, 2.5] }]) {
        expect(await tailRetentionAsync(S, D, options)).toStrictEqual(tailRetention(S, D, options));
      }
    }
  });

  it('rejects an empty reference and a bad quantile', async () => {
    const S = corpusOf([[1, 2]]);
    await expect(tailRetentionAsync(S, corpusOf([[], []]))).rejects.toThrow(code('E_CORPUS_EMPTY'));
    await expect(tailRetentionAsync(S, corpusOf([[4]]), { exclude: [4] })).rejects.toThrow(code('E_CORPUS_EMPTY'));
    await expect(tailRetentionAsync(S, S, { quantile: 0 })).rejects.toThrow(code('E_BAD_ARGUMENT'));
  });
});

describe('Brown-sized data', () => {
  it('native and TS agree on D = Brown train and a perturbed resample of it (timings logged, not asserted)', async () => {
    const D = (await loadCorpus('brown')).train;
    // S: D's sequences in a random order, some tokens replaced, some sequences repeated — a
    // stand-in for a generated sample of the same size.
    const r = rng(11);
    const nseq = D.offsets.length - 1;
    const seqs: number[][] = [];
    let n = 0;
    while (n < D.tokens.length) {
      const i = Math.floor(r() * nseq);
      const s = Array.from(D.tokens.subarray(D.offsets[i]!, D.offsets[i + 1]!));
      for (let j = 0; j < s.length; j++) if (r() < 0.1) s[j] = s[Math.floor(r() * s.length)]!;
      seqs.push(s);
      n += s.length;
    }
    const S = corpusOf(seqs);
    const t = (label: string, t0: number) => `${label} ${(performance.now() - t0).toFixed(0)} ms`;
    const log: string[] = [];
    let t0 = performance.now();
    const refTs = ngramSupport(D);
    log.push(t('ngramSupport', t0));
    t0 = performance.now();
    const refNative = await ngramSupportAsync(D);
    log.push(t('ngramSupportAsync', t0));
    t0 = performance.now();
    const a = supportStats(S, refTs);
    log.push(t('supportStats', t0));
    t0 = performance.now();
    const b = await supportStatsAsync(S, refNative);
    log.push(t('supportStatsAsync', t0));
    t0 = performance.now();
    const c = diversity(S);
    log.push(t('diversity', t0));
    t0 = performance.now();
    const d = await diversityAsync(S);
    log.push(t('diversityAsync', t0));
    t0 = performance.now();
    const e = tailRetention(S, D);
    log.push(t('tailRetention', t0));
    t0 = performance.now();
    const f = await tailRetentionAsync(S, D);
    log.push(t('tailRetentionAsync', t0));
    console.log(`Brown (${D.tokens.length} / ${S.tokens.length} tokens): ${log.join(', ')}`);
    expect(b).toStrictEqual(a);
    expect(d).toStrictEqual(c);
    expect(f).toStrictEqual(e);
  });
});
