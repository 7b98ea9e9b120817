/**
 * The n-gram driver: the corpus's word ids as they are, one NGramModel per paradigm refitted on
 * each T_n, TV / KL against p0 = emp_D on the probe contexts, and the error accounting of
 * docs/theory.md (`theory: true`).
 */
import { CollapseError } from '../../errors.js';
import { empiricalRows, sparseRows, type SparseRows } from '../../metrics/index.js';
import { NGramModel } from '../../models/ngram.js';
import { paradigm, type ParadigmName } from '../../paradigms/index.js';
import { AccountingCheck, modelRows, NativeTheoryTracker } from '../../theory/index.js';
import type { NgramModelConfig } from '../config.js';
import { coveredPerplexity } from '../measure.js';
import type { ModelDriver, ParadigmModel, RunContext } from './types.js';

const ngramOf = (m: { kind: string }) => m as NgramModelConfig;

export const ngramDriver: ModelDriver = {
  kind: 'ngram',
  csvColumns: [],
  concurrentParadigms: true,
  loadOptions: () => ({}),
  tokenise: (corpus) => ({
    train: corpus.train,
    test: corpus.test,
    vocabSize: corpus.vocab.size,
    bos: corpus.vocab.bos,
    eos: corpus.vocab.eos,
    passMarkers: false,
    decode: (ids) => corpus.vocab.decode(ids).join(' '),
  }),
  // Order k+1 has contexts of k tokens; order 1 has one, empty context (width 0).
  probeWidth: (config) => ngramOf(config.model).order - 1,
  memoryShape: (config) => ({ kind: 'ngram', order: ngramOf(config.model).order }),
  describe: (config) => {
    const m = ngramOf(config.model);
    return `ngram order ${m.order} ${m.smoothing}`;
  },
  tvTitle: 'Total variation from p0 = emp_D on the probe contexts',
  async open(ctx: RunContext) {
    // p0 = emp_D on the probe contexts, shared by every paradigm.
    const p0 = sparseRows(empiricalRows(ctx.D, ctx.probes.contexts, ctx.width, ctx.tokens.vocabSize).rows, ctx.tokens.vocabSize); // mostly zeros: kept sparse
    return { paradigm: (name) => ngramParadigm(ctx, name, p0) };
  },
};

function ngramParadigm(ctx: RunContext, name: ParadigmName, p0: SparseRows): ParadigmModel {
  const { config, threads, signal, probes, width, D } = ctx;
  const m = ngramOf(config.model);
  const V = ctx.tokens.vocabSize;
  const model = new NGramModel({ order: m.order, smoothing: m.smoothing, k: m.k, vocabSize: V, threads, memoryLimit: ctx.memoryLimit });
  const tracker = config.theory
    ? new NativeTheoryTracker({
        paradigm: name,
        contexts: probes.contexts,
        weights: probes.weights,
        width,
        vocabSize: V,
        generations: config.generations,
        real: D,
        rate: paradigm(name).rate(ctx.params),
      })
    : null;
  const checker = config.theory ? new AccountingCheck({ paradigm: name, contexts: probes.contexts, width, vocabSize: V, real: D, mle: m.smoothing === 'mle' }) : null;
  const account = async (state: Parameters<ParadigmModel['fit']>[0], S: Parameters<ParadigmModel['replay']>[2]) => {
    const t = await tracker!.step(state.generation, model, state.train, S, threads);
    t.checks = await checker!.step(state.generation, model, state.train, state.pool ?? state.train, S, t.epsMax);
    return t;
  };
  return {
    async replay(_k, state, S) {
      // Replay the accounting of a finished generation (deterministic: same inputs, same state).
      if (!tracker) return;
      await model.fit(state.train);
      await account(state, S);
    },
    async fit(state) {
      await model.fit(state.train, signal ? { signal } : {});
      return {};
    },
    async score() {
      // Per-position scores, since a position can have p̂ = 0; not kept afterwards.
      const { logProbs, ...ev } = await model.evaluate(ctx.H, { perPosition: true });
      return { ...ev, covered: ev.zeroProbability === 0 ? ev.perplexity : coveredPerplexity(logProbs!) };
    },
    // The rows of probes [a, b), made block by block while the divergence is summed (measure.ts).
    probeRows: async () => (a: number, b: number) => modelRows(model, probes.contexts.subarray(a * width, b * width), width, ctx.tokens.bos),
    reference: () => p0,
    sample: (o) => model.sample(o),
    async theory(state, S) {
      if (!tracker) return undefined;
      const t = await account(state, S);
      if (!(t.residual <= 1e-9)) {
        throw new CollapseError('E_INTERNAL', `internal error: error-accounting residual ${t.residual} > 1e-9 (${name}, generation ${state.generation}); please report it`);
      }
      return t;
    },
    save: (path) => model.save(path),
  };
}
