// A consumer's strict TypeScript program over collapse-lab's public API (test/package/consumer.mjs
// type-checks it in a fresh project that installed the packed tarball, then runs it).
import { loadCorpus, NGramModel, Transformer, nativeBinary, type NativeBinary, type TokenCorpus, type EvaluateResult } from 'collapse-lab';

const { vocab, train, test } = await loadCorpus('brown');
const heldOut: TokenCorpus = test;
const lm = new NGramModel({ order: 3, smoothing: 'kneser-ney', vocabSize: vocab.size });
await lm.fit(train);
const result: EvaluateResult = await lm.evaluate(heldOut);

// The types are real, not `any`: each marked line must be a type error (never called).
export function typeErrors(): void {
  // @ts-expect-error: 'witten-bell' is not one of the smoothing methods
  new NGramModel({ order: 3, smoothing: 'witten-bell', vocabSize: vocab.size });
  // @ts-expect-error: perplexity is a number
  const notAString: string = result.perplexity;
  void notAString;
}

const binary: NativeBinary = nativeBinary();
// Which kernels the loaded binary picked at run time (AVX2 where the CPU has it, else generic).
const tiny = new Transformer({ vocabSize: 16, contextLength: 8, hidden: 16, layers: 1, heads: 1, window: 8 });
console.log(JSON.stringify({ perplexity: result.perplexity, positions: result.positions, binary, avx2: tiny.info().avx2 }));
