/**
 * Fuzzing NGramModel.load: mutated model files load or fail with a CollapseError (E_BAD_MODEL_FILE),
 * never crash or hang. Two properties: raw mutations (the file's checksum rejects nearly all of
 * them), and mutations re-sealed with a recomputed checksum, which reach the structural checks
 * behind it; a model that loads anyway is then used (evaluate, sample), which must not crash either.
 */
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { NGramModel } from '../../src/models/ngram.js';
import { loadOrCollapse, mutate, mutationsArb, params, RUNS, timeoutFor } from './fuzz-helpers.js';

const M64 = (1n << 64n) - 1n;
function mix64(z: bigint): bigint {
  z = (z + 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}
/** The file checksum of native/ngram/io.cc, written again here (BigInt) to re-seal mutated files. */
function checksum(d: Buffer, n: number): bigint {
  let h = 0x636f6c6c61707365n;
  let i = 0;
  for (; i + 8 <= n; i += 8) h = mix64(h ^ d.readBigUInt64LE(i));
  let tail = 0n;
  for (let j = 0; j < n - i; j++) tail |= BigInt(d[i + j]!) << BigInt(8 * j);
  return mix64(h ^ tail ^ ((BigInt(n) << 56n) & M64));
}
function reseal(body: Buffer): Buffer {
  const out = Buffer.alloc(body.length + 8);
  body.copy(out);
  out.writeBigUInt64LE(checksum(out, body.length), body.length);
  return out;
}

let dir: string;
const models: Buffer[] = [];
const probe = { tokens: Uint32Array.of(3, 4, 5, 6, 3, 8), offsets: Uint32Array.of(0, 4, 6) };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'collapse-fuzz-ngram-'));
  const corpus = { tokens: Uint32Array.of(3, 4, 5, 3, 4, 6, 3, 4, 7, 5, 5, 6, 8), offsets: Uint32Array.of(0, 5, 9, 13) };
  for (const [order, smoothing] of [[1, 'mle'], [2, 'add-k'], [3, 'kneser-ney']] as const) {
    const m = new NGramModel({ order, smoothing, vocabSize: 9, threads: 1 });
    await m.fit(corpus);
    const p = join(dir, `m${order}.bin`);
    await m.save(p);
    models.push(readFileSync(p));
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
async function tryLoad(bytes: Buffer, use: boolean): Promise<string> {
  const p = join(dir, `case-${n++}.bin`);
  writeFileSync(p, bytes);
  try {
    return await loadOrCollapse('NGramModel.load', async () => {
      const m = await NGramModel.load(p, { threads: 1 });
      if (use) {
        await m.evaluate(probe).catch((e: unknown) => {
          throw e;
        });
        await m.sample({ sequences: 2, maxLength: 8, seed: 1 });
      }
    });
  } finally {
    rmSync(p, { force: true });
  }
}

test('the re-sealing checksum is the engine\'s (a valid file re-sealed is unchanged)', () => {
  for (const b of models) expect(reseal(b.subarray(0, b.length - 8)).equals(b)).toBe(true);
});

test(
  'raw mutations: load or E_BAD_MODEL_FILE',
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), mutationsArb(), async (which, ms) => {
        const code = await tryLoad(mutate(models[which]!, ms), false);
        expect(['ok', 'E_BAD_MODEL_FILE']).toContain(code);
      }),
      params(),
    );
  },
  timeoutFor(RUNS, 50),
);

test(
  're-sealed mutations reach the structural checks: load (and then evaluate and sample) or a CollapseError',
  async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 2 }), mutationsArb(3), async (which, ms) => {
        const b = models[which]!;
        await tryLoad(reseal(mutate(b.subarray(0, b.length - 8), ms)), true);
      }),
      params(RUNS * 2),
    );
  },
  timeoutFor(RUNS * 2, 100),
);

// Found by the fuzzer: a loaded order-1 model had no level-1 suffixes, and sampling it read an
// empty vector (SIGSEGV). A loaded model samples exactly what the fitted one samples.
test('every order, saved and loaded, samples what the fitted model samples', async () => {
  const corpus = { tokens: Uint32Array.of(3, 4, 5, 3, 4, 6, 3, 4, 7, 5, 5, 6, 8), offsets: Uint32Array.of(0, 5, 9, 13) };
  for (const order of [1, 2, 3, 4]) {
    const m = new NGramModel({ order, vocabSize: 9, threads: 1 });
    await m.fit(corpus);
    const p = join(dir, `roundtrip-${order}.bin`);
    await m.save(p);
    const back = await NGramModel.load(p, { threads: 1 });
    for (const opts of [{ sequences: 5, maxLength: 12, seed: 3 }, { tokens: 40, maxLength: 6, seed: 4 }]) {
      const a = await m.sample(opts);
      const b = await back.sample(opts);
      expect(Array.from(b.tokens)).toEqual(Array.from(a.tokens));
      expect(Array.from(b.offsets)).toEqual(Array.from(a.offsets));
    }
  }
});
