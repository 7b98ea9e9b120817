/**
 * Model drivers: the one interface the experiment runner talks to, whatever the model kind. A driver
 * turns the loaded corpus into the model's token streams (tokenise), and per paradigm hands the
 * runner a ParadigmModel that fits a generation, scores it on H, gives its probe rows and reference,
 * samples S_n, gives the theory rows when the kind has an error accounting, and saves the model.
 *
 * A new model kind is one new driver file and one line in drivers/index.ts (plus its model schema in
 * experiment/config.ts). The runner never asks which kind it runs.
 */
import type { Corpus, LoadCorpusOptions, LoadedCorpus } from '../../corpus/index.js';
import type { ProbeSet, SparseRows } from '../../metrics/index.js';
import type { EvaluateResult, SampleOptions, SampleResult, TokenCorpus } from '../../models/types.js';
import type { ParadigmName, ParadigmParams, ParadigmState } from '../../paradigms/index.js';
import type { TheoryRecord } from '../../theory/index.js';
import type { TextTokenizer } from '../../tokenizers/index.js';
import type { RunShape } from '../../util/memory.js';
import type { ExperimentConfig } from '../config.js';
import type { PretrainedStart } from '../init.js';

/** The model's view of the corpus. */
export interface ModelTokens {
  /** The real train split and the test split H, as the model's token ids. */
  train: Corpus;
  test: Corpus;
  /** |V| of the model. */
  vocabSize: number;
  bos: number;
  eos: number;
  /** Whether the metrics (probe contexts, n-gram support) get bos / eos, or keep their defaults. */
  passMarkers: boolean;
  /** The model's own text tokenizer (the transformer's), if it has one. */
  tokenizer?: TextTokenizer;
  /** Token ids back to text (the readable samples). */
  decode(ids: Uint32Array): string;
  /** A transformer's pretrained start (model.init), loaded once for every paradigm. */
  pretrained?: PretrainedStart;
}

/** What a driver gets to open a run: every quantity the runner shares between paradigms. */
export interface RunContext {
  config: ExperimentConfig;
  tokens: ModelTokens;
  /** The real corpus D (the train split, or its seeded draw) and the test split H. */
  D: Corpus;
  H: Corpus;
  probes: ProbeSet;
  /** Width of the probe contexts (order − 1). */
  width: number;
  params: ParadigmParams;
  threads: number;
  /** The run's memory limit in bytes (the models refuse a fit or a sample estimated above it). */
  memoryLimit: number;
  signal: AbortSignal | undefined;
}

/** Perplexity on H, and over the positions the model covers (p̂ > 0). */
export interface Score extends Omit<EvaluateResult, 'logProbs'> {
  covered: number | null;
}

/** A training step of a generation (transformer), for the progress display. */
export interface StepEvent {
  step: number;
  totalSteps: number;
  loss: number;
}

export type ProbeRows = Float32Array | Float64Array | ((a: number, b: number) => Promise<Float64Array>);

/** One paradigm's model, generation after generation. */
export interface ParadigmModel {
  /**
   * Resume: generation k (< the first this process runs) was finished by an earlier process; `state`
   * is its T_k and `sample` its S_k. The model rebuilds what later generations need from it.
   */
  replay(k: number, state: ParadigmState, sample: TokenCorpus): Promise<void>;
  /** Fits generation `state.generation` on T_n; returns the record fields the fit adds (e.g. trainSteps). */
  fit(state: ParadigmState, onStep?: (e: StepEvent) => void): Promise<Record<string, number>>;
  /** The fitted model on H. */
  score(): Promise<Score>;
  /**
   * p̂_n's rows at the probe contexts (contexts × V), or a function giving the rows of probes
   * [a, b) so that the divergence is summed block by block (an n-gram's rows are never all made).
   */
  probeRows(): Promise<ProbeRows>;
  /** The reference rows TV / KL are measured against (p0, kept sparse, or p̂_0), valid once generation 0's rows are known. */
  reference(): Float64Array | SparseRows;
  sample(options: SampleOptions): Promise<SampleResult>;
  /** The error accounting of generation `state.generation` (only kinds with theoryRows, with `theory` on). */
  theory(state: ParadigmState, sample: SampleResult): Promise<TheoryRecord | undefined>;
  /** Writes the fitted model (the model's own format). */
  save(path: string): Promise<void>;
}

export interface ModelDriver {
  kind: ExperimentConfig['model']['kind'];
  /** The columns this kind adds to metrics.csv. */
  csvColumns: readonly string[];
  /** Whether paradigms may run concurrently (false: one training job already uses every core). */
  concurrentParadigms: boolean;
  /** Loading options the model needs on top of the config's (e.g. a vocabulary cap). */
  loadOptions(config: ExperimentConfig): LoadCorpusOptions;
  /** The model's token streams from the loaded corpus (it may load a checkpoint first, and fill the config's record of it). */
  tokenise(corpus: LoadedCorpus, config: ExperimentConfig): ModelTokens | Promise<ModelTokens>;
  /** N when config.trainTokens is null: a train split larger than this is drawn down to it (null: the whole split). */
  defaultTrainTokens?: number;
  /** Width of the probe contexts. */
  probeWidth(config: ExperimentConfig): number;
  /** The model's part of the run's memory estimate (src/util/memory.ts). */
  memoryShape(config: ExperimentConfig, vocabSize: number, threads: number): RunShape['model'];
  /** Opens the run: returns the per-paradigm models (shared state, such as generation 0, lives here). */
  open(ctx: RunContext): Promise<{ paradigm(name: ParadigmName): ParadigmModel }>;
  /** One line naming the model (the CLI's header). */
  describe(config: ExperimentConfig): string;
  /** The title of the TV table (what TV is measured from). */
  tvTitle: string;
}
