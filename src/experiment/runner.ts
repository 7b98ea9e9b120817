/**
 * The experiment runner: corpus → generation after generation of fit / evaluate / sample under each
 * paradigm, with every quantity of docs/theory.md's "Quantities reported per generation" recorded, and a run folder written atomically so that an interrupted run resumes to
 * byte-identical files.
 *
 * Run folder:
 *   config.json                    resolved config, versions, corpus summary (no wall times)
 *   metrics.jsonl / metrics.csv    one record per paradigm and generation, sorted (paradigm, generation)
 *   timings.jsonl                  wall times per generation (the only file that differs between runs)
 *   samples/<paradigm>/gen-NNN.jsonl first sequences of S_n, detokenized: one {"text": …} per line
 *   models/<paradigm>/gen-NNN/     with saveModels: M_n in Hugging Face layout (config.json, model.safetensors, tokenizer)
 *   state/progress.json            records so far and the finished generations; complete: true at the end
 *   state/<paradigm>/gen-NNN.bin   S_n itself, so T_{n+1} can be rebuilt on resume (removed at the end)
 * Both state files carry a SHA-256 of their content: a damaged one stops a resume by name.
 * `force` replaces only a folder holding nothing but these files (see foreignEntry).
 */
import { mkdir, readdir, rm, stat, appendFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { concatCorpora, corpusPositions, deriveSeed, fromSequences, loadCorpus, provenanceShares, REAL, subsampleSequences, type Corpus, type LoadedCorpus, type LoadCorpusOptions } from '../corpus/index.js';
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
import { AccountingCheck, modelRows, NativeTheoryTracker, type TheoryRecord } from '../theory/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { ensureFolder, fsReason, readRegularFile, readRegularText, statRegularFile, writeError } from '../util/paths.js';
import { checkMemory, memoryLimit, runBytes } from '../util/memory.js';
import { resolveConfig, TRANSFORMER_RUN_DEFAULTS, type ExperimentConfig, type ExperimentConfigInput, type ResolvedTransformerModel } from './config.js';
import { openPretrained, pretrainedTokens, SCRATCH, startGeneration } from './init.js';
import { corpusLoadOptions } from './config.js';

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
  /** Share of T_n's positions sampled by each earlier generation k = 0..n−1 (index k). */
  generationShares: number[];
  /** Perplexity of M_n on the real test split H; null when a position has probability 0 (infinite). */
  perplexity: number | null;
  /** Perplexity over the positions of H that M_n covers (p̂_n > 0); null when it covers none. */
  perplexityCovered: number | null;
  /** Positions of H with p̂_n = 0 (MLE losing a type), and their share of H's positions. */
  zeroProbability: number;
  zeroProbabilityShare: number;
  /** π-weighted means over the probe contexts (see metrics/divergence.ts and docs/theory.md). */
  tv: number;
  /** KL(p0 ‖ p̂_n); null when infinite (some probe loses mass). */
  kl: number | null;
  /** KL between p0 and p̂_n both restricted and renormalised to p̂_n's support (never negative). */
  klSupport: number;
  lostMass: number;
  /** Σπ over the probes used, and the raw π-weighted sums (mean = sum / probeWeight). */
  probeWeight: number;
  tvSum: number;
  klSupportSum: number;
  lostMassSum: number;
  /** Probe contexts left out because D never shows them (c_D(x) = 0: probes taken from H). */
  probesSkipped: number;
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
  /** Error accounting (docs/theory.md), when the run has `theory: true`. */
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
  /** Replace a non-empty `out` folder, if it is a collapse-lab run folder (anything else is refused, untouched). */
  force?: boolean;
  /** Threads per native call (default: all cores). Results never depend on it. */
  threads?: number;
  /** Refuse a run estimated to need more memory (bytes or "8G"); default $COLLAPSE_MEMORY_LIMIT, else 80 % of RAM. */
  memoryLimit?: number | string;
  onRecord?: (record: MetricsRecord) => void;
  onProgress?: (event: ProgressEvent) => void;
  /** Called once the corpus is loaded, before any training (the CLI's run header). */
  onCorpus?: (info: LoadedCorpus['info']) => void;
  /** Called once the run is set up (config complete, D drawn), before any training (the CLI's run header). */
  onStart?: (start: { config: ExperimentConfig; real: RealInfo }) => void;
  signal?: AbortSignal;
}

export interface RunResult {
  dir: string;
  config: ExperimentConfig;
  records: MetricsRecord[];
  corpus: LoadedCorpus['info'];
  /** The real training corpus D the run used (a seeded draw of the train split when N < its size). */
  real: RealInfo;
  resumed: boolean;
}

export interface RealInfo {
  /** True when D is a seeded draw of whole sequences of the train split (--train-tokens below it). */
  drawn: boolean;
  sequences: number;
  positions: number;
  /** The train split's size, in sequences and positions. */
  splitSequences: number;
  splitPositions: number;
  /** N: every T_n's size in positions (the paradigms' training-set size). */
  trainTokens: number;
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
  const notStarted = () => {
    if (signal?.aborted) throw new CollapseError('E_ABORTED', 'interrupted before the run started; nothing was written');
  };
  notStarted();
  let config: ExperimentConfig;
  let dir: string;
  let progress: Progress;
  const resumed = options.resume !== undefined;
  if (resumed) {
    dir = options.resume!;
    const saved = await readJson(join(dir, 'config.json'), 'run config');
    if (!isObject(saved) || !isObject(saved.config)) throw new CollapseError('E_BAD_CONFIG', `${dir}/config.json is not a collapse-lab run config`);
    config = resolveConfig(saved.config);
    const statePath = join(dir, 'state', 'progress.json');
    const state = await readJson(statePath, 'run state');
    if (!isObject(state) || state.version !== 1 || !isObject(state.finished) || !Array.isArray(state.records)) {
      throw new CollapseError('E_BAD_CONFIG', `${dir}/state/progress.json is not a collapse-lab run state`);
    }
    progress = verifyProgress(state, statePath);
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
  // A pretrained start: the checkpoint, hashed (a resume checks the hash it recorded) and loaded once.
  const start = tcfg && tcfg.init !== SCRATCH ? await openPretrained(tcfg.init, tcfg.initSha256, { memoryLimit: memoryLimit(options.memoryLimit) }) : null;
  if (start) tcfg!.initSha256 = start.sha256;
  const loadOptions: LoadCorpusOptions = config.minCount === null ? {} : { minCount: config.minCount };
  if (tcfg && tcfg.tokenizer === 'word' && tcfg.vocabSize !== null) loadOptions.maxVocabSize = tcfg.vocabSize;
  // A BPE or a checkpoint's tokenizer reads the corpus as text: no word becomes <unk> (Brown's
  // default minCount of 4 would put the string "<unk>" in 6% of its text) unless minCount says so.
  if (tcfg && tcfg.tokenizer !== 'word' && config.minCount === null) loadOptions.minCount = 1;
  Object.assign(loadOptions, corpusLoadOptions(config.corpusOptions));
  const corpus = await loadCorpus(config.corpus, loadOptions);
  options.onCorpus?.(corpus.info);
  // The model's token streams: the corpus's word ids, or (transformer, tokenizer "bpe") a byte-level
  // BPE trained on the real train split, with every split re-encoded through it.
  const tokens: ModelTokens = tcfg
    ? start
      ? pretrainedTokens(corpus, start)
      : transformerTokens(corpus, tcfg)
    : { D: corpus.train, H: corpus.test, V: corpus.vocab.size, bos: corpus.vocab.bos, eos: corpus.vocab.eos, tokenizer: undefined };
  // N below the train split's size caps the real data itself: D is a seeded draw of whole sequences
  // of the split holding N positions, shared by every paradigm, so T_0 = D and every later T_n have
  // the same size (N is then |D|, which overshoots the request by less than one sequence).
  const split = tokens.D;
  // A transformer run without --train-tokens caps D at its default size (config.ts).
  const cap = config.trainTokens ?? (tcfg ? TRANSFORMER_RUN_DEFAULTS.trainTokens : null);
  const drawn = cap !== null && cap < corpusPositions(split);
  const D = drawn ? subsampleSequences(split, cap, deriveSeed(config.seed, 'real-data')) : split;
  const H = tokens.H;
  const decode = tokens.tokenizer ? decoder(tokens.tokenizer) : (ids: Uint32Array) => corpus.vocab.decode(ids).join(' ');
  if (corpusPositions(H) === 0) throw new CollapseError('E_CORPUS_EMPTY', 'the test split is empty: the corpus is too small to hold out real test data');
  const params: ParadigmParams = {
    trainTokens: drawn || config.trainTokens === null ? corpusPositions(D) : config.trainTokens,
    rate: config.rate,
    accumulateRate: config.accumulateRate,
    realFraction: config.realFraction,
    seed: config.seed,
  };
  const V = tokens.V;
  // Order k+1 has contexts of k tokens; order 1 has one, empty context (width 0).
  const width = tcfg ? tcfg.probeOrder - 1 : (config.model as { order: number }).order - 1;
  const real: RealInfo = {
    drawn,
    sequences: D.offsets.length - 1,
    positions: corpusPositions(D),
    splitSequences: split.offsets.length - 1,
    splitPositions: corpusPositions(split),
    trainTokens: params.trainTokens,
  };
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
  options.onStart?.({ config, real });

  if (!resumed) notStarted(); // (a resume continues to its own interruption message)
  else throwIfAborted(signal);
  if (!resumed) await prepareFolder(dir, options.force === true);
  else await removeStrayTemps(dir);
  if (progress.complete) {
    for (const p of config.paradigms) await rm(join(dir, 'state', p), { recursive: true, force: true });
    return { dir, config, records: sortRecords(progress.records), corpus: corpus.info, real, resumed };
  }
  await makeFolder(join(dir, 'state'));
  if (!resumed) {
    const meta = {
      collapseLab: pkgVersion,
      node: process.versions.node,
      config,
      trainTokens: params.trainTokens,
      real,
      corpus: { ...corpus.info },
    };
    await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(meta, null, 2) + '\n');
    await saveProgress(dir, progress);
  }

  // Reference quantities of D, computed once: probe contexts and p0 = emp_D on them, D's n-gram
  // support (for coverage) — shared by every paradigm.
  // For a transformer, p0 of a long prefix is not observable: each paradigm's reference is its own
  // generation-0 model's rows p̂_0 on the probe prefixes (BOS + the context's tokens).
  // Probe contexts: the most frequent of D (default), of H, or of D ∪ H (--probes-from).
  const probeSource = config.probesFrom === 'train' ? D : config.probesFrom === 'test' ? H : concatCorpora([D, H]);
  const probes: ProbeSet = tcfg ? probeContexts(probeSource, { width, k: config.probes, bos: tokens.bos }) : probeContexts(probeSource, { width, k: config.probes });
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
      await appendFile(join(dir, 'timings.jsonl'), JSON.stringify(timing) + '\n').catch((err: unknown) => {
        throw writeError(err, join(dir, 'timings.jsonl'));
      });
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
    measured?: { ev: EvaluateResult & { covered: number | null }; rows: Float32Array | Float64Array };
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
            ...(start ? { attention: start.config.attention } : {}),
            bos: tokens.bos,
            eos: tokens.eos,
            threads,
            memoryLimit: memLimit,
            ...(tokens.tokenizer ? { tokenizer: tokens.tokenizer } : {}),
          });
    /**
     * Fits generation n's model on T_n. The transformer starts each generation from the pretrained
     * checkpoint (model.init), or from scratch: init from a seed of (seed, paradigm, n) — the
     * parameters a newly constructed model would get — then train() with fresh optimizer state, in
     * a batch order drawn from another such seed.
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
      await startGeneration(model, start, deriveSeed(config.seed, 'init', who, n));
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
      model instanceof NGramModel ? modelRows(model, probes.contexts, width, tokens.bos) : model.conditional(prefixes!, { float64: true });
    /** Perplexity on H, and over the positions the model covers (p̂ > 0). */
    const evaluateH = async (): Promise<EvaluateResult & { covered: number | null }> => {
      // Per-position scores only where a position can have p̂ = 0 (the n-gram); not kept afterwards.
      const { logProbs, ...ev } = await model.evaluate(H, model instanceof NGramModel ? { perPosition: true } : {});
      return { ...ev, covered: ev.zeroProbability === 0 ? ev.perplexity : coveredPerplexity(logProbs!) };
    };
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
    const checker = config.theory
      ? new AccountingCheck({ paradigm: name, contexts: probes.contexts, width, vocabSize: V, real: D, mle: config.model.smoothing === 'mle' })
      : null;
    if (tracker && last >= 0) {
      // Replay the accounting of the finished generations (deterministic: same inputs, same state).
      let replay: ParadigmState = initialState(name, D, params);
      for (let k = 0; k <= last; k++) {
        const s = await readSample(join(dir, 'state', name, `gen-${pad(k)}.bin`));
        await (model as NGramModel).fit(replay.train);
        const t = await tracker.step(k, model as NGramModel, replay.train, s, threads);
        await checker!.step(k, model as NGramModel, replay.train, replay.pool ?? replay.train, s, t.epsMax);
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
      const { ev, rows } = zero?.measured ?? { ev: await evaluateH(), rows: await probeRows() };
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
        record.theory.checks = await checker!.step(n, model as NGramModel, state.train, state.pool ?? state.train, S, record.theory.epsMax);
        if (!(record.theory.residual <= 1e-9)) {
          throw new CollapseError('E_INTERNAL', `internal error: error-accounting residual ${record.theory.residual} > 1e-9 (${name}, generation ${n}); please report it`);
        }
      }
      const t4 = performance.now();
      // Persist S_n and its readable sample before the record says generation n is done.
      await makeFolder(join(dir, 'state', name));
      await writeSample(join(dir, 'state', name, `gen-${pad(n)}.bin`), S);
      await makeFolder(join(dir, 'samples', name));
      await writeFileAtomic(join(dir, 'samples', name, `gen-${pad(n)}.jsonl`), sampleJsonl(S, decode, config.keepSamples));
      if (config.saveModels && model instanceof Transformer) {
        await makeFolder(join(dir, 'models', name));
        await model.save(join(dir, 'models', name, `gen-${pad(n)}`));
      }
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
  return { dir, config, records: progress.records, corpus: corpus.info, real, resumed };
}

async function measure(
  paradigm: ParadigmName,
  generation: number,
  train: Corpus,
  ev: { perplexity: number; zeroProbability: number; positions: number; covered: number | null },
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
  const finite = (x: number | null) => (x !== null && Number.isFinite(x) ? x : null);
  const [sup, tail, dv] = await pending;
  const byOrder = (n: number) => sup.find((s) => s.order === n)!;
  return {
    paradigm,
    generation,
    trainTokens: corpusPositions(train),
    trainSequences: train.offsets.length - 1,
    realShare: shares.real,
    lastGenerationShare: shares.byGeneration.get(generation - 1) ?? 0,
    generationShares: Array.from({ length: generation }, (_, k) => shares.byGeneration.get(k) ?? 0),
    perplexity: finite(ev.perplexity),
    perplexityCovered: finite(ev.covered),
    zeroProbability: ev.zeroProbability,
    zeroProbabilityShare: ev.positions > 0 ? ev.zeroProbability / ev.positions : 0,
    tv: div.tv,
    kl: finite(div.kl),
    klSupport: div.klSupport,
    lostMass: div.lostMass,
    probeWeight: div.weightTotal,
    tvSum: div.raw.tv,
    klSupportSum: div.raw.klSupport,
    lostMassSum: div.raw.lostMass,
    probesSkipped: div.skipped,
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

/**
 * exp(−mean log p̂) over the positions with p̂ > 0 (log p̂ > −∞); null when there are none. Summed in
 * corpus order, so the figure is deterministic.
 */
export function coveredPerplexity(logProbs: Float64Array): number | null {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < logProbs.length; i++) {
    const lp = logProbs[i]!;
    if (lp > -Infinity) {
      sum += lp;
      n++;
    }
  }
  return n === 0 ? null : Math.exp(-sum / n);
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
  'paradigm', 'generation', 'trainTokens', 'trainSequences', 'realShare', 'lastGenerationShare', 'perplexity', 'perplexityCovered',
  'zeroProbability', 'zeroProbabilityShare', 'tv', 'kl', 'klSupport', 'lostMass', 'probeWeight', 'tvSum', 'klSupportSum', 'lostMassSum',
  'probesSkipped', 'sampleTokens', 'sampleSequences', 'truncated', 'distinct1', 'distinct2', 'distinct3',
  'coverage1', 'coverage2', 'coverage3', 'tailRetention', 'unigramEntropy', 'distinctRatio1', 'distinctRatio2',
  'distinctRatio3', 'meanLength', 'repeatedShare',
];

/** Transformer columns of metrics.csv (present for model.kind "transformer"). */
export const TRANSFORMER_CSV_COLUMNS: (keyof MetricsRecord)[] = ['trainSteps', 'trainLoss'];

/** Theory columns of metrics.csv (present when the run has `theory: true`). */
export const THEORY_CSV_COLUMNS = [
  'theory.epsL1', 'theory.deltaL1', 'theory.sigmaL1', 'theory.EL1', 'theory.realShare', 'theory.head.E', 'theory.tail.E',
  'theory.head.delta', 'theory.tail.delta', 'theory.head.sigma', 'theory.tail.sigma', 'theory.vanished', 'theory.unseen',
  'theory.weight', 'theory.deltaWeight', 'theory.sums.eps', 'theory.sums.delta', 'theory.sums.sigma', 'theory.sums.E',
  'theory.sums.realShare', 'theory.epsMax', 'theory.residual', 'theory.equalShares.deviationL1',
  'theory.checks.engineCounts.ok', 'theory.checks.mleEpsilonZero.ok', 'theory.checks.sourceCounts.ok',
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

/**
 * state/progress.json carries the SHA-256 of its own content (the JSON of every other field, as
 * JSON.stringify writes it: parsing and re-serialising gives the same text back), so that a damaged
 * file is refused on resume instead of steering the run silently.
 */
async function saveProgress(dir: string, p: Progress): Promise<void> {
  const { checksum: _old, ...body } = p as Progress & { checksum?: string };
  await writeFileAtomic(join(dir, 'state', 'progress.json'), JSON.stringify({ ...body, checksum: `sha256:${sha256(JSON.stringify(body))}` }) + '\n');
}

function verifyProgress(state: Record<string, unknown>, path: string): Progress {
  const { checksum, ...body } = state;
  if (typeof checksum !== 'string') {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} has no checksum (damaged, or written by an older collapse-lab); start the run again`);
  }
  if (checksum !== `sha256:${sha256(JSON.stringify(body))}`) {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is damaged (its checksum does not match its content)`);
  }
  // The checksum proves the file is what was written; its shape is still checked before use.
  const finished = body.finished as Record<string, unknown>;
  const records = body.records as unknown[];
  const shapeOk =
    typeof body.complete === 'boolean' &&
    Object.values(finished).every((n) => Number.isSafeInteger(n) && (n as number) >= -1) &&
    records.every((r) => isObject(r) && typeof r.paradigm === 'string' && Number.isSafeInteger(r.generation) && (r.generation as number) >= 0);
  if (!shapeOk) throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is not a collapse-lab run state (bad fields)`);
  return body as unknown as Progress;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * S_n on disk (little-endian): uint32 magic "CLCS", version 2, offset count, token count; the
 * SHA-256 of those 16 bytes and of the data (32 bytes); then the offsets and the tokens (uint32).
 */
const SAMPLE_MAGIC = 0x53434c43;
const SAMPLE_HEADER = 48;

async function writeSample(path: string, s: TokenCorpus): Promise<void> {
  const head = Buffer.from(new Uint32Array([SAMPLE_MAGIC, 2, s.offsets.length, s.tokens.length]).buffer);
  const offsets = Buffer.from(s.offsets.buffer, s.offsets.byteOffset, s.offsets.byteLength);
  const tokens = Buffer.from(s.tokens.buffer, s.tokens.byteOffset, s.tokens.byteLength);
  const digest = createHash('sha256').update(head).update(offsets).update(tokens).digest();
  await writeFileAtomic(path, Buffer.concat([head, digest, offsets, tokens]));
}

/** Reads a sample file written by writeSample (exported for the tests and fuzzers). */
export async function readSample(path: string): Promise<TokenCorpus> {
  if (!(await statRegularFile(path, { code: 'E_BAD_CONFIG', message: (p, reason) => `cannot resume: ${p}: ${reason}` }))) {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is missing (the run state is incomplete)`);
  }
  const buf = await readRegularFile(path, { code: 'E_BAD_CONFIG', message: (p, reason) => `cannot resume: ${p}: ${reason}` });
  const damaged = (why: string) => new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is damaged (${why})`);
  if (buf.byteLength < SAMPLE_HEADER) throw damaged('shorter than its header');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const h = new Uint32Array(ab, 0, 4);
  if (h[0] !== SAMPLE_MAGIC || h[1] !== 2) throw damaged('not a collapse-lab sample file of this version');
  if (buf.byteLength !== SAMPLE_HEADER + 4 * (h[2]! + h[3]!)) throw damaged('its size does not match its header');
  const digest = createHash('sha256').update(buf.subarray(0, 16)).update(buf.subarray(SAMPLE_HEADER)).digest();
  if (!digest.equals(buf.subarray(16, SAMPLE_HEADER))) throw damaged('its checksum does not match its content');
  const offsets = new Uint32Array(ab, SAMPLE_HEADER, h[2]!);
  const tokens = new Uint32Array(ab, SAMPLE_HEADER + 4 * h[2]!, h[3]!);
  // A checksum only proves the file is what was written; the CSR index is still checked before use.
  if (offsets.length < 1 || offsets[0] !== 0 || offsets[offsets.length - 1] !== tokens.length) throw damaged('its sequence offsets are not a valid index');
  for (let i = 1; i < offsets.length; i++) if (offsets[i]! < offsets[i - 1]!) throw damaged('its sequence offsets are not a valid index');
  return { offsets, tokens };
}

/**
 * The readable samples: the first `keep` sequences of S, one JSON object {"text": …} per line. A
 * byte-level tokenizer's text may hold newlines, U+FFFD (bytes that are not UTF-8 on their own) or
 * any other character; JSON escapes the control characters, and U+2028/U+2029 are escaped too
 * (some line readers split on them), so a line is always exactly one sequence.
 */
export function sampleJsonl(s: TokenCorpus, decode: (ids: Uint32Array) => string, keep: number): string {
  const lines: string[] = [];
  const n = Math.min(keep, s.offsets.length - 1);
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({ text: decode(s.tokens.subarray(s.offsets[i]!, s.offsets[i + 1]!)) }).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029'));
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** Token ids to text with `tok`; an id beyond the tokenizer (a checkpoint's padded vocabulary) reads as U+FFFD. */
function decoder(tok: TextTokenizer): (ids: Uint32Array) => string {
  return (ids) => {
    let parts = '';
    let from = 0;
    for (let i = 0; i <= ids.length; i++) {
      if (i < ids.length && ids[i]! < tok.vocabSize) continue;
      if (i > from) parts += tok.decode(ids.subarray(from, i));
      if (i < ids.length) parts += '\uFFFD';
      from = i + 1;
    }
    return parts;
  };
}

async function prepareFolder(dir: string, force: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new CollapseError('E_BAD_ARGUMENT', `--out ${dir} exists and is not a folder`);
    entries = await readdir(dir);
  } catch (err) {
    if (err instanceof CollapseError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CollapseError('E_BAD_ARGUMENT', `cannot use --out ${dir}: ${fsReason(err)}`, { cause: err });
  }
  if (entries.length > 0) {
    if (!force) {
      throw new CollapseError('E_BAD_ARGUMENT', `run folder ${dir} already exists and is not empty: choose another --out, continue it with --resume ${dir}, or pass --force to replace it`);
    }
    // --force replaces a collapse-lab run folder only, and removes only what a run writes.
    const foreign = await foreignEntry(dir);
    if (foreign !== null) {
      throw new CollapseError(
        'E_BAD_ARGUMENT',
        `refusing to replace ${dir} with --force: ${foreign}, so it is not a collapse-lab run folder; nothing was deleted (choose another --out)`,
      );
    }
    for (const e of entries) {
      await rm(join(dir, e), { recursive: true, force: true }).catch((err: unknown) => {
        throw writeError(err, join(dir, e), 'E_BAD_ARGUMENT');
      });
    }
  }
  // One level at a time: Node's recursive mkdir never returns on paths such as /proc/nope.
  await ensureFolder(dir, { what: '--out' });
}

/**
 * What a run writes (see the module comment), path by path relative to the run folder; temp files
 * of atomic writes (".NAME.PID.HEX.tmp") may lie anywhere in it. Extend this list with any file a
 * run starts writing, or --force will refuse to replace such folders.
 */
const RUN_FILES: RegExp[] = [
  /^config\.json$/,
  /^metrics\.(jsonl|csv)$/,
  /^timings\.jsonl$/,
  /^samples\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\.(jsonl|txt)$/,
  /^models\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\/(config\.json|model\.safetensors|tokenizer\.json|vocabulary\.json)$/,
  // A save interrupted before its staging folder was removed (Transformer.save).
  /^models\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\/\.collapse-save-[A-Za-z0-9]+\/(config\.json|model\.safetensors|tokenizer\.json|vocabulary\.json)$/,
  /^state\/progress\.json$/,
  /^state\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\.bin$/,
  /^report\.html$/,
  /^figures\/[a-z0-9-]+\.svg$/,
];
const RUN_FOLDERS: RegExp[] = [
  /^figures$/, /^samples$/, /^samples\/[a-z][a-z0-9-]*$/, /^state$/, /^state\/[a-z][a-z0-9-]*$/,
  /^models$/, /^models\/[a-z][a-z0-9-]*$/, /^models\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}$/, /^models\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\/\.collapse-save-[A-Za-z0-9]+$/,
];
const TEMP_FILE = /^\..+\.[0-9]+\.[0-9a-f]{8}\.tmp$/;

/**
 * Why `dir` is not a collapse-lab run folder (a reason for the message), or null when it is one:
 * a config.json with collapse-lab's marker, a state/progress.json, and nothing but what a run
 * writes (no symbolic links, no special files).
 */
async function foreignEntry(dir: string): Promise<string | null> {
  const cfgPath = join(dir, 'config.json');
  let meta: unknown;
  try {
    if (!(await statRegularFile(cfgPath))) return 'it has no config.json';
    meta = JSON.parse(await readRegularText(cfgPath, { maxBytes: 16 * 2 ** 20 }));
  } catch {
    return 'its config.json is not one collapse-lab wrote';
  }
  if (!isObject(meta) || typeof meta.collapseLab !== 'string' || !isObject(meta.config)) return 'its config.json is not one collapse-lab wrote';
  try {
    if (!(await statRegularFile(join(dir, 'state', 'progress.json')))) return 'it has no state/progress.json';
  } catch {
    return 'its state/progress.json is not a file';
  }
  const walk = async (rel: string, depth: number): Promise<string | null> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(rel ? join(dir, rel) : dir, { withFileTypes: true });
    } catch (err) {
      return `${rel || dir} cannot be listed (${fsReason(err)})`;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isFile() && TEMP_FILE.test(e.name)) continue;
      const known = e.isFile() ? RUN_FILES.some((re) => re.test(p)) : e.isDirectory() && depth < 4 && RUN_FOLDERS.some((re) => re.test(p));
      if (!known) return `it holds ${p}, which a run does not write`;
      if (e.isDirectory()) {
        const why = await walk(p, depth + 1);
        if (why !== null) return why;
      }
    }
    return null;
  };
  return walk('', 0);
}

async function readJson(path: string, what: string): Promise<unknown> {
  if (!(await statRegularFile(path, { message: (p, reason) => `cannot resume: ${what} ${p}: ${reason}` }))) {
    throw new CollapseError('E_BAD_ARGUMENT', `cannot resume: no ${what} at ${path} (is this a collapse-lab run folder?)`);
  }
  const text = await readRegularText(path, { message: (p, reason) => `cannot resume: ${what} ${p}: ${reason}` });
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
async function removeStrayTemps(dir: string, depth = 4): Promise<void> {
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

/** mkdir -p inside the run folder (which exists), with file-system errors naming the path. */
async function makeFolder(path: string): Promise<void> {
  await mkdir(path, { recursive: true }).catch((err: unknown) => {
    throw writeError(err, path);
  });
}
