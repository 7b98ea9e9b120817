/**
 * The experiment runner: corpus → generation after generation of fit / evaluate / sample under each
 * paradigm, with every quantity of docs/theory.md's "Quantities reported per generation" recorded,
 * and a run folder (./run-folder.ts) written atomically so that an interrupted run resumes to
 * byte-identical files.
 *
 * The runner knows neither the model kind nor the paradigms' rules: it talks to a model driver
 * (./drivers) and to the paradigm objects (../paradigms).
 */
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { concatCorpora, corpusPositions, deriveSeed, loadCorpus, subsampleSequences, type LoadedCorpus } from '../corpus/index.js';
import { CollapseError } from '../errors.js';
import { ngramSupportAsync, probeContexts } from '../metrics/index.js';
import { paradigm, type ParadigmName, type ParadigmParams } from '../paradigms/index.js';
import { checkThreads } from '../util/check.js';
import { writeFileAtomic } from '../util/fs.js';
import { checkMemory, memoryLimit, runBytes } from '../util/memory.js';
import { corpusLoadOptions, resolveConfig, type ExperimentConfig, type ExperimentConfigInput } from './config.js';
import { driverFor, type ModelDriver, type RunContext } from './drivers/index.js';
import { measure } from './measure.js';
import {
  appendTiming,
  csvColumns,
  isObject,
  makeFolder,
  prepareFolder,
  readJson,
  readSample,
  removeState,
  removeStrayTemps,
  saveGeneration,
  saveModel,
  saveProgress,
  sortRecords,
  statePath,
  verifyProgress,
  writeRecords,
  type MetricsRecord,
  type Progress,
} from './run-folder.js';

export { coveredPerplexity } from './measure.js';
export { CSV_COLUMNS, readSample, THEORY_CSV_COLUMNS, TRANSFORMER_CSV_COLUMNS, type MetricsRecord } from './run-folder.js';

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

const pkgVersion: string = (() => {
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

/** The most positions one generation may sample (the engine's 32-bit offsets). */
const MAX_SAMPLE_POSITIONS = 4_000_000_000;

export async function runExperiment(input: ExperimentConfigInput | ExperimentConfig, options: RunOptions = {}): Promise<RunResult> {
  const signal = options.signal;
  if (signal?.aborted) throw new CollapseError('E_ABORTED', 'interrupted before the run started; nothing was written');
  const resumed = options.resume !== undefined;
  const { config, dir, progress } = resumed ? await openResume(options.resume!) : freshRun(input, options.out);
  for (const p of config.paradigms) if (progress.finished[p] === undefined) progress.finished[p] = -1;
  const threads = options.threads === undefined ? availableParallelism() : checkThreads(options.threads);
  const driver = driverFor(config);
  // Every saved sample is verified before anything runs: the paradigms run side by side, so a
  // damaged file found later would leave another paradigm's new generations written.
  if (resumed && !progress.complete) {
    for (const p of config.paradigms) for (let k = 0; k <= progress.finished[p]!; k++) await readSample(statePath(dir, p, k));
  }

  // Everything that can fail on bad input happens before the run folder is touched.
  const corpus = await loadCorpus(config.corpus, {
    ...(config.minCount === null ? {} : { minCount: config.minCount }),
    ...driver.loadOptions(config),
    ...corpusLoadOptions(config.corpusOptions),
  });
  options.onCorpus?.(corpus.info);
  const tokens = await driver.tokenise(corpus, config);
  const { D, real, params } = realData(tokens.train, config, driver.defaultTrainTokens ?? null);
  const H = tokens.test;
  if (corpusPositions(H) === 0) throw new CollapseError('E_CORPUS_EMPTY', 'the test split is empty: the corpus is too small to hold out real test data');
  for (const p of config.paradigms) {
    const size = paradigm(p).sampleSize(params);
    if (size > MAX_SAMPLE_POSITIONS) {
      throw new CollapseError('E_BAD_CONFIG', `${p} would sample ${size} positions per generation (more than ${MAX_SAMPLE_POSITIONS}); lower trainTokens or the rate`);
    }
  }

  const memLimit = memoryLimit(options.memoryLimit);
  checkRunMemory(config, driver, tokens.vocabSize, params, threads, memLimit);
  options.onStart?.({ config, real });

  if (signal?.aborted) {
    throw new CollapseError('E_ABORTED', resumed ? 'the run was interrupted; continue it with --resume' : 'interrupted before the run started; nothing was written');
  }
  if (!resumed) await prepareFolder(dir, options.force === true);
  else await removeStrayTemps(dir);
  if (progress.complete) {
    await removeState(dir, config.paradigms);
    return { dir, config, records: sortRecords(progress.records), corpus: corpus.info, real, resumed };
  }
  await makeFolder(join(dir, 'state'));
  if (!resumed) {
    const meta = { collapseLab: pkgVersion, node: process.versions.node, config, trainTokens: params.trainTokens, real, corpus: { ...corpus.info } };
    await writeFileAtomic(join(dir, 'config.json'), JSON.stringify(meta, null, 2) + '\n');
    await saveProgress(dir, progress);
  }

  // Reference quantities of D, computed once and shared by every paradigm: the probe contexts (the
  // most frequent of D, of H, or of D ∪ H: --probes-from) and D's n-gram support (for coverage).
  const width = driver.probeWidth(config);
  const markers = tokens.passMarkers ? { bos: tokens.bos, eos: tokens.eos } : {};
  const probeSource = config.probesFrom === 'train' ? D : config.probesFrom === 'test' ? H : concatCorpora([D, H]);
  const probes = probeContexts(probeSource, { width, k: config.probes, ...(tokens.passMarkers ? { bos: tokens.bos } : {}) });
  const supportD = await ngramSupportAsync(D, { orders: [1, 2, 3], threads, ...markers });
  const ctx: RunContext = { config, tokens, D, H, probes, width, params, threads, memoryLimit: memLimit, signal };
  const models = await driver.open(ctx);
  const columns = csvColumns(driver.csvColumns, config.theory);

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
      await writeRecords(dir, snapshot.records, config.paradigms, columns);
      await saveProgress(dir, snapshot);
      await appendTiming(dir, timing);
    });
    return writing;
  };

  let failedEarly = false;
  const runParadigm = async (name: ParadigmName) => {
    const P = paradigm(name);
    const model = models.paradigm(name);
    const last = progress.finished[name] ?? -1;
    // Rebuild T_{last+1} from D and the saved S_0..S_last (the paradigms are deterministic); the
    // model replays what its later generations need.
    let state = P.initial(D, params);
    for (let k = 0; k <= last; k++) {
      const S = await readSample(statePath(dir, name, k));
      await model.replay(k, state, S);
      state = P.next(state, D, S, params);
    }
    for (let n = last + 1; n < config.generations; n++) {
      throwIfAborted(signal);
      if (failedEarly) throw new CollapseError('E_ABORTED', 'stopped: another paradigm failed');
      const emit = (stage: ProgressEvent['stage'], step?: object) => options.onProgress?.({ paradigm: name, generation: n, done, total, stage, ...step });
      const t0 = performance.now();
      emit('fit');
      const fitted = await model.fit(state, (p) => emit('train', { step: p.step, totalSteps: p.totalSteps, loss: p.loss })).catch((err: unknown) => {
        // A diverged step names the paradigm and the generation too.
        if (err instanceof CollapseError && err.code === 'E_DIVERGED') throw new CollapseError('E_DIVERGED', `${name}, generation ${n}: ${err.message}`, { cause: err });
        throw err;
      });
      const t1 = performance.now();
      emit('evaluate');
      const score = await model.score();
      const rows = await model.probeRows();
      const t2 = performance.now();
      throwIfAborted(signal);
      emit('sample');
      // config.sampling is the model's SampleOptions (maxLength, temperature, topK, topP) as they are.
      const S = await model.sample({ ...config.sampling, tokens: P.sampleSize(params), seed: deriveSeed(config.seed, 'sample', name, n) });
      const t3 = performance.now();
      emit('metrics');
      const record = await measure(name, n, state.train, score, rows, model.reference(), probes, S, D, supportD, threads);
      Object.assign(record, fitted);
      const theory = await model.theory(state, S);
      if (theory) record.theory = theory;
      const t4 = performance.now();
      // Persist S_n and its readable sample before the record says generation n is done.
      await saveGeneration(dir, name, n, S, tokens.decode, config.keepSamples);
      if (config.saveModels) await saveModel(dir, name, n, model);
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
      if (n + 1 < config.generations) state = P.next(state, D, S, params);
    }
  };

  // Paradigms run concurrently where the driver allows it (native work of one overlaps the JS
  // metrics of another), else one after another. The first failure stops the others at their next step.
  let firstError: unknown;
  const runOne = (p: ParadigmName) =>
    runParadigm(p).catch((err: unknown) => {
      firstError ??= err;
      failedEarly = true;
      throw err;
    });
  const results: PromiseSettledResult<void>[] = [];
  if (driver.concurrentParadigms) results.push(...(await Promise.allSettled(config.paradigms.map(runOne))));
  else {
    for (const p of config.paradigms) {
      if (failedEarly) break;
      results.push(...(await Promise.allSettled([runOne(p)])));
    }
  }
  await writing;
  if (results.some((r) => r.status === 'rejected')) throw firstError;

  progress.complete = true;
  progress.records = sortRecords([...records.values()]);
  await removeStrayTemps(dir);
  await writeRecords(dir, progress.records, config.paradigms, columns);
  await saveProgress(dir, progress);
  await removeState(dir, config.paradigms);
  return { dir, config, records: progress.records, corpus: corpus.info, real, resumed };
}

/** A resumed run: its config.json and its verified state/progress.json. */
async function openResume(dir: string): Promise<{ config: ExperimentConfig; dir: string; progress: Progress }> {
  const saved = await readJson(join(dir, 'config.json'), 'run config');
  if (!isObject(saved) || !isObject(saved.config)) throw new CollapseError('E_BAD_CONFIG', `${dir}/config.json is not a collapse-lab run config`);
  const config = resolveConfig(saved.config);
  const statePath = join(dir, 'state', 'progress.json');
  const state = await readJson(statePath, 'run state');
  if (!isObject(state) || state.version !== 1 || !isObject(state.finished) || !Array.isArray(state.records)) {
    throw new CollapseError('E_BAD_CONFIG', `${dir}/state/progress.json is not a collapse-lab run state`);
  }
  return { config, dir, progress: verifyProgress(state, statePath) };
}

function freshRun(input: ExperimentConfigInput | ExperimentConfig, out: string | undefined): { config: ExperimentConfig; dir: string; progress: Progress } {
  const config = resolveConfig(input);
  if (!out) throw new CollapseError('E_BAD_ARGUMENT', 'runExperiment needs options.out (the run folder)');
  return { config, dir: out, progress: { version: 1, complete: false, finished: {}, records: [] } };
}

/**
 * The real corpus D and N. N below the train split's size caps the real data itself: D is a seeded
 * draw of whole sequences of the split holding N positions, shared by every paradigm, so T_0 = D and
 * every later T_n have the same size (N is then |D|, which overshoots the request by less than one
 * sequence).
 */
function realData(split: RunContext['D'], config: ExperimentConfig, defaultCap: number | null): { D: RunContext['D']; real: RealInfo; params: ParadigmParams } {
  // Without trainTokens, the driver's default cap (the transformer's) draws D down to it.
  const cap = config.trainTokens ?? defaultCap;
  const drawn = cap !== null && cap < corpusPositions(split);
  const D = drawn ? subsampleSequences(split, cap, deriveSeed(config.seed, 'real-data')) : split;
  const params: ParadigmParams = {
    trainTokens: drawn || config.trainTokens === null ? corpusPositions(D) : config.trainTokens,
    rate: config.rate,
    accumulateRate: config.accumulateRate,
    realFraction: config.realFraction,
    seed: config.seed,
  };
  const real: RealInfo = {
    drawn,
    sequences: D.offsets.length - 1,
    positions: corpusPositions(D),
    splitSequences: split.offsets.length - 1,
    splitPositions: corpusPositions(split),
    trainTokens: params.trainTokens,
  };
  return { D, real, params };
}

/** The estimated peak memory against the limit, before the run folder is touched (src/util/memory.ts). */
function checkRunMemory(config: ExperimentConfig, driver: ModelDriver, vocabSize: number, params: ParadigmParams, threads: number, limit: number): void {
  checkMemory(
    `this run (${config.paradigms.length} paradigm(s), ${params.trainTokens} training positions, ${config.probes} probes × vocabulary ${vocabSize})`,
    runBytes({
      model: driver.memoryShape(config, vocabSize, threads),
      vocabSize,
      paradigms: config.paradigms.map((p) => paradigm(p).peakSizes(params, config.generations)),
      probes: config.probes,
      theory: config.theory === true,
    }),
    limit,
    'lower --train-tokens, --probes, --order or the model size',
  );
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CollapseError('E_ABORTED', 'the run was interrupted; continue it with --resume');
}

const round = (ms: number) => Math.round(ms * 10) / 10;
