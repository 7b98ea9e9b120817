/**
 * Transformer: a GPT-Neo language model (Hugging Face's architecture and tensor names) on the
 * native CPU engine — train from scratch, score, sample with a KV cache, next-token distributions.
 * See native/transformer/model.hh for the architecture and conventions.
 *
 * Every call that does work runs off the JS thread; calls on one model are queued and run one
 * after another. Results never depend on the thread count.
 */
import { checkThreads } from '../util/check.js';
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Vocabulary } from '../corpus/vocabulary.js';
import { CollapseError, fromNative } from '../errors.js';
import { loadNative, type NativeTrainStep, type NativeTransformer, type NativeTransformerInfo } from '../native.js';
import { HfTokenizer } from '../tokenizers/hf.js';
import type { TextTokenizer } from '../tokenizers/types.js';
import { WordTokenizer } from '../tokenizers/word.js';
import { writeFileAtomic } from '../util/fs.js';
import { ensureFolder, readRegularText, writeError } from '../util/paths.js';
import { CallQueue, snapshot } from './queue.js';
import { checkMemory, memoryLimit, transformerBytes, type TransformerPhase } from '../util/memory.js';
import { CHECKPOINT_FILES, CHECKPOINT_PRODUCER, checkSaveTarget, planTensors } from './gpt-neo-checkpoint.js';
import { GPT_NEO_LIMITS as L, readHfConfig, writeHfConfig, type AttentionKind, type GptNeoConfig } from './hf-config.js';
import { SafetensorsFile, writeSafetensors } from './safetensors.js';
import type { EvaluateResult, LanguageModel, SampleOptions, SampleResult, TokenCorpus } from './types.js';
import { bad, checkCorpus, checkInt, checkNumber, checkSampleOptions, describe, isU32 } from './validate.js';

export type AttentionType = AttentionKind;
export type TransformerPreset = 'tinystories-1m' | 'tinystories-33m';

export interface TransformerConfigOptions {
  vocabSize: number;
  /** Width C of the residual stream. */
  hidden: number;
  layers: number;
  /** Attention heads; must divide hidden. */
  heads: number;
  /** Local layers: query i sees keys j with i - window < j ≤ i. */
  window: number;
  /** Longest sequence (rows of the position embedding, HF's max_position_embeddings). */
  contextLength: number;
  /** MLP width; default 4 × hidden. */
  intermediate?: number;
  /** One type per layer; default global, local, global, … */
  attention?: AttentionType[];
  /** Default min(50256, vocabSize - 1) (GPT-2's <|endoftext|> where it fits), for both. */
  bos?: number;
  eos?: number;
  /** Threads for every job; default all cores. Results never depend on it. */
  threads?: number;
  /** Text tokenizer to keep with the model (saved with it); its vocabulary must fit vocabSize. */
  tokenizer?: TextTokenizer;
  /** What fit() does (LanguageModel): init from `initSeed` if needed, then train with these. */
  fit?: TransformerFitOptions;
  /**
   * Refuse (E_MEMORY_LIMIT) what the engine is estimated to need beyond this many bytes (or "8G"):
   * the model itself at construction, then each train/evaluate/sample/conditional call. Default:
   * $COLLAPSE_MEMORY_LIMIT, else 80 % of the machine's memory (src/util/memory.ts).
   */
  memoryLimit?: number | string;
}

export interface TransformerPresetOptions {
  preset: TransformerPreset;
  /** Default 50257 (GPT-2's vocabulary). */
  vocabSize?: number;
  /** Default 50256 (GPT-2's <|endoftext|>), for both. */
  bos?: number;
  eos?: number;
  threads?: number;
  tokenizer?: TextTokenizer;
  fit?: TransformerFitOptions;
  /**
   * Refuse (E_MEMORY_LIMIT) what the engine is estimated to need beyond this many bytes (or "8G"):
   * the model itself at construction, then each train/evaluate/sample/conditional call. Default:
   * $COLLAPSE_MEMORY_LIMIT, else 80 % of the machine's memory (src/util/memory.ts).
   */
  memoryLimit?: number | string;
}

export type TransformerOptions = TransformerConfigOptions | TransformerPresetOptions;

/** The resolved architecture: a GPT-Neo config as config.json reads and writes it. */
export type TransformerConfig = GptNeoConfig;

/** One optimizer step's report, as the engine gives it. */
export type TrainProgress = NativeTrainStep;

export interface TrainOptions {
  /** Passes over the corpus (default 1); exclusive with `steps`. */
  epochs?: number;
  /** Exactly this many optimizer steps, cycling over epochs. */
  steps?: number;
  /** Windows per step (default 8). */
  batchSize?: number;
  /** Tokens per window (default min(128, contextLength)). */
  seqLen?: number;
  /** Peak learning rate (default 1e-3). */
  lr?: number;
  /** 'constant' (default) or 'cosine' (decays to 0 at the last step), after the warm-up. */
  schedule?: 'constant' | 'cosine';
  /** Linear warm-up steps (default 0). */
  warmup?: number;
  /** Decoupled AdamW weight decay on 2-D weights (default 0). */
  weightDecay?: number;
  /** Global gradient-norm clip (default 1; 0 = off). */
  clip?: number;
  /** Batch order seed (default 0). */
  seed?: number;
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
}

/** fit()'s stored options: train()'s (but the signal) and the seed of init() when fit() must init. */
export interface TransformerFitOptions extends Omit<TrainOptions, 'signal'> {
  /** Seed of init() when the model has no parameters yet (default 0). */
  initSeed?: number;
}

export interface LoadTransformerOptions {
  /** Threads for every job; default all cores. */
  threads?: number;
  /** As TransformerConfigOptions.memoryLimit (checked before any tensor is read). */
  memoryLimit?: number | string;
}

export interface TrainResult {
  steps: number;
  /** Loss of the last step. */
  loss: number;
}

export interface NamedParameter {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** The TinyStories architectures, by preset name (the experiment config reads them from here). */
export const PRESETS: Readonly<Record<TransformerPreset, Omit<TransformerConfig, 'vocabSize' | 'bos' | 'eos'>>> = {
  'tinystories-1m': { hidden: 64, layers: 8, heads: 16, window: 256, contextLength: 2048, intermediate: 256, attention: alternating(8), layerNormEpsilon: 1e-5 },
  'tinystories-33m': { hidden: 768, layers: 4, heads: 16, window: 256, contextLength: 2048, intermediate: 3072, attention: alternating(4), layerNormEpsilon: 1e-5 },
};

function alternating(layers: number): AttentionType[] {
  return Array.from({ length: layers }, (_, i) => (i % 2 === 0 ? 'global' : 'local'));
}

function resolve(options: TransformerOptions): TransformerConfig {
  if (typeof options !== 'object' || options === null) bad('Transformer expects an options object');
  if ('preset' in options && options.preset !== undefined) {
    const p = PRESETS[options.preset];
    if (!p) bad(`preset must be one of ${Object.keys(PRESETS).join(', ')}; got ${describe(options.preset)}`);
    const vocabSize = options.vocabSize === undefined ? 50257 : checkInt('vocabSize', options.vocabSize, 2, L.vocabSize);
    const dflt = 50256;
    if ((options.bos === undefined || options.eos === undefined) && dflt >= vocabSize)
      bad(`with vocabSize ${vocabSize} the preset's default bos/eos (${dflt}) do not fit: pass bos and eos`);
    const bos = options.bos === undefined ? dflt : checkInt('bos', options.bos, 0, vocabSize - 1);
    const eos = options.eos === undefined ? dflt : checkInt('eos', options.eos, 0, vocabSize - 1);
    return { ...p, attention: [...p.attention], vocabSize, bos, eos };
  }
  const o = options as TransformerConfigOptions;
  const vocabSize = checkInt('vocabSize', o.vocabSize, 2, L.vocabSize);
  const hidden = checkInt('hidden', o.hidden, 1, L.hidden);
  const layers = checkInt('layers', o.layers, 1, L.layers);
  const heads = checkInt('heads', o.heads, 1, L.heads);
  if (hidden % heads !== 0) bad(`heads (${heads}) must divide hidden (${hidden})`);
  const window = checkInt('window', o.window, 1, L.window);
  const contextLength = checkInt('contextLength', o.contextLength, 1, L.contextLength);
  const intermediate = o.intermediate === undefined ? 4 * hidden : checkInt('intermediate', o.intermediate, 1, L.intermediate);
  let attention: AttentionType[];
  if (o.attention === undefined) attention = alternating(layers);
  else {
    if (!Array.isArray(o.attention) || o.attention.length !== layers)
      bad(`attention must be an array of ${layers} entries ('global' | 'local'), got ${describe(o.attention)}${Array.isArray(o.attention) ? ` of length ${o.attention.length}` : ''}`);
    o.attention.forEach((a, i) => {
      if (a !== 'global' && a !== 'local') bad(`attention[${i}] must be 'global' or 'local', got ${describe(a)}`);
    });
    attention = [...o.attention];
  }
  const dflt = Math.min(50256, vocabSize - 1);
  const bos = o.bos === undefined ? dflt : checkInt('bos', o.bos, 0, vocabSize - 1);
  const eos = o.eos === undefined ? dflt : checkInt('eos', o.eos, 0, vocabSize - 1);
  return { vocabSize, hidden, layers, heads, window, contextLength, intermediate, attention, bos, eos, layerNormEpsilon: 1e-5 };
}

function aborted(): CollapseError {
  return new CollapseError('E_ABORTED', 'aborted');
}

export class Transformer implements LanguageModel {
  readonly config: TransformerConfig;
  #native: NativeTransformer;
  #queue = new CallQueue();
  /** Set by the init/setParameters job itself, so a call queued after init() sees it. */
  #initialized = false;
  #tokenizer: TextTokenizer | undefined;
  #memoryLimit: number;
  /** fit()'s options (LanguageModel.fit takes only a corpus and a signal). */
  fitOptions: TransformerFitOptions;

  constructor(options: TransformerOptions) {
    this.config = resolve(options);
    this.fitOptions = { ...(options.fit ?? {}) };
    if (options.tokenizer !== undefined) this.tokenizer = options.tokenizer;
    const threads = options.threads === undefined ? availableParallelism() : checkThreads(options.threads);
    const c = this.config;
    this.#memoryLimit = memoryLimit(options.memoryLimit);
    this.#checkMemory({ kind: 'construct' });
    const { Transformer: Native } = loadNative();
    try {
      this.#native = new Native({
        vocabSize: c.vocabSize,
        contextLength: c.contextLength,
        hidden: c.hidden,
        layers: c.layers,
        heads: c.heads,
        window: c.window,
        intermediate: c.intermediate,
        local: c.attention.map((a) => a === 'local'),
        bos: c.bos,
        eos: c.eos,
        threads,
      });
    } catch (err) {
      fromNative(err);
    }
  }

  get vocabSize(): number {
    return this.config.vocabSize;
  }
  /** Number of parameters (wte counted once: lm_head is tied to it). */
  get parameterCount(): number {
    return this.#native.info().parameters;
  }
  get threads(): number {
    return this.#native.info().threads;
  }
  set threads(t: number) {
    this.#native.setThreads(checkThreads(t));
  }
  info(): NativeTransformerInfo {
    return this.#native.info();
  }

  /** The text tokenizer kept with the model (saved by save(), restored by load()), if any. */
  get tokenizer(): TextTokenizer | undefined {
    return this.#tokenizer;
  }
  set tokenizer(t: TextTokenizer | undefined) {
    if (t !== undefined) {
      if (typeof t !== 'object' || t === null || typeof t.encode !== 'function' || typeof t.decode !== 'function' || !Number.isInteger(t.vocabSize)) {
        bad(`tokenizer must be a TextTokenizer (HfTokenizer, WordTokenizer, trainByteLevelBpe), got ${describe(t)}`);
      }
      if (t.vocabSize > this.config.vocabSize) bad(`the tokenizer has ${t.vocabSize} ids but the model's vocabulary holds ${this.config.vocabSize}`);
    }
    this.#tokenizer = t;
  }

  /** Whether the model has parameters (init, setParameters or load). */
  get initialized(): boolean {
    return this.#initialized;
  }

  /**
   * Runs jobs on this model one after another, in call order (a failed job does not block the
   * next); a job that finds the queue idle starts synchronously (see queue.ts).
   */
  #run<T>(job: () => Promise<T>): Promise<T> {
    return this.#queue.run(true, job).then(
      (v) => v,
      (err) => fromNative(err),
    );
  }

  /** Throws E_MEMORY_LIMIT when `phase` is estimated to need more than the memory limit. */
  #checkMemory(phase: TransformerPhase): void {
    const c = this.config;
    const what =
      phase.kind === 'construct'
        ? `a transformer with vocabulary ${c.vocabSize}, hidden ${c.hidden}, ${c.layers} layers and context ${c.contextLength}`
        : phase.kind === 'train'
          ? `training this transformer (batch ${phase.batchSize} × ${phase.seqLen}) on ${phase.tokens} tokens`
          : phase.kind === 'evaluate'
            ? `scoring ${phase.tokens} tokens with this transformer`
            : phase.kind === 'conditional'
              ? `${phase.rows} next-token rows of ${c.vocabSize} from this transformer`
              : `sampling from this transformer (maxLength ${phase.maxLength})`;
    checkMemory(what, transformerBytes(c, phase), this.#memoryLimit, phase.kind === 'construct' ? 'use a smaller model' : undefined);
  }

  /** Whether a call made now waits for earlier ones (its input arrays are then copied). */
  get #busy(): boolean {
    return this.#queue.mustWait(true);
  }

  /** Throws E_NOT_FITTED (inside a job: after the earlier init/setParameters have run). */
  #requireInit(what: string): void {
    if (!this.#initialized) {
      throw new CollapseError('E_NOT_FITTED', `the transformer has no parameters yet: call init(seed), fit(), setParameters() or Transformer.load() before ${what}()`);
    }
  }

  /** Hugging Face initialisation from a seed: normal(0, 0.02) weights, LayerNorm 1/0, biases 0. */
  async init(seed: number): Promise<void> {
    const s = checkInt('seed', seed, 0);
    await this.#run(async () => {
      await this.#native.init(s);
      this.#initialized = true;
    });
  }

  /**
   * LanguageModel.fit: init(initSeed) when the model has no parameters yet, then train() with
   * `fitOptions` overridden by `options`. (For a fresh model per call, construct one, or init().)
   */
  async fit(corpus: TokenCorpus, options: TransformerFitOptions & { signal?: AbortSignal } = {}): Promise<void> {
    const o = { ...this.fitOptions, ...options };
    const initSeed = o.initSeed === undefined ? 0 : checkInt('initSeed', o.initSeed, 0);
    const { initSeed: _ignored, ...train } = o;
    // One job: whether to init is decided when the job runs, after the earlier calls.
    await this.#train(corpus, train, initSeed);
  }

  /**
   * Trains with AdamW (β 0.9/0.95, ε 1e-8; fresh optimizer state at each call) on contiguous
   * windows of the corpus's token stream (BOS/EOS inserted per sequence), in an order drawn from
   * (seed, epoch). Cancelling through `signal` stops after the current step (parameters keep the
   * updates made so far) and rejects with E_ABORTED.
   */
  async train(corpus: TokenCorpus, options: TrainOptions = {}): Promise<TrainResult> {
    return this.#train(corpus, options, undefined);
  }

  /** train(), preceded by init(initSeed) in the same job when initSeed is given and the model has no parameters. */
  async #train(corpus: TokenCorpus, options: TrainOptions, initSeed: number | undefined): Promise<TrainResult> {
    const c0 = checkCorpus(corpus);
    if (typeof options !== 'object' || options === null) bad('train options must be an object');
    if (options.epochs !== undefined && options.steps !== undefined) bad('train takes `epochs` or `steps`, not both');
    const epochs = options.epochs === undefined ? 1 : checkInt('epochs', options.epochs, 1, 1e9);
    const steps = options.steps === undefined ? 0 : checkInt('steps', options.steps, 1, 1e15);
    const batchSize = options.batchSize === undefined ? 8 : checkInt('batchSize', options.batchSize, 1, 1 << 20);
    const seqLen =
      options.seqLen === undefined ? Math.min(128, this.config.contextLength) : checkInt('seqLen', options.seqLen, 1, this.config.contextLength);
    const lr = options.lr === undefined ? 1e-3 : checkNumber('lr', options.lr, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
    const schedule = options.schedule ?? 'constant';
    if (schedule !== 'constant' && schedule !== 'cosine') bad(`schedule must be 'constant' or 'cosine', got ${describe(schedule)}`);
    const warmup = options.warmup === undefined ? 0 : checkInt('warmup', options.warmup, 0, 1e15);
    const weightDecay =
      options.weightDecay === undefined ? 0 : checkNumber('weightDecay', options.weightDecay, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0');
    const clip = options.clip === undefined ? 1 : checkNumber('clip', options.clip, (x) => x >= 0 && Number.isFinite(x), 'a finite number >= 0 (0 = off)');
    const seed = options.seed === undefined ? 0 : checkInt('seed', options.seed, 0);
    const onProgress = options.onProgress;
    if (onProgress !== undefined && typeof onProgress !== 'function') bad('onProgress must be a function');
    checkTokens(c0, this.config.vocabSize);
    if (c0.offsets.length < 2) throw new CollapseError('E_CORPUS_EMPTY', 'the training corpus holds no sequences');
    this.#checkMemory({ kind: 'train', batchSize, seqLen, tokens: c0.tokens.length, sequences: c0.offsets.length - 1 });
    const signal = options.signal;
    if (signal?.aborted) throw aborted();
    const copy = this.#busy;
    const c = { tokens: snapshot(c0.tokens, copy), offsets: snapshot(c0.offsets, copy) };
    return this.#run(async () => {
      if (signal?.aborted) throw aborted();
      if (!this.#initialized && initSeed !== undefined) {
        await this.#native.init(initSeed);
        this.#initialized = true;
      }
      this.#requireInit('train');
      const onAbort = () => this.#native.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        const r = await this.#native.train(
          c.tokens,
          c.offsets,
          { epochs: steps ? 0 : epochs, steps, batchSize, seqLen, lr, schedule: schedule === 'cosine' ? 1 : 0, warmup, weightDecay, clip, seed },
          onProgress ? (p) => onProgress({ ...p }) : undefined,
        );
        if (r.cancelled) throw aborted();
        return { steps: r.steps, loss: r.lastLoss };
      } finally {
        signal?.removeEventListener('abort', onAbort);
      }
    });
  }

  /**
   * Log-likelihood and perplexity of every position (tokens and one EOS per sequence), each
   * sequence read as BOS t1..tm EOS. Sequences longer than the context are scored by a sliding
   * window of contextLength positions moved by `stride` (default contextLength / 2): each window
   * scores only the positions the previous one did not (Hugging Face's perplexity recipe).
   */
  async evaluate(corpus: TokenCorpus, options: { perPosition?: boolean; stride?: number } = {}): Promise<EvaluateResult> {
    const c0 = checkCorpus(corpus);
    const stride = options.stride === undefined ? 0 : checkInt('stride', options.stride, 1, this.config.contextLength);
    checkTokens(c0, this.config.vocabSize);
    this.#checkMemory({ kind: 'evaluate', tokens: c0.tokens.length, sequences: Math.max(0, c0.offsets.length - 1) });
    const copy = this.#busy;
    const c = { tokens: snapshot(c0.tokens, copy), offsets: snapshot(c0.offsets, copy) };
    return this.#run(async () => {
      this.#requireInit('evaluate');
      const pending = this.#native.evaluate(c.tokens, c.offsets, stride, options.perPosition === true);
      const r = await pending.promise;
      const perplexity = r.positions === 0 ? NaN : Math.exp(-r.logLikelihood / r.positions);
      return {
        logLikelihood: r.logLikelihood,
        positions: r.positions,
        perplexity,
        zeroProbability: 0,
        ...(pending.logProbs ? { logProbs: pending.logProbs } : {}),
      };
    });
  }

  /**
   * Draws whole sequences BOS → EOS (cut at maxLength ≤ contextLength), many at once with a KV
   * cache. Sequence i depends only on (seed, i).
   */
  async sample(options: SampleOptions): Promise<SampleResult> {
    const request = checkSampleOptions(options, this.config.contextLength);
    this.#checkMemory({ kind: 'sample', maxLength: request.maxLength, threads: this.threads });
    return this.#run(async () => {
      this.#requireInit('sample');
      return this.#native.sample(request);
    });
  }

  /**
   * p̂(·|prefix) for each prefix (ids used as given: add BOS yourself if the prefix is a sequence
   * start; at least one token; only the last contextLength tokens are read). Returns
   * prefixes × vocabSize, row-major. A flat Uint32Array is read as rows of `width` ids (default:
   * one prefix).
   */
  async conditional(prefixes: Uint32Array[] | Uint32Array, options: { width?: number; float64?: boolean } = {}): Promise<Float32Array | Float64Array> {
    let flat: Uint32Array;
    let starts: Uint32Array;
    if (isU32(prefixes)) {
      const width = options.width === undefined ? prefixes.length : checkInt('width', options.width, 1, 1 << 30);
      if (width === 0 || prefixes.length % width !== 0) bad(`contexts.length (${prefixes.length}) must be a positive multiple of the width (${width})`);
      const n = prefixes.length / width;
      flat = snapshot(prefixes, this.#busy);
      starts = new Uint32Array(n + 1);
      for (let i = 0; i <= n; i++) starts[i] = i * width;
    } else {
      if (!Array.isArray(prefixes)) bad(`prefixes must be an array of Uint32Array, got ${describe(prefixes)}`);
      starts = new Uint32Array(prefixes.length + 1);
      let total = 0;
      prefixes.forEach((p, i) => {
        if (!isU32(p)) bad(`prefixes[${i}] must be a Uint32Array, got ${describe(p)}`);
        if (p.length === 0) bad(`prefixes[${i}] is empty: a prefix needs at least one token (e.g. BOS)`);
        total += p.length;
        starts[i + 1] = total;
      });
      flat = new Uint32Array(total);
      prefixes.forEach((p, i) => flat.set(p, starts[i]!));
    }
    const V = this.config.vocabSize;
    this.#checkMemory({ kind: 'conditional', rows: starts.length - 1 });
    for (let i = 0; i < flat.length; i++)
      if (flat[i]! >= V) throw new CollapseError('E_TOKEN_RANGE', `token ${flat[i]} in the prefixes is outside the vocabulary (size ${V})`);
    const rows = await this.#run(async () => {
      this.#requireInit('conditional');
      const pending = this.#native.conditional(flat, starts);
      await pending.promise;
      return pending.rows;
    });
    return options.float64 ? Float64Array.from(rows) : rows;
  }

  /** Every parameter tensor (a copy), with Hugging Face's names and shapes, in the engine's order. */
  async parameters(): Promise<NamedParameter[]> {
    return this.#run(async () => this.#native.getParams());
  }

  /**
   * Copies named tensors into the model (any subset; names and sizes must match parameters()).
   * Marks the model as initialised.
   */
  async setParameters(tensors: { name: string; data: Float32Array }[]): Promise<void> {
    if (!Array.isArray(tensors)) bad(`setParameters expects an array of { name, data }, got ${describe(tensors)}`);
    // Checked and copied now (the caller may reuse its arrays at once); NaN/±Inf refused.
    const copies = tensors.map((t, i) => {
      if (typeof t !== 'object' || t === null) bad(`setParameters: entry ${i} is not an object`);
      if (!ArrayBuffer.isView(t.data) || Object.prototype.toString.call(t.data) !== '[object Float32Array]') bad(`setParameters: ${describe(t.name)}.data must be a Float32Array, got ${describe(t.data)}`);
      const data = t.data.slice();
      for (let j = 0; j < data.length; j++) {
        if (!Number.isFinite(data[j]!)) bad(`setParameters: tensor ${describe(t.name)} holds a non-finite value (${data[j]}) at index ${j}`);
      }
      return { name: t.name, data };
    });
    await this.#run(async () => {
      this.#native.setParams(copies);
      this.#initialized = true;
    });
  }

  /** setParameters() for tensors already checked for finite values, in arrays no caller holds. */
  async #setChecked(tensors: { name: string; data: Float32Array }[]): Promise<void> {
    await this.#run(async () => {
      this.#native.setParams(tensors);
      this.#initialized = true;
    });
  }

  /**
   * Saves the model in Hugging Face layout into the folder `dir` (created if needed):
   * config.json (GPT-Neo), model.safetensors (F32, HF names, lm_head tied and not stored) and the
   * attached tokenizer (tokenizer.json, or vocabulary.json for a word-level one). Every file is
   * written in a staging folder first and then renamed into place; a folder holding a checkpoint
   * that collapse-lab did not write is refused (E_BAD_ARGUMENT) and left untouched.
   */
  async save(dir: string): Promise<void> {
    if (typeof dir !== 'string' || dir.length === 0) bad(`save expects a folder path, got ${describe(dir)}`);
    if (!this.#initialized) throw new CollapseError('E_NOT_FITTED', 'the model has no parameters yet: call init(), fit() or setParameters() before save()');
    await checkSaveTarget(dir);
    await ensureFolder(dir, { code: 'E_IO', what: 'checkpoint folder' });
    const stage = await mkdtemp(join(dir, '.collapse-save-')).catch((err: unknown) => {
      throw writeError(err, dir);
    });
    try {
      const tok = this.#tokenizer;
      const tokKind = tok === undefined ? 'none' : tok instanceof WordTokenizer ? 'word' : tok.kind;
      const written: string[] = [];
      await writeSafetensors(join(stage, CHECKPOINT_FILES.weights), await this.parameters(), {
        metadata: { format: 'pt', producer: CHECKPOINT_PRODUCER, tokenizer: tokKind },
      });
      written.push(CHECKPOINT_FILES.weights);
      await writeHfConfig(join(stage, CHECKPOINT_FILES.config), this.config);
      written.push(CHECKPOINT_FILES.config);
      if (tok instanceof WordTokenizer) {
        await writeFileAtomic(join(stage, CHECKPOINT_FILES.vocabulary), `${JSON.stringify(tok.vocabulary.toJSON())}\n`);
        written.push(CHECKPOINT_FILES.vocabulary);
      } else if (tok instanceof HfTokenizer) {
        await tok.save(join(stage, CHECKPOINT_FILES.tokenizer));
        written.push(CHECKPOINT_FILES.tokenizer);
      } else if (tok !== undefined) {
        bad(`save cannot store a tokenizer of kind ${describe(tok.kind)}: only HfTokenizer (tokenizer.json) and WordTokenizer (vocabulary.json) are saved`);
      }
      // Commit: the weights last, so the folder reads as collapse-lab's only once complete.
      for (const f of [...written.filter((f) => f !== CHECKPOINT_FILES.weights), CHECKPOINT_FILES.weights]) await rename(join(stage, f), join(dir, f));
      for (const f of [CHECKPOINT_FILES.tokenizer, CHECKPOINT_FILES.vocabulary]) {
        if (!written.includes(f)) await rm(join(dir, f), { force: true }); // a previous save's tokenizer
      }
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  }

  /**
   * Loads a GPT-Neo checkpoint folder in Hugging Face layout (one collapse-lab saved, or one
   * downloaded from the hub such as roneneldan/TinyStories-1M): config.json, model.safetensors
   * and, when present, tokenizer.json or vocabulary.json. Errors: E_BAD_CONFIG for a missing or
   * invalid config.json; E_BAD_MODEL_FILE for a missing or malformed model.safetensors, missing
   * tensors, a tensor whose shape the config contradicts (both shapes named), an untied lm_head,
   * or a corrupt tokenizer.
   */
  static async load(dir: string, options: LoadTransformerOptions = {}): Promise<Transformer> {
    if (typeof dir !== 'string' || dir.length === 0) bad(`load expects a checkpoint folder path, got ${describe(dir)}`);
    if (typeof options !== 'object' || options === null) bad('load options must be an object');
    try {
      if (!(await stat(dir)).isDirectory()) throw new CollapseError('E_BAD_MODEL_FILE', `${dir} is not a checkpoint folder (config.json + model.safetensors)`);
    } catch (err) {
      if (err instanceof CollapseError) throw err;
      throw new CollapseError('E_BAD_MODEL_FILE', `no checkpoint folder at ${dir} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    const cfgPath = join(dir, CHECKPOINT_FILES.config);
    const config = await readHfConfig(cfgPath);
    if (Math.abs(config.layerNormEpsilon - 1e-5) > 1e-12) {
      throw new CollapseError('E_BAD_CONFIG', `${cfgPath}: "layer_norm_epsilon" is ${config.layerNormEpsilon}; the engine implements 1e-5 only`);
    }
    // The model this config describes must fit before its weights file is even opened.
    checkMemory(
      `the checkpoint ${dir} (vocabulary ${config.vocabSize}, hidden ${config.hidden}, ${config.layers} layers)`,
      transformerBytes(config, { kind: 'construct' }),
      memoryLimit(options.memoryLimit),
    );
    const weightsPath = join(dir, CHECKPOINT_FILES.weights);
    let file: SafetensorsFile;
    try {
      file = await SafetensorsFile.open(weightsPath);
    } catch (err) {
      const hasBin = await stat(join(dir, 'pytorch_model.bin')).then(() => true, () => false);
      if (hasBin && (err as CollapseError).message.includes('cannot open')) {
        throw new CollapseError(
          'E_BAD_MODEL_FILE',
          `${dir} holds pytorch_model.bin but no model.safetensors: collapse-lab reads safetensors only (download the model.safetensors of the same repository, or convert with transformers' save_pretrained(safe_serialization=True))`,
          { cause: err },
        );
      }
      throw err;
    }
    try {
      const plan = planTensors(file, config, cfgPath);
      const model = new Transformer({
        vocabSize: config.vocabSize,
        hidden: config.hidden,
        layers: config.layers,
        heads: config.heads,
        window: config.window,
        contextLength: config.contextLength,
        intermediate: config.intermediate,
        attention: config.attention,
        bos: config.bos,
        eos: config.eos,
        ...(options.threads !== undefined ? { threads: options.threads } : {}),
        ...(options.memoryLimit !== undefined ? { memoryLimit: options.memoryLimit } : {}),
      });
      // Tensor by tensor: never more than one tensor besides the engine's copy.
      let wte: Float32Array | undefined;
      for (const s of plan.sources) {
        const data = await file.read(s.file.name);
        for (let i = 0; i < data.length; i++) {
          if (!Number.isFinite(data[i]!)) {
            throw new CollapseError('E_BAD_MODEL_FILE', `${weightsPath}: tensor ${JSON.stringify(s.file.name)} holds a non-finite value (${data[i]}) at index ${i}`);
          }
        }
        if (s.name === 'transformer.wte.weight' && plan.lmHead) wte = data;
        await model.#setChecked([{ name: s.name, data }]); // checked above; a fresh array nobody else holds
      }
      if (plan.lmHead && wte) {
        const head = await file.read(plan.lmHead.name);
        for (let i = 0; i < head.length; i++) {
          if (head[i] !== wte[i]) {
            throw new CollapseError(
              'E_BAD_MODEL_FILE',
              `${weightsPath}: "lm_head.weight" differs from "transformer.wte.weight" (first at index ${i}: ${head[i]} vs ${wte[i]}); the engine ties lm_head to the token embedding and cannot load an untied head`,
            );
          }
        }
      }
      model.tokenizer = await loadTokenizer(dir, file.metadata.tokenizer, config.bos, config.eos, config.vocabSize);
      return model;
    } finally {
      await file.close();
    }
  }

  /**
   * For tests and tools: mean cross-entropy of a (batch, length) block of inputs and next-token
   * targets (0xFFFFFFFF = not scored), keeping every gradient in the model (see gradients()).
   */
  async forwardBackward(inputs: Uint32Array, targets: Uint32Array, batch: number, length: number): Promise<number> {
    checkBlock(inputs, targets, batch, length, this.config.contextLength);
    const copy = this.#busy;
    const [i, t] = [snapshot(inputs as Uint32Array, copy), snapshot(targets as Uint32Array, copy)];
    return this.#run(async () => {
      this.#requireInit('forwardBackward');
      return this.#native.forwardBackward(i, t, batch, length);
    });
  }

  /** For tests and tools: the gradients of the last forwardBackward(), named as parameters(). */
  async gradients(): Promise<NamedParameter[]> {
    return this.#run(async () => this.#native.getGrads());
  }

  /**
   * For tests and tools: one AdamW step (PyTorch's arithmetic) with the kept gradients; `step` is
   * the bias-correction step (default 1, which also resets the moments). Returns the gradient norm.
   */
  async adamwStep(options: { lr: number; beta1?: number; beta2?: number; eps?: number; weightDecay?: number; clip?: number; step?: number }): Promise<number> {
    if (typeof options !== 'object' || options === null) bad('adamwStep expects an options object');
    const finite = (name: string, v: unknown, dflt: number) =>
      v === undefined ? dflt : checkNumber(name, v, (x) => Number.isFinite(x) && x >= 0, 'a finite number >= 0');
    const o = {
      lr: finite('lr', options.lr, NaN),
      beta1: finite('beta1', options.beta1, 0.9),
      beta2: finite('beta2', options.beta2, 0.95),
      eps: finite('eps', options.eps, 1e-8),
      weightDecay: finite('weightDecay', options.weightDecay, 0),
      clip: finite('clip', options.clip, 0),
      step: options.step === undefined ? 1 : checkInt('step', options.step, 1),
    };
    if (Number.isNaN(o.lr)) bad('adamwStep needs lr');
    return this.#run(() => this.#native.adamwStep(o));
  }

  /** For tests and tools: the mean cross-entropy of forwardBackward() without the backward pass. */
  async loss(inputs: Uint32Array, targets: Uint32Array, batch: number, length: number): Promise<number> {
    checkBlock(inputs, targets, batch, length, this.config.contextLength);
    const copy = this.#busy;
    const [i, t] = [snapshot(inputs as Uint32Array, copy), snapshot(targets as Uint32Array, copy)];
    return this.#run(async () => {
      this.#requireInit('loss');
      return this.#native.loss(i, t, batch, length);
    });
  }
}

/** The tokenizer of a checkpoint folder: tokenizer.json, else vocabulary.json, else none. */
async function loadTokenizer(dir: string, kind: string | undefined, bos: number, eos: number, vocabSize: number): Promise<TextTokenizer | undefined> {
  const tokPath = join(dir, CHECKPOINT_FILES.tokenizer);
  const vocPath = join(dir, CHECKPOINT_FILES.vocabulary);
  const has = (p: string) => stat(p).then(() => true, () => false);
  let tok: TextTokenizer | undefined;
  if (await has(tokPath)) {
    // BOS/EOS are the model's (config.json's ids), whatever the tokenizer's own defaults.
    tok = await HfTokenizer.fromFile(tokPath, { bos, eos, ...(kind === 'bpe' ? { kind: 'bpe' as const } : {}) }).catch((err: unknown) => {
      if ((err as CollapseError).code === 'E_BAD_ARGUMENT') {
        throw new CollapseError('E_BAD_MODEL_FILE', `${tokPath} does not fit the model: ${(err as Error).message}`, { cause: err });
      }
      throw err;
    });
  } else if (await has(vocPath)) {
    let vocab: Vocabulary;
    try {
      vocab = Vocabulary.fromJSON(await readRegularText(vocPath, { code: 'E_BAD_MODEL_FILE', maxBytes: 256 * 2 ** 20 }));
    } catch (err) {
      if (err instanceof CollapseError && err.message.startsWith('cannot read')) throw err;
      throw new CollapseError('E_BAD_MODEL_FILE', `${vocPath}: not a collapse-lab vocabulary (${(err as Error).message})`, { cause: err });
    }
    tok = new WordTokenizer(vocab);
  }
  if (tok && tok.vocabSize > vocabSize) {
    throw new CollapseError('E_BAD_MODEL_FILE', `${dir}: the tokenizer has ${tok.vocabSize} ids but config.json's vocab_size is ${vocabSize}`);
  }
  return tok;
}

function checkTokens(c: TokenCorpus, V: number): void {
  for (let i = 0; i < c.tokens.length; i++)
    if (c.tokens[i]! >= V) throw new CollapseError('E_TOKEN_RANGE', `token ${c.tokens[i]} at index ${i} is outside the vocabulary (size ${V})`);
}

function checkBlock(inputs: unknown, targets: unknown, batch: number, length: number, context: number): void {
  if (!isU32(inputs) || !isU32(targets)) bad('inputs and targets must be Uint32Arrays');
  checkInt('batch', batch, 1, 1 << 20);
  checkInt('length', length, 1, context);
  if (inputs.length !== batch * length || targets.length !== batch * length) bad(`inputs and targets must hold batch × length = ${batch * length} ids`);
}

