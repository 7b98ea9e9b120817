/**
 * The transformer driver: a GPT-Neo trained each generation from scratch or from a pretrained
 * checkpoint (model.init, src/experiment/init.ts), on a byte-level BPE trained on the real train
 * split, the corpus's word ids, or the checkpoint's own tokenizer. TV / KL are measured against each
 * paradigm's own generation-0 rows p̂_0 on the probe prefixes, since p0 of a long prefix is not
 * observable.
 *
 * Generation 0 is shared here, and only here: every paradigm whose T_0 is D itself trains the very
 * same first model (same data, same seeds), so it is trained and measured once and its parameters
 * handed to the others.
 */
import { deriveSeed, fromSequences, REAL, type Corpus, type LoadedCorpus } from '../../corpus/index.js';
import type { ProbeSet } from '../../metrics/index.js';
import { Transformer } from '../../models/transformer.js';
import type { ParadigmName } from '../../paradigms/index.js';
import { corpusTexts, countPieces, trainByteLevelBpe, WordTokenizer } from '../../tokenizers/index.js';
import { TRANSFORMER_RUN_DEFAULTS, type ExperimentConfig, type ResolvedTransformerModel } from '../config.js';
import { checkpointDecoder, openPretrained, pretrainedTokens, SCRATCH, startGeneration } from '../init.js';
import type { ModelDriver, ModelTokens, ParadigmModel, RunContext, Score } from './types.js';

const transformerOf = (c: ExperimentConfig) => c.model as ResolvedTransformerModel;

/** Generation 0's model when trained on T_0 = D, and its figures once measured. */
interface GenerationZero {
  params: { name: string; data: Float32Array }[];
  steps: number;
  loss: number;
  measured?: { score: Score; rows: Float32Array | Float64Array };
}

export const transformerDriver: ModelDriver = {
  kind: 'transformer',
  csvColumns: ['trainSteps', 'trainLoss'],
  // Each training job already uses every thread: concurrent paradigms only oversubscribe the cores.
  concurrentParadigms: false,
  loadOptions(config) {
    const t = transformerOf(config);
    if (t.tokenizer === 'word') return t.vocabSize !== null ? { maxVocabSize: t.vocabSize } : {};
    // A BPE or a checkpoint's tokenizer reads the corpus as text: no word becomes <unk> (Brown's
    // default minCount of 4 would put the string "<unk>" in 6% of its text) unless minCount says so.
    return config.minCount === null ? { minCount: 1 } : {};
  },
  async tokenise(corpus, config) {
    const t = transformerOf(config);
    if (t.init === SCRATCH) return transformerTokens(corpus, t);
    // A pretrained start: the checkpoint, hashed (a resume checks the hash it recorded) and loaded once.
    const start = await openPretrained(t.init, t.initSha256);
    t.initSha256 = start.sha256; // recorded in config.json
    const { D, H, V, bos, eos, tokenizer } = pretrainedTokens(corpus, start);
    return { train: D, test: H, vocabSize: V, bos, eos, passMarkers: true, tokenizer, decode: checkpointDecoder(tokenizer), pretrained: start };
  },
  defaultTrainTokens: TRANSFORMER_RUN_DEFAULTS.trainTokens,
  probeWidth: (config) => transformerOf(config).probeOrder - 1,
  memoryShape(config, vocabSize, threads) {
    const t = transformerOf(config);
    return { ...t, kind: 'transformer', vocabSize, batchSize: t.batchSize, seqLen: t.seqLen, maxLength: config.sampling.maxLength, threads };
  },
  describe(config) {
    const m = transformerOf(config);
    const arch = `hidden ${m.hidden}, ${m.layers} layers, ${m.heads} heads, window ${m.window}, context ${m.contextLength}`;
    const tok =
      m.tokenizer === 'bpe' ? `byte-level BPE ${m.vocabSize}` : m.tokenizer === 'checkpoint' ? `the checkpoint's tokenizer (V = ${m.vocabSize})` : `word level${m.vocabSize !== null ? ` (cap ${m.vocabSize})` : ''}`;
    const from = m.init === SCRATCH ? 'from scratch' : `fine-tuned from ${m.init}`;
    return `transformer${m.preset ? ` ${m.preset}` : ''} ${from} (${arch}; ${tok}; ${m.epochs} epoch${m.epochs > 1 ? 's' : ''} of ${m.batchSize} × ${m.seqLen}, lr ${m.lr})`;
  },
  tvTitle: "Total variation from p̂_0 (each paradigm's generation-0 model) on the probe prefixes",
  async open(ctx: RunContext) {
    const prefixes = probePrefixes(ctx.probes, ctx.tokens.bos);
    const shared: { zero: GenerationZero | null } = { zero: null };
    return { paradigm: (name) => transformerParadigm(ctx, name, prefixes, shared) };
  },
};

function transformerParadigm(ctx: RunContext, name: ParadigmName, prefixes: Uint32Array[], shared: { zero: GenerationZero | null }): ParadigmModel {
  const { config, signal, D } = ctx;
  const t = transformerOf(config);
  const model = new Transformer({
    vocabSize: ctx.tokens.vocabSize,
    hidden: t.hidden,
    layers: t.layers,
    heads: t.heads,
    window: t.window,
    contextLength: t.contextLength,
    intermediate: t.intermediate,
    ...(ctx.tokens.pretrained ? { attention: ctx.tokens.pretrained.config.attention } : {}),
    bos: ctx.tokens.bos,
    eos: ctx.tokens.eos,
    threads: ctx.threads,
    memoryLimit: ctx.memoryLimit,
    ...(ctx.tokens.tokenizer ? { tokenizer: ctx.tokens.tokenizer } : {}),
  });
  /** The generation-0 model this paradigm fitted last, when it is the shared one. */
  let current: GenerationZero | null = null;
  let reference: Float64Array | null = null;
  /**
   * Each generation starts from the pretrained checkpoint (model.init), or from scratch: init from a
   * seed of (seed, paradigm, n) — the parameters a newly constructed model would get — then train()
   * with fresh optimizer state, in a batch order drawn from another such seed.
   */
  const fit = async (train: Corpus, n: number, onStep?: Parameters<ParadigmModel['fit']>[1]): Promise<{ steps: number; loss: number }> => {
    current = null;
    if (n === 0 && train === D && shared.zero) {
      await model.setParameters(shared.zero.params);
      current = shared.zero;
      return current;
    }
    // Generation 0 trains on the same T_0 = D under every paradigm but Accumulate-Subsample: its
    // seeds do not depend on the paradigm, so those paradigms start from one and the same model.
    const who = n === 0 ? 'generation-0' : name;
    await startGeneration(model, ctx.tokens.pretrained ?? null, deriveSeed(config.seed, 'init', who, n));
    const r = await model.train(train, {
      epochs: t.epochs,
      batchSize: t.batchSize,
      seqLen: t.seqLen,
      lr: t.lr,
      schedule: t.schedule,
      warmup: t.warmup,
      weightDecay: t.weightDecay,
      clip: t.clip,
      seed: deriveSeed(config.seed, 'train', who, n),
      ...(onStep ? { onProgress: onStep } : {}),
      ...(signal ? { signal } : {}),
    });
    if (n === 0 && train === D) {
      shared.zero = { params: await model.parameters(), steps: r.steps, loss: r.loss };
      current = shared.zero;
    }
    return r;
  };
  let generation = -1;
  let lastScore: Score | null = null;
  return {
    async replay(k, state) {
      // The reference p̂_0 is generation 0's rows: a run resumed past generation 0 refits that
      // model (deterministic: same seeds, same T_0) to get them back.
      if (k !== 0) return;
      await fit(state.train, 0);
      reference = (await model.conditional(prefixes, { float64: true })) as Float64Array;
    },
    async fit(state, onStep) {
      generation = state.generation;
      const r = await fit(state.train, state.generation, onStep);
      return { trainSteps: r.steps, trainLoss: r.loss };
    },
    async score() {
      // The shared generation-0 model is scored once, by the first paradigm that trains it.
      if (current?.measured) return current.measured.score;
      const { logProbs: _unused, ...ev } = await model.evaluate(ctx.H, {});
      lastScore = { ...ev, covered: ev.zeroProbability === 0 ? ev.perplexity : null };
      return lastScore;
    },
    async probeRows() {
      let rows: Float32Array | Float64Array;
      if (current?.measured) rows = current.measured.rows;
      else {
        rows = await model.conditional(prefixes, { float64: true });
        if (current && lastScore) current.measured = { score: lastScore, rows };
      }
      if (generation === 0) reference = rows as Float64Array;
      return rows;
    },
    reference: () => reference!,
    sample: (o) => model.sample(o),
    theory: async () => undefined,
    save: (path) => model.save(path),
  };
}

/** The transformer's token streams: the corpus's word ids, or a byte-level BPE trained on the real train split. */
function transformerTokens(corpus: LoadedCorpus, t: ResolvedTransformerModel): ModelTokens {
  if (t.tokenizer === 'word') {
    const tokenizer = new WordTokenizer(corpus.vocab);
    return {
      train: corpus.train,
      test: corpus.test,
      vocabSize: corpus.vocab.size,
      bos: corpus.vocab.bos,
      eos: corpus.vocab.eos,
      passMarkers: true,
      tokenizer,
      decode: (ids) => corpus.vocab.decode(ids).join(' '),
    };
  }
  const bpe = trainByteLevelBpe(countPieces(corpusTexts(corpus.train, corpus.vocab)), { vocabSize: t.vocabSize! });
  const encode = (c: Corpus): Corpus => {
    const seqs: Uint32Array[] = [];
    for (const text of corpusTexts(c, corpus.vocab)) seqs.push(bpe.encode(text));
    return fromSequences(seqs, REAL);
  };
  return {
    train: encode(corpus.train),
    test: encode(corpus.test),
    vocabSize: bpe.vocabSize,
    bos: bpe.bos,
    eos: bpe.eos,
    passMarkers: true,
    tokenizer: bpe,
    decode: (ids) => bpe.decode(ids),
  };
}

/**
 * The probe contexts as transformer prefixes: each fixed-width row without its BOS left-padding,
 * after one BOS ([BOS, BOS] → [BOS]; [BOS, a] → [BOS, a]; [a, b] → [BOS, a, b]).
 */
function probePrefixes(probes: ProbeSet, bos: number): Uint32Array[] {
  const w = probes.width;
  const out: Uint32Array[] = [];
  for (let r = 0; r < probes.weights.length; r++) {
    const row = probes.contexts.subarray(r * w, (r + 1) * w);
    let i = 0;
    while (i < w && row[i] === bos) i++;
    const p = new Uint32Array(1 + w - i);
    p[0] = bos;
    p.set(row.subarray(i), 1);
    out.push(p);
  }
  return out;
}
