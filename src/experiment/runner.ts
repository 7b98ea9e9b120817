/**
 * The experiment runner: corpus → generation after generation of fit / evaluate / sample under each
 * paradigm, with every quantity of THEORY.md's "Quantities reported per generation" (except the error
 * accounting) recorded, and a run folder written atomically so that an interrupted run resumes to
 * byte-identical files.
 *
 * Run folder:
 *   config.json                    resolved config, versions, corpus summary (no wall times)
 *   metrics.jsonl / metrics.csv    one record per paradigm and generation, sorted (paradigm, generation)
 *   timings.jsonl                  wall times per generation (the only file that differs between runs)
 *   samples/<paradigm>/gen-NNN.txt first sequences of S_n, detokenized
 *   state/progress.json            records so far and the finished generations; complete: true at the end
 *   state/<paradigm>/gen-NNN.bin   S_n itself, so T_{n+1} can be rebuilt on resume (removed at the end)
 */
import { mkdir, readFile, readdir, rm, stat, appendFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { corpusPositions, deriveSeed, fromSequences, loadCorpus, provenanceShares, REAL, type Corpus, type LoadedCorpus } from '../corpus/index.js';
import { CollapseError } from '../errors.js';
import {
  divergence,
  diversityAsync,
  empiricalRows,
  ngramSupportAsync,
  probeContexts,
  supportStatsAsync,
  tailRetentionAsync,
  type NativeNgramSupport,
  type ProbeSet,
} from '../metrics/index.js';
import { NGramModel } from '../models/ngram.js';
import { Transformer, type TrainProgress } from '../models/transformer.js';
import type { EvaluateResult, TokenCorpus } from '../models/types.js';
import { countPieces, corpusTexts, trainByteLevelBpe, WordTokenizer, type TextTokenizer } from '../tokenizers/index.js';
import { initialState, nextState, sampleSize, type ParadigmName, type ParadigmParams, type ParadigmState } from '../paradigms/index.js';
import { NativeTheoryTracker, type TheoryRecord } from '../theory/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { checkMemory, memoryLimit, runBytes } from '../util/memory.js';
import { resolveConfig, type ExperimentConfig, type ExperimentConfigInput, type ResolvedTransformerModel } from './config.js';

/** One record per paradigm and generation: flat, so it maps to a CSV row. */
export interface MetricsRecord {
  paradigm: ParadigmName;
  generation: number;
  /** |T_n| in positions, and its sequences. */
  trainTokens: number;
  trainSequences: number;
  /** Share of T_n's positions that come from the real corpus D. */
  realShare: number;
  /** Share of T_n's positions sampled by the previous generation (n − 1). */
  lastGenerationShare: number;
  /** Perplexity of M_n on the real test split H; null when a position has probability 0. */
  perplexity: number | null;
  /** Positions of H with p̂_n = 0 (MLE losing a type). */
  zeroProbability: number;
  /** π-weighted means over the probe contexts (see metrics/divergence.ts). */
  tv: number;
  kl: number;
  lostMass: number;
  /** S_n: positions, sequences, and those cut at maxLength. */
  sampleTokens: number;
  sampleSequences: number;
  truncated: number;
  /** Distinct n-grams of S_n, and the share of D's distinct n-grams that S_n still contains. */
  distinct1: number;
  distinct2: number;
  distinct3: number;
  coverage1: number;
  coverage2: number;
  coverage3: number;
  /** Share of D's rarest types (lowest-frequency quartile) present in S_n. */
  tailRetention: number;
  /** Diversity of S_n. */
  unigramEntropy: number;
  distinctRatio1: number;
  distinctRatio2: number;
  distinctRatio3: number;
  meanLength: number;
  repeatedShare: number;
  /** Error accounting (THEORY.md), when the run has `theory: true`. */
  theory?: TheoryRecord;
  /** Transformer runs: optimizer steps of this generation's training and the loss of the last one. */
  trainSteps?: number;
  trainLoss?: number;
}

export interface ProgressEvent {
  paradigm: ParadigmName;
  generation: number;
  /** Generations finished across all paradigms, and the total to do. */
  done: number;
  total: number;
  stage: 'fit' | 'train' | 'evaluate' | 'sample' | 'metrics' | 'done';
  /** Transformer training ('train' events): 1-based step, steps of this generation, and the step's loss. */
  step?: number;
  totalSteps?: number;
  loss?: number;
}

export interface RunOptions {
  /** Run folder. Required unless `resume` is given. */
  out?: string;
  /** Continue the interrupted run in this folder (its config.json wins). */
  resume?: string;
  /** Overwrite a non-empty `out` folder. */
  force?: boolean;
  /** Threads per native call (default: all cores). Results never depend on it. */
  threads?: number;
  /** Refuse a run estimated to need more memory (bytes or "8G"); default $COLLAPSE_MEMORY_LIMIT, else 80 % of RAM. */
  memoryLimit?: number | string;
  onRecord?: (record: MetricsRecord) => void;
  onProgress?: (event: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface RunResult {
  dir: string;
  config: ExperimentConfig;
  records: MetricsRecord[];
  corpus: LoadedCorpus['info'];
  resumed: boolean;
}

interface Progress {
  version: 1;
  complete: boolean;
  /** Last finished generation per paradigm (-1 = none). */
  finished: Record<string, number>;
  records: MetricsRecord[];
}

const pkgVersion: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

const pad = (n: number) => String(n).padStart(3, '0');

export async function runExperiment(input: ExperimentConfigInput | ExperimentConfig, options: RunOptions = {}): Promise<RunResult> {
  const signal = options.signal;
  let config: ExperimentConfig;
  let dir: string;
  let progress: Progress;
  const resumed = options.resume !== undefined;
  if (resumed) {
    dir = options.resume!;
    const saved = await readJson(join(dir, 'config.json'), 'run config');
    if (!isObject(saved) || !isObject(saved.config)) throw new CollapseError('E_BAD_CONFIG', `${dir}/config.json is not a collapse-lab run config`);
    config = resolveConfig(saved.config);
    const state = await readJson(join(dir, 'state', 'progress.json'), 'run state');
    if (!isObject(state) || state.version !== 1 || !isObject(state.finished) || !Array.isArray(state.records)) {
      throw new CollapseError('E_BAD_CONFIG', `${dir}/state/progress.json is not a collapse-lab run state`);
    }
    progress = state as unknown as Progress;
  } else {
    config = resolveConfig(input);
    if (!options.out) throw new CollapseError('E_BAD_ARGUMENT', 'runExperiment needs options.out (the run folder)');
    dir = options.out;
    progress = { version: 1, complete: false, finished: {}, records: [] };
  }
  for (const p of config.paradigms) if (progress.finished[p] === undefined) progress.finished[p] = -1;
  const threads = options.threads ?? availableParallelism();

  // Everything that can fail on bad input happens before the run folder is touched.
  const tcfg = config.model.kind === 'transformer' ? (config.model as ResolvedTransformerModel) : null;
  const loadOptions: { minCount?: number; maxVocabSize?: number } = config.minCount === null ? {} : { minCount: config.minCount };
  if (tcfg && tcfg.tokenizer === 'word' && tcfg.vocabSize !== null) loadOptions.maxVocabSize = tcfg.vocabSize;
  const corpus = await loadCorpus(config.corpus, loadOptions);
  // The model's token streams: the corpus's word ids, or (transformer, tokenizer "bpe") a byte-level
  // BPE trained on the real train split, with every split re-encoded through it.
  const tokens: ModelTokens = tcfg
    ? transformerTokens(corpus, tcfg)
    : { D: corpus.train, H: corpus.test, V: corpus.vocab.size, bos: corpus.vocab.bos, eos: corpus.vocab.eos, tokenizer: undefined };
  const D = tokens.D;
  const H = tokens.H;
  const bpe = tokens.tokenizer && tokens.tokenizer.kind !== 'word' ? tokens.tokenizer : undefined;
  const decode = bpe ? (ids: Uint32Array) => bpe.decode(ids) : (ids: Uint32Array) => corpus.vocab.decode(ids).join(' ');
  if (corpusPositions(H) === 0) throw new CollapseError('E_CORPUS_EMPTY', 'the test split is empty: the corpus is too small to hold out real test data');
  const params: ParadigmParams = {
    trainTokens: config.trainTokens ?? corpusPositions(D),
    rate: config.rate,
    accumulateRate: config.accumulateRate,
    realFraction: config.realFraction,
    seed: config.seed,
  };
  const V = tokens.V;
  const width = tcfg ? tcfg.probeOrder - 1 : Math.max(1, (config.model as { order: number }).order - 1);
  for (const p of config.paradigms) {
    const size = sampleSize(p, params);
    if (size > MAX_SAMPLE_POSITIONS) {
      throw new CollapseError('E_BAD_CONFIG', `${p} would sample ${size} positions per generation (more than ${MAX_SAMPLE_POSITIONS}); lower trainTokens or the rate`);
    }
  }

  // The estimated peak memory, against the limit, before the run folder is touched (src/util/memory.ts).
  const memLimit = memoryLimit(options.memoryLimit);
  const pools = config.paradigms.map((p) => {
    const keeps = p === 'accumulate' || p === 'accumulate-subsample';
    const pool = keeps ? params.trainTokens + (config.generations - 1) * sampleSize(p, params) : params.trainTokens;
    return { train: p === 'accumulate' ? pool : params.trainTokens, pool };
  });
  checkMemory(
    `this run (${config.paradigms.length} paradigm(s), ${params.trainTokens} training positions, ${config.probes} probes × vocabulary ${V})`,
    runBytes({
      model: tcfg
        ? { ...tcfg, kind: 'transformer', vocabSize: V, batchSize: tcfg.batchSize, seqLen: tcfg.seqLen, maxLength: config.sampling.maxLength, threads }
        : { kind: 'ngram', order: (config.model as { order: number }).order },
      vocabSize: V,
      paradigms: pools,
      probes: config.probes,
      theory: config.theory === true,
    }),
    memLimit,
    'lower --train-tokens, --probes, --order or the model size',
  );

  if (!resumed) await prepareFolder(dir, options.force === true);
  else await removeStrayTemps(dir);
  if (progress.complete) {
    for (const p of config.paradigms) await rm(join(dir, 'state', p), { recursive: true, force: true });
    return { dir, config, records: sortRecords(progress.records), corpus: corpus.info, resumed };
  }
  await mkdir(join(dir, 'state'), { recursive: true });
  if (!resumed) {
    const meta = {
      collapseLab: pkgVersion,
      node: process.versions.node,
      config,
      trainTokens: params.trainTokens,
      corpus: { ...corpus.info },
    };
    await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(meta, null, 2) + '\n');
    await saveProgress(dir, progress);
  }

  // Reference quantities of D, computed once: probe contexts and p0 = emp_D on them, D's n-gram
  // support (for coverage) — shared by every paradigm.
  // For a transformer, p0 of a long prefix is not observable: each paradigm's reference is its own
  // generation-0 model's rows p̂_0 on the probe prefixes (BOS + the context's tokens).
  const probes: ProbeSet = tcfg ? probeContexts(D, { width, k: config.probes, bos: tokens.bos }) : probeContexts(D, { width, k: config.probes });
  const p0 = tcfg ? null : empiricalRows(D, probes.contexts, width, V).rows;
  const prefixes = tcfg ? probePrefixes(probes, tokens.bos) : null;
  const supportD: NativeNgramSupport = tcfg
    ? await ngramSupportAsync(D, { orders: [1, 2, 3], threads, bos: tokens.bos, eos: tokens.eos })
    : await ngramSupportAsync(D, { orders: [1, 2, 3], threads });

  const total = config.paradigms.length * config.generations;
  let done = Object.values(progress.finished).reduce((a, n) => a + Math.min(n + 1, config.generations), 0);
  const records = new Map<string, MetricsRecord>(progress.records.map((r) => [`${r.paradigm}/${r.generation}`, r]));
  // Writes are serialised: one progress snapshot at a time, always from the latest state.
  let writing: Promise<void> = Promise.resolve();
  const commit = (record: MetricsRecord, timing: object) => {
    records.set(`${record.paradigm}/${record.generation}`, record);
    progress.records = sortRecords([...records.values()]);
    progress.finished[record.paradigm] = record.generation;
    const snapshot = JSON.parse(JSON.stringify(progress)) as Progress;
    writing = writing.then(async () => {
      await writeRecords(dir, snapshot.records, config);
      await saveProgress(dir, snapshot);
      await appendFile(join(dir, 'timings.jsonl'), JSON.stringify(timing) + '\n');
    });
    return writing;
  };

  let failedEarly = false;
  /** Transformer runs: generation 0's model when trained on T_0 = D, shared by the paradigms. */
  let generationZero: {
    params: { name: string; data: Float32Array }[];
    steps: number;
    loss: number;
    /** Its perplexity on H and its probe rows, once measured: the same model gives the same figures. */
    measured?: { ev: EvaluateResult; rows: Float32Array | Float64Array };
  } | null = null;
  const stopIfFailed = () => {
    if (failedEarly) throw new CollapseError('E_ABORTED', 'stopped: another paradigm failed');
  };
  const runParadigm = async (name: ParadigmName) => {
    const last = progress.finished[name] ?? -1;
    // Rebuild T_{last+1} from D and the saved S_0..S_last (the paradigms are deterministic).
    let state: ParadigmState = initialState(name, D, params);
    for (let k = 0; k <= last; k++) {
      const s = await readSample(join(dir, 'state', name, `gen-${pad(k)}.bin`));
      state = nextState(state, D, s, params);
    }
    const m = config.model;
    const model =
      m.kind === 'ngram'
        ? new NGramModel({ order: m.order, smoothing: m.smoothing, k: m.k, vocabSize: V, threads, memoryLimit: memLimit })
        : new Transformer({
            vocabSize: V,
            hidden: tcfg!.hidden,
            layers: tcfg!.layers,
            heads: tcfg!.heads,
            window: tcfg!.window,
            contextLength: tcfg!.contextLength,
            intermediate: tcfg!.intermediate,
            bos: tokens.bos,
            eos: tokens.eos,
            threads,
            memoryLimit: memLimit,
            ...(tokens.tokenizer ? { tokenizer: tokens.tokenizer } : {}),
          });
    /**
     * Fits generation n's model on T_n. The transformer is trained from scratch each generation:
     * init from a seed of (seed, paradigm, n) — the parameters a newly constructed model would
     * get — then train() with fresh optimizer state, in a batch order drawn from another such seed.
     */
    const fitGeneration = async (
      train: Corpus,
      n: number,
      onStep?: (p: TrainProgress) => void,
    ): Promise<{ steps: number; loss: number; shared?: typeof generationZero } | null> => {
      if (model instanceof NGramModel) {
        await model.fit(train, signal ? { signal } : {});
        return null;
      }
      // Paradigms whose T_0 is D itself train the very same first model (same data, same seeds):
      // train it once and hand its parameters to the others.
      if (n === 0 && train === D && generationZero) {
        await model.setParameters(generationZero.params);
        return { steps: generationZero.steps, loss: generationZero.loss, shared: generationZero };
      }
      const t = tcfg!;
      // Generation 0 trains on the same T_0 = D under every paradigm but Accumulate-Subsample: its
      // seeds do not depend on the paradigm, so those paradigms start from one and the same model.
      const who = n === 0 ? 'generation-0' : name;
      await model.init(deriveSeed(config.seed, 'init', who, n));
      return model.train(train, {
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
      }).then(async (r) => {
        if (n === 0 && train === D) {
          generationZero = { params: await model.parameters(), steps: r.steps, loss: r.loss };
          return { ...r, shared: generationZero };
        }
        return r;
      });
    };
    const probeRows = (): Promise<Float32Array | Float64Array> =>
      model instanceof NGramModel ? model.conditional(probes.contexts, { width }) : model.conditional(prefixes!, { float64: true });
    // The transformer's reference p̂_0 is generation 0's rows; a run resumed past generation 0
    // refits that model (deterministic: same seeds, same T_0) to get them back.
    let ref: Float64Array | null = p0;
    if (tcfg && last >= 0) {
      await fitGeneration(initialState(name, D, params).train, 0);
      ref = (await probeRows()) as Float64Array;
    }
    const tracker = config.theory
      ? new NativeTheoryTracker({
          paradigm: name,
          contexts: probes.contexts,
          weights: probes.weights,
          width,
          vocabSize: V,
          generations: config.generations,
          real: D,
          rate: name === 'accumulate' ? params.accumulateRate : name === 'accumulate-subsample' ? params.rate : null,
        })
      : null;
    if (tracker && last >= 0) {
      // Replay the accounting of the finished generations (deterministic: same inputs, same state).
      let replay: ParadigmState = initialState(name, D, params);
      for (let k = 0; k <= last; k++) {
        const s = await readSample(join(dir, 'state', name, `gen-${pad(k)}.bin`));
        await (model as NGramModel).fit(replay.train);
        await tracker.step(k, model as NGramModel, replay.train, s, threads);
        replay = nextState(replay, D, s, params);
      }
    }
    for (let n = last + 1; n < config.generations; n++) {
      throwIfAborted(signal);
      stopIfFailed();
      const t0 = performance.now();
      const emit = (stage: ProgressEvent['stage']) => options.onProgress?.({ paradigm: name, generation: n, done, total, stage });
      emit('fit');
      const trained = await fitGeneration(state.train, n, (p) =>
        options.onProgress?.({ paradigm: name, generation: n, done, total, stage: 'train', step: p.step, totalSteps: p.totalSteps, loss: p.loss }),
      ).catch((err: unknown) => {
        // A diverged step names the paradigm and the generation too.
        if (err instanceof CollapseError && err.code === 'E_DIVERGED') throw new CollapseError('E_DIVERGED', `${name}, generation ${n}: ${err.message}`, { cause: err });
        throw err;
      });
      const t1 = performance.now();
      emit('evaluate');
      // The shared generation-0 model is scored once, by the first paradigm that trains it.
      const zero = trained?.shared;
      const { ev, rows } = zero?.measured ?? { ev: await model.evaluate(H), rows: await probeRows() };
      if (zero) zero.measured = { ev, rows };
      if (tcfg && n === 0) ref = rows as Float64Array;
      const t2 = performance.now();
      throwIfAborted(signal);
      emit('sample');
      const S = await model.sample({
        tokens: sampleSize(name, params),
        maxLength: config.sampling.maxLength,
        seed: deriveSeed(config.seed, 'sample', name, n),
        temperature: config.sampling.temperature,
        topK: config.sampling.topK,
        topP: config.sampling.topP,
      });
      const t3 = performance.now();
      emit('metrics');
      const record = await measure(name, n, state.train, ev, rows, ref!, probes, S, D, supportD, threads);
      if (trained) {
        record.trainSteps = trained.steps;
        record.trainLoss = trained.loss;
      }
      if (tracker) {
        record.theory = await tracker.step(n, model as NGramModel, state.train, S, threads);
        if (!(record.theory.residual <= 1e-9)) {
          throw new CollapseError('E_INTERNAL', `internal error: error-accounting residual ${record.theory.residual} > 1e-9 (${name}, generation ${n}); please report it`);
        }
      }
      const t4 = performance.now();
      // Persist S_n and its readable sample before the record says generation n is done.
      await mkdir(join(dir, 'state', name), { recursive: true });
      await writeSample(join(dir, 'state', name, `gen-${pad(n)}.bin`), S);
      await mkdir(join(dir, 'samples', name), { recursive: true });
      await writeFileAtomic(join(dir, 'samples', name, `gen-${pad(n)}.txt`), sampleText(S, decode, config.keepSamples));
      done++;
      await commit(record, {
        paradigm: name,
        generation: n,
        fitMs: round(t1 - t0),
        evaluateMs: round(t2 - t1),
        sampleMs: round(t3 - t2),
        metricsMs: round(t4 - t3),
        totalMs: round(performance.now() - t0),
      });
      options.onRecord?.(record);
      emit('done');
      if (n + 1 < config.generations) state = nextState(state, D, S, params);
    }
  };

  // Paradigms run concurrently: native work of one overlaps the JS metrics of another. The first
  // failure stops the others at their next step. Transformer paradigms run one after another:
  // each training job already uses every thread, and concurrent ones only oversubscribe the cores.
  let firstError: unknown;
  const runOne = (p: ParadigmName) =>
    runParadigm(p).catch((err: unknown) => {
      firstError ??= err;
      failedEarly = true;
      throw err;
    });
  let results: PromiseSettledResult<void>[];
  if (tcfg) {
    results = [];
    for (const p of config.paradigms) {
      if (failedEarly) break;
      results.push(...(await Promise.allSettled([runOne(p)])));
    }
  } else {
    results = await Promise.allSettled(config.paradigms.map(runOne));
  }
  await writing;
  if (results.some((r) => r.status === 'rejected')) throw firstError;

  progress.complete = true;
  progress.records = sortRecords([...records.values()]);
  await removeStrayTemps(dir);
  await writeRecords(dir, progress.records, config);
  await saveProgress(dir, progress);
  for (const p of config.paradigms) await rm(join(dir, 'state', p), { recursive: true, force: true });
  return { dir, config, records: progress.records, corpus: corpus.info, resumed };
}

async function measure(
  paradigm: ParadigmName,
  generation: number,
  train: Corpus,
  ev: { perplexity: number; zeroProbability: number },
  rows: Float32Array | Float64Array,
  p0: Float64Array,
  probes: ProbeSet,
  S: TokenCorpus,
  D: Corpus,
  supportD: NativeNgramSupport,
  threads: number,
): Promise<MetricsRecord> {
  // The corpus statistics run natively, off the JS thread, while the divergence is summed here.
  const pending = Promise.all([supportStatsAsync(S, supportD, { threads }), tailRetentionAsync(S, D), diversityAsync(S, { threads })]);
  const shares = provenanceShares(train);
  const div = divergence(p0, rows, probes.weights, rows.length / probes.weights.length);
  const [sup, tail, dv] = await pending;
  const byOrder = (n: number) => sup.find((s) => s.order === n)!;
  return {
    paradigm,
    generation,
    trainTokens: corpusPositions(train),
    trainSequences: train.offsets.length - 1,
    realShare: shares.real,
    lastGenerationShare: shares.byGeneration.get(generation - 1) ?? 0,
    perplexity: Number.isFinite(ev.perplexity) ? ev.perplexity : null,
    zeroProbability: ev.zeroProbability,
    tv: div.tv,
    kl: div.kl,
    lostMass: div.lostMass,
    sampleTokens: corpusPositions(S),
    sampleSequences: S.offsets.length - 1,
    truncated: (S as { truncated?: number }).truncated ?? 0,
    distinct1: byOrder(1).sample,
    distinct2: byOrder(2).sample,
    distinct3: byOrder(3).sample,
    coverage1: byOrder(1).coverage,
    coverage2: byOrder(2).coverage,
    coverage3: byOrder(3).coverage,
    tailRetention: tail.share,
    unigramEntropy: dv.unigramEntropy,
    distinctRatio1: dv.distinct1,
    distinctRatio2: dv.distinct2,
    distinctRatio3: dv.distinct3,
    meanLength: dv.meanLength,
    repeatedShare: dv.repeatedShare,
  };
}

interface ModelTokens {
  D: Corpus;
  H: Corpus;
  V: number;
  bos: number;
  eos: number;
  tokenizer: TextTokenizer | undefined;
}

/** The transformer's token streams (see the call site). */
function transformerTokens(corpus: LoadedCorpus, t: ResolvedTransformerModel): ModelTokens {
  if (t.tokenizer === 'word') {
    return { D: corpus.train, H: corpus.test, V: corpus.vocab.size, bos: corpus.vocab.bos, eos: corpus.vocab.eos, tokenizer: new WordTokenizer(corpus.vocab) };
  }
  const bpe = trainByteLevelBpe(countPieces(corpusTexts(corpus.train, corpus.vocab)), { vocabSize: t.vocabSize! });
  const encode = (c: Corpus): Corpus => {
    const seqs: Uint32Array[] = [];
    for (const text of corpusTexts(c, corpus.vocab)) seqs.push(bpe.encode(text));
    return fromSequences(seqs, REAL);
  };
  return { D: encode(corpus.train), H: encode(corpus.test), V: bpe.vocabSize, bos: bpe.bos, eos: bpe.eos, tokenizer: bpe };
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

function sortRecords(rs: MetricsRecord[]): MetricsRecord[] {
  return rs.sort((a, b) => (a.paradigm === b.paradigm ? a.generation - b.generation : a.paradigm < b.paradigm ? -1 : 1));
}

export const CSV_COLUMNS: (keyof MetricsRecord)[] = [
  'paradigm', 'generation', 'trainTokens', 'trainSequences', 'realShare', 'lastGenerationShare', 'perplexity', 'zeroProbability',
  'tv', 'kl', 'lostMass', 'sampleTokens', 'sampleSequences', 'truncated', 'distinct1', 'distinct2', 'distinct3',
  'coverage1', 'coverage2', 'coverage3', 'tailRetention', 'unigramEntropy', 'distinctRatio1', 'distinctRatio2',
  'distinctRatio3', 'meanLength', 'repeatedShare',
];

/** Transformer columns of metrics.csv (present for model.kind "transformer"). */
export const TRANSFORMER_CSV_COLUMNS: (keyof MetricsRecord)[] = ['trainSteps', 'trainLoss'];

/** Theory columns of metrics.csv (present when the run has `theory: true`). */
export const THEORY_CSV_COLUMNS = [
  'theory.epsL1', 'theory.deltaL1', 'theory.sigmaL1', 'theory.EL1', 'theory.realShare', 'theory.head.E', 'theory.tail.E',
  'theory.head.delta', 'theory.tail.delta', 'theory.vanished', 'theory.residual', 'theory.equalShares.deviationL1',
];

function pathGet(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

async function writeRecords(dir: string, records: MetricsRecord[], config: ExperimentConfig): Promise<void> {
  const order = new Map(config.paradigms.map((p, i) => [p, i]));
  const sorted = [...records].sort((a, b) => (order.get(a.paradigm)! - order.get(b.paradigm)!) || a.generation - b.generation);
  await writeFileAtomic(join(dir, 'metrics.jsonl'), sorted.map((r) => JSON.stringify(r)).join('\n') + (sorted.length ? '\n' : ''));
  const cols: string[] = [...CSV_COLUMNS, ...(config.model.kind === 'transformer' ? TRANSFORMER_CSV_COLUMNS : []), ...(config.theory ? THEORY_CSV_COLUMNS : [])];
  const csv = [cols.join(','), ...sorted.map((r) => cols.map((c) => csvCell(pathGet(r, c))).join(','))].join('\n') + '\n';
  await writeFileAtomic(join(dir, 'metrics.csv'), csv);
}

function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

async function saveProgress(dir: string, p: Progress): Promise<void> {
  await writeFileAtomic(join(dir, 'state', 'progress.json'), JSON.stringify(p) + '\n');
}

/** S_n on disk: magic, counts, offsets, tokens (little-endian uint32). */
async function writeSample(path: string, s: TokenCorpus): Promise<void> {
  const header = new Uint32Array([0x53434c43 /* "CLCS" */, 1, s.offsets.length, s.tokens.length]);
  const buf = Buffer.concat([Buffer.from(header.buffer), Buffer.from(s.offsets.buffer, s.offsets.byteOffset, s.offsets.byteLength), Buffer.from(s.tokens.buffer, s.tokens.byteOffset, s.tokens.byteLength)]);
  await writeFileAtomic(path, buf);
}

async function readSample(path: string): Promise<TokenCorpus> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is missing (the run state is incomplete)`);
  }
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const h = new Uint32Array(ab, 0, 4);
  if (h[0] !== 0x53434c43 || h[1] !== 1 || buf.byteLength !== 16 + 4 * (h[2]! + h[3]!)) {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is damaged`);
  }
  return { offsets: new Uint32Array(ab, 16, h[2]!), tokens: new Uint32Array(ab, 16 + 4 * h[2]!, h[3]!) };
}

function sampleText(s: TokenCorpus, decode: (ids: Uint32Array) => string, keep: number): string {
  const lines: string[] = [];
  const n = Math.min(keep, s.offsets.length - 1);
  for (let i = 0; i < n; i++) lines.push(decode(s.tokens.subarray(s.offsets[i]!, s.offsets[i + 1]!)));
  return lines.join('\n') + (lines.length ? '\n' : '');
}

async function prepareFolder(dir: string, force: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new CollapseError('E_BAD_ARGUMENT', `--out ${dir} exists and is not a folder`);
    entries = await readdir(dir);
  } catch (err) {
    if (err instanceof CollapseError) throw err;
  }
  if (entries.length > 0) {
    if (!force) {
      throw new CollapseError('E_BAD_ARGUMENT', `run folder ${dir} already exists and is not empty: choose another --out, continue it with --resume ${dir}, or pass --force to replace it`);
    }
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(dir, { recursive: true });
}

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new CollapseError('E_BAD_ARGUMENT', `cannot resume: no ${what} at ${path} (is this a collapse-lab run folder?)`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is not valid JSON`);
  }
}

/** The most positions one generation may sample (the engine's 32-bit offsets). */
const MAX_SAMPLE_POSITIONS = 4_000_000_000;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Removes temp files (".name.pid.hex.tmp") that a killed process left behind. */
async function removeStrayTemps(dir: string, depth = 3): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth > 0) await removeStrayTemps(p, depth - 1);
    else if (e.isFile() && /^\..+\.[0-9]+\.[0-9a-f]{8}\.tmp$/.test(e.name)) await rm(p, { force: true });
  }
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CollapseError('E_ABORTED', 'the run was interrupted; continue it with --resume');
}

const round = (ms: number) => Math.round(ms * 10) / 10;
