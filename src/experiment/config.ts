/**
 * Experiment configuration: the schema (zod), its defaults, and validation whose messages name the
 * bad field. A resolved config is plain JSON and fully determines a run's results.
 */
import { z } from 'zod';
import { CollapseError } from '../errors.js';
import { PRESETS, type TransformerPreset } from '../models/transformer.js';
import { GPT_NEO_LIMITS as L } from '../models/hf-config.js';
import { PARADIGMS } from '../paradigms/index.js';
import { parseSplit, type LoadCorpusOptions } from '../corpus/index.js';
import { readInitArchitecture, SCRATCH } from './init.js';

/**
 * How a setting is offered: its `collapse run` flag (kebab-case, without --), the flag's argument
 * ('' for a switch) and its help line. The flags, the README's settings table and the config-file
 * checks all come from this one schema (see ./spec.ts). A default shown in the help comes from the
 * schema's own `.default()`; a help line that names a default does so only where the schema's is null.
 */
export interface SettingMeta {
  [key: string]: unknown;
  flag?: string;
  arg?: string;
  help: string;
  /** The CLI's choices when they differ from the schema's enum (aliases left out). */
  choices?: string[];
  /** A switch's --no- form, and its help. */
  negate?: string;
  /** The switch is on by default and has only its --no- form. */
  negateOnly?: boolean;
}
const cli = (flag: string, arg: string, help: string): SettingMeta => ({ flag, arg, help });
const doc = (help: string): SettingMeta => ({ help });

const positiveInt = (what: string) => z.number({ error: `${what} must be a number` }).int(`${what} must be an integer`).positive(`${what} must be > 0`);

export const NgramModelSchema = z
  .object({
    kind: z.literal('ngram'),
    order: positiveInt('model.order').max(12, 'model.order must be ≤ 12').default(3).meta(cli('order', '<n>', 'n-gram order')),
    smoothing: z.enum(['kneser-ney', 'mle', 'add-k'], { error: 'model.smoothing must be one of kneser-ney, mle, add-k' }).default('kneser-ney').meta(cli('smoothing', '<name>', 'n-gram estimator')),
    k: z.number().positive('model.k must be > 0').finite().default(1).meta(cli('k', '<x>', 'add-k constant')),
  })
  .strict();

export const TRANSFORMER_PRESETS = Object.keys(PRESETS) as [TransformerPreset, ...TransformerPreset[]];

/**
 * A GPT-Neo trained from scratch each generation. Architecture fields left null are filled by
 * resolveConfig (from the preset, or the defaults below), so a resolved config names them all.
 */
export const TransformerModelSchema = z
  .object({
    kind: z.literal('transformer'),
    /** Architecture of a TinyStories model (hidden, layers, heads, window, context 2048). */
    preset: z.enum(TRANSFORMER_PRESETS, { error: `model.preset must be one of ${TRANSFORMER_PRESETS.join(', ')}` }).nullable().default(null).meta(cli('preset', '<name>', 'transformer: a TinyStories architecture')),
    /** Default 64. */
    hidden: positiveInt('model.hidden').max(L.hidden, `model.hidden must be ≤ ${L.hidden}`).nullable().default(null).meta(cli('hidden', '<n>', 'transformer: width (default 64)')),
    /** Default 4. */
    layers: positiveInt('model.layers').max(L.layers, `model.layers must be ≤ ${L.layers}`).nullable().default(null).meta(cli('layers', '<n>', 'transformer: blocks (default 4)')),
    /** Default: hidden/16 (at most 16) when 16 divides hidden, else the largest of 4, 2, 1 dividing it. */
    heads: positiveInt('model.heads').max(L.heads, `model.heads must be ≤ ${L.heads}`).nullable().default(null).meta(cli('heads', '<n>', 'transformer: attention heads (default hidden/16, at most 16)')),
    /** Local attention window (default 256); layers alternate global, local. */
    window: positiveInt('model.window').max(L.window, `model.window must be ≤ ${L.window}`).nullable().default(null).meta(cli('window', '<n>', 'transformer: local attention window (default 256)')),
    /** Position-embedding rows; default max(seqLen, sampling.maxLength) (presets: 2048). */
    contextLength: positiveInt('model.contextLength').max(L.contextLength, `model.contextLength must be ≤ ${L.contextLength}`).nullable().default(null).meta(doc('transformer: position-embedding rows (default max(seqLen, maxLength); presets 2048)')),
    /** MLP width; default 4 × hidden. */
    intermediate: positiveInt('model.intermediate').max(L.intermediate, `model.intermediate must be ≤ ${L.intermediate}`).nullable().default(null).meta(doc('transformer: MLP width (default 4 × hidden)')),
    /** 'word': the corpus's word-level Vocabulary (the n-gram's), capped at vocabSize if given; 'bpe': a byte-level BPE of vocabSize trained on the real train split. */
    /**
     * 'word': the corpus's word-level Vocabulary (the n-gram's), capped at vocabSize if given; 'bpe': a
     * byte-level BPE of vocabSize trained on the real train split; 'checkpoint': the tokenizer of
     * model.init (the only one with a pretrained start). Default: 'bpe', or 'checkpoint' with init.
     */
    tokenizer: z
      .enum(['word', 'bpe', 'checkpoint'], { error: 'model.tokenizer must be "word", "bpe" or "checkpoint"' })
      .nullable()
      .default(null)
      .meta({
        ...cli('tokenizer', '<kind>', "transformer: 'bpe' (a byte-level BPE trained on the real train split; the default) or 'word' (the corpus's word vocabulary, the n-gram's); with --init the checkpoint's"),
        choices: ['bpe', 'word'],
      }),
    /**
     * 'scratch' (default): every generation starts from a fresh initialisation; else a Hugging Face
     * GPT-Neo folder (config.json, model.safetensors, tokenizer.json) that every generation fine-tunes
     * from: it defines the architecture and the tokenizer (src/experiment/init.ts).
     */
    init: z
      .string({ error: 'model.init must be "scratch" or a checkpoint folder' })
      .min(1, 'model.init must be "scratch" or a checkpoint folder')
      .default('scratch')
      .meta(cli('init', '<dir>', "transformer: 'scratch' (a fresh initialisation every generation) or a Hugging Face GPT-Neo folder (config.json, model.safetensors, tokenizer.json) that every generation fine-tunes from; its architecture and tokenizer are used")),
    /** SHA-256 of model.init's content, recorded when the run starts; a resume refuses a changed checkpoint. */
    initSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'model.initSha256 must be 64 hex digits')
      .nullable()
      .default(null)
      .meta(doc("transformer: SHA-256 of model.init's files, recorded by the run (a resume refuses a changed checkpoint)")),
    /** Word level: cap (≥ 3, null = none). BPE: its size (≥ 258; default 4096). */
    vocabSize: positiveInt('model.vocabSize')
      .max(1 << 20, 'model.vocabSize must be ≤ 1048576')
      .nullable()
      .default(null)
      .meta(
        cli(
          'vocab-size',
          '<n>',
          'transformer: with --tokenizer bpe (the default) the BPE\'s size, ≥ 258 (default 4096); with --tokenizer word a cap on the word vocabulary (rarer words become <unk>; default: no cap). It never changes the tokenizer. Not with --init (the checkpoint\'s vocabulary is V)',
        ),
      ),
    /** Training, each generation, from a fresh initialisation. */
    seqLen: positiveInt('model.seqLen').max(1 << 20, 'model.seqLen must be ≤ 1048576').default(128).meta(cli('seq-len', '<n>', 'transformer: training window in tokens')),
    epochs: positiveInt('model.epochs').max(1000, 'model.epochs must be ≤ 1000').default(1).meta(cli('epochs', '<n>', 'transformer: passes over T_n per generation')),
    batchSize: positiveInt('model.batchSize').max(1 << 16, 'model.batchSize must be ≤ 65536').default(8).meta(cli('batch-size', '<n>', 'transformer: windows per step')),
    lr: z.number({ error: 'model.lr must be a number' }).positive('model.lr must be > 0').finite('model.lr must be finite').default(1e-3).meta(cli('lr', '<x>', 'transformer: AdamW learning rate')),
    schedule: z.enum(['constant', 'cosine'], { error: 'model.schedule must be "constant" or "cosine"' }).default('constant').meta(doc('transformer: learning-rate schedule')),
    warmup: z.number({ error: 'model.warmup must be a number' }).int('model.warmup must be an integer').min(0, 'model.warmup must be ≥ 0').default(0).meta(doc('transformer: warm-up steps')),
    weightDecay: z.number({ error: 'model.weightDecay must be a number' }).min(0, 'model.weightDecay must be ≥ 0').finite().default(0).meta(doc('transformer: AdamW weight decay')),
    clip: z.number({ error: 'model.clip must be a number' }).min(0, 'model.clip must be ≥ 0 (0 = off)').finite().default(1).meta(doc('transformer: gradient-norm clip (0 = off)')),
    /** TV / KL probes: the most frequent (probeOrder − 1)-token contexts of D, read as prefixes BOS + tokens. */
    probeOrder: positiveInt('model.probeOrder').max(12, 'model.probeOrder must be ≤ 12').default(3).meta(doc('transformer: probe prefixes are BOS + the (probeOrder − 1)-token contexts')),
  })
  .strict();

/** `kind` defaults to "ngram" (configs written before the transformer omit it). */
const ModelSchema = z.preprocess(
  (v) => (v === undefined ? { kind: 'ngram' } : v !== null && typeof v === 'object' && !Array.isArray(v) && !('kind' in v) ? { kind: 'ngram', ...v } : v),
  z.discriminatedUnion('kind', [NgramModelSchema, TransformerModelSchema], { error: 'model.kind must be "ngram" or "transformer"' }),
);

export type NgramModelConfig = z.output<typeof NgramModelSchema>;
export type TransformerModelConfig = z.output<typeof TransformerModelSchema>;

/** A transformer model config with every architecture field filled (resolveConfig's output). */
export interface ResolvedTransformerModel extends TransformerModelConfig {
  hidden: number;
  layers: number;
  heads: number;
  window: number;
  contextLength: number;
  intermediate: number;
  tokenizer: 'word' | 'bpe' | 'checkpoint';
}

/**
 * How the corpus is read (loadCorpus's options; null = the source's default). `split` is
 * "auto", "files" or fractions ("0.8,0.1,0.1" or [0.8, 0.1, 0.1]), checked by the library's parseSplit.
 */
export const CorpusOptionsSchema = z
  .object({
    tokenize: z
      .enum(['whitespace', 'words', 'wordpunct'], { error: 'corpusOptions.tokenize must be "whitespace" or "words"' })
      .nullable()
      .default(null)
      .meta({ ...cli('tokenize', '<name>', "corpus tokenizer: 'whitespace' or 'words' (words and punctuation apart); default: the source's"), choices: ['whitespace', 'words'] }),
    lowercase: z
      .boolean({ error: 'corpusOptions.lowercase must be true or false' })
      .nullable()
      .default(null)
      .meta({ ...cli('lowercase', '', 'lower-case the corpus text'), negate: 'keep the case (tinystories lower-cases by default)' }),
    unit: z
      .enum(['line', 'paragraph', 'file'], { error: 'corpusOptions.unit must be "line", "paragraph" or "file"' })
      .nullable()
      .default(null)
      .meta(cli('unit', '<unit>', 'text and files corpora: a sequence per line (default), paragraph or file')),
    split: z
      .union([z.string(), z.array(z.number())], { error: 'corpusOptions.split must be "auto", "files" or three fractions such as "0.8,0.1,0.1"' })
      .nullable()
      .default(null)
      .superRefine((v, ctx) => {
        if (v === null) return;
        try {
          parseSplit(v);
        } catch (err) {
          ctx.addIssue({ code: 'custom', message: `corpusOptions.${(err as Error).message}` });
        }
      })
      .meta(cli('split', '<split>', "train,valid,test fractions by order, e.g. 0.8,0.1,0.1; 'files': the source's own split files; default auto")),
  })
  .strict()
  .prefault({});

/** A config's corpusOptions as loadCorpus options (nulls left out). */
export function corpusLoadOptions(o: z.output<typeof CorpusOptionsSchema>): LoadCorpusOptions {
  const out: LoadCorpusOptions = {};
  if (o.tokenize !== null) out.tokenizer = o.tokenize;
  if (o.lowercase !== null) out.lowercase = o.lowercase;
  if (o.unit !== null) out.unit = o.unit;
  if (o.split !== null) out.split = parseSplit(o.split);
  return out;
}

export const ConfigSchema = z
  .object({
    /** Corpus spec: brown | text:PATH | jsonl:PATH:FIELD | tinystories:PATH | files:TRAIN[,VALID[,TEST]]. */
    corpus: z
      .string()
      .min(1, 'corpus must not be empty')
      .default('brown')
      .meta(cli('corpus', '<spec>', 'brown | text:PATH | jsonl:PATH:FIELD | tinystories:PATH | files:TRAIN[,VALID[,TEST]] | parquet:PATH[:COLUMN] | arrow:PATH[:COLUMN]')),
    /** Types with fewer train occurrences map to <unk>. Default: 4 for Brown, 1 otherwise. */
    minCount: positiveInt('minCount').nullable().default(null).meta(cli('min-count', '<n>', 'types seen fewer times in train map to <unk> (default 4 for brown, else 1)')),
    corpusOptions: CorpusOptionsSchema,
    model: ModelSchema,
    paradigms: z
      .array(z.enum(PARADIGMS, { error: `paradigms must be among ${PARADIGMS.join(', ')}` }))
      .min(1, 'paradigms must name at least one paradigm')
      .refine((a) => new Set(a).size === a.length, 'paradigms must not repeat')
      .default(['replace', 'accumulate', 'accumulate-subsample'])
      .meta(cli('paradigm', '<list>', `comma-separated: ${PARADIGMS.join(',')}`)),
    generations: positiveInt('generations').max(10000, 'generations must be ≤ 10000').default(10).meta(cli('generations', '<n>', 'models trained per paradigm (transformer: default 5)')),
    /** r for accumulate-subsample. */
    rate: z.number({ error: 'rate must be a number' }).positive('rate must be > 0').max(100, 'rate must be ≤ 100').default(0.1).meta(cli('rate', '<r>', 'synthetic rate r of accumulate-subsample')),
    /** r for plain accumulate. */
    accumulateRate: z
      .number({ error: 'accumulateRate must be a number' })
      .positive('accumulateRate must be > 0')
      .max(100, 'accumulateRate must be ≤ 100')
      .default(1)
      .meta(cli('accumulate-rate', '<r>', 'synthetic rate r of plain accumulate')),
    /** N in positions; null = the size of D. */
    /** N in positions; null = the size of D (transformer: D capped at TRANSFORMER_RUN_DEFAULTS.trainTokens). */
    trainTokens: positiveInt('trainTokens')
      .max(4_000_000_000, 'trainTokens must be ≤ 4e9')
      .nullable()
      .default(null)
      .meta(cli('train-tokens', '<N>', 'training-set size N in positions (default: the real train split; transformer: a seeded draw of 100,000 positions of it when it is larger)')),
    /** α for replace-with-real. */
    realFraction: z
      .number({ error: 'realFraction must be a number' })
      .min(0, 'realFraction must be in [0, 1)')
      .lt(1, 'realFraction must be in [0, 1)')
      .default(0.1)
      .meta(cli('real-fraction', '<a>', 'real share α of replace-with-real')),
    sampling: z
      .object({
        temperature: z.number().positive('sampling.temperature must be > 0').finite().default(1).meta(cli('temperature', '<t>', 'sampling temperature')),
        topK: z
          .number()
          .int('sampling.topK must be an integer')
          .min(0, 'sampling.topK must be ≥ 0')
          .max(4294967295, 'sampling.topK must be ≤ 4294967295')
          .default(0)
          .meta(cli('top-k', '<k>', 'sample from the k most likely tokens only (0 = off)')),
        topP: z.number().gt(0, 'sampling.topP must be in (0, 1]').max(1, 'sampling.topP must be in (0, 1]').default(1).meta(cli('top-p', '<p>', 'nucleus sampling mass (1 = off)')),
        maxLength: positiveInt('sampling.maxLength').max(100_000_000, 'sampling.maxLength must be ≤ 1e8').default(256).meta(cli('max-length', '<n>', 'cut sampled sequences at n tokens')),
      })
      .strict()
      .prefault({}),
    /** K: the number of probe contexts (most frequent contexts of D) for TV / KL. */
    probes: positiveInt('probes').max(100000, 'probes must be ≤ 100000').default(1000).meta(cli('probes', '<K>', 'probe contexts for TV/KL')),
    /** Where the probe contexts come from: the real train split D, the test split H, or D ∪ H (docs/theory.md). */
    probesFrom: z
      .enum(['train', 'test', 'both'], { error: 'probesFrom must be one of train, test, both' })
      .default('train')
      .meta(cli('probes-from', '<split>', 'probe contexts: the most frequent of the train split D, the test split H, or both')),
    /** Sequences written per generation to samples/<paradigm>/gen-NNN.jsonl. */
    keepSamples: z.number().int().min(0, 'keepSamples must be ≥ 0').default(50).meta(doc('sequences written per generation to samples/<paradigm>/gen-NNN.jsonl')),
    /** Transformer runs: each generation's model saved in Hugging Face layout as models/<paradigm>/gen-NNN/. */
    saveModels: z
      .boolean({ error: 'saveModels must be true or false' })
      .default(false)
      .meta(cli('save-models', '', "transformer: keep each generation's model in the run folder, models/<paradigm>/gen-NNN/ (Hugging Face layout)")),
    /** Error accounting of docs/theory.md per generation (n-gram runs): adds a `theory` object to each record. */
    theory: z
      .boolean({ error: 'theory must be true or false' })
      .default(false)
      .meta(cli('theory', '', 'error accounting of docs/theory.md per generation (ε, δ, σ, shares, closed-form residual, checks)')),
    seed: z.number({ error: 'seed must be a number' }).int('seed must be an integer').min(0, 'seed must be ≥ 0').max(Number.MAX_SAFE_INTEGER).default(1).meta(cli('seed', '<n>', 'run seed')),
  })
  .strict();

/**
 * A resolved config. `model` is the n-gram's or the transformer's (narrow on `kind`); the n-gram
 * fields read as undefined on a transformer, so `config.model.order` type-checks for either.
 */
export type ExperimentConfig = Omit<z.output<typeof ConfigSchema>, 'model'> & { model: NgramModelConfig | TransformerRunModel };

/** The transformer's resolved model config (every architecture field filled). */
export interface TransformerRunModel extends ResolvedTransformerModel {
  order?: undefined;
  smoothing?: undefined;
  k?: undefined;
}
/** The input form: every field optional; `model.kind` defaults to "ngram". */
export type ExperimentConfigInput = Omit<z.input<typeof ConfigSchema>, 'model'> & {
  model?: (Partial<z.input<typeof NgramModelSchema>> & { kind?: 'ngram' }) | z.input<typeof TransformerModelSchema>;
};

/** The presets' architectures: the model's own table (src/models/transformer.ts). */
const PRESET_ARCH = PRESETS;

function defaultHeads(hidden: number): number {
  if (hidden % 16 === 0) return Math.min(16, hidden / 16);
  return [4, 2, 1].find((h) => hidden % h === 0)!;
}

function badConfig(message: string): never {
  throw new CollapseError('E_BAD_CONFIG', `invalid config: ${message}`);
}

/** Byte-level BPE size when model.vocabSize is not given. */
export const DEFAULT_BPE_SIZE = 4096;

/**
 * What `collapse run --model transformer` does when nothing else is said: sized to finish in a few
 * minutes on two cores and still show Replace's perplexity rising (README, "The transformer").
 * `generations` applies to an input that leaves the field out (a recorded config names it, so
 * resuming is unaffected); `trainTokens` is the cap on D when config.trainTokens is null: a train
 * split larger than that is drawn down to it (the runner), a smaller one is used whole.
 */
export const TRANSFORMER_RUN_DEFAULTS = { generations: 5, trainTokens: 100_000 } as const;

const ARCH_FIELDS = ['hidden', 'layers', 'heads', 'window', 'contextLength', 'intermediate'] as const;

/** Fills a transformer's architecture from its preset, its checkpoint (model.init) or the defaults and checks the fields together. */
function resolveTransformer(m: TransformerModelConfig, c: ExperimentConfig): ResolvedTransformerModel {
  const arch = { ...m };
  let tokenizer = m.tokenizer ?? 'bpe';
  let vocabSize = m.vocabSize;
  if (m.init !== SCRATCH) {
    // The checkpoint defines the architecture and the tokenizer: a field naming another is a conflict.
    const ck = readInitArchitecture(m.init);
    if (m.preset !== null) badConfig(`model.preset conflicts with model.init (${m.init}): the checkpoint defines the architecture; drop --preset`);
    if (m.tokenizer !== null && m.tokenizer !== 'checkpoint') {
      badConfig(`model.tokenizer "${m.tokenizer}" conflicts with model.init (${m.init}): a pretrained start uses the checkpoint's own tokenizer; drop --tokenizer`);
    }
    if (m.vocabSize !== null && m.vocabSize !== ck.vocabSize) {
      badConfig(`model.vocabSize (${m.vocabSize}) conflicts with model.init (${m.init}, vocabulary ${ck.vocabSize}): the checkpoint's tokenizer defines V; drop --vocab-size`);
    }
    for (const f of ARCH_FIELDS) {
      if (m[f] !== null && m[f] !== ck[f]) badConfig(`model.${f} (${m[f]}) conflicts with model.init (${m.init}, ${f} ${ck[f]}): the checkpoint defines the architecture; drop it`);
      arch[f] = ck[f];
    }
    tokenizer = 'checkpoint';
    vocabSize = ck.vocabSize;
  } else if (m.tokenizer === 'checkpoint') {
    badConfig('model.tokenizer "checkpoint" needs model.init (a checkpoint folder): use "word" or "bpe" for a model trained from scratch');
  } else if (m.initSha256 !== null) {
    badConfig('model.initSha256 is recorded for a pretrained start only (model.init is "scratch")');
  }
  if (m.preset !== null) {
    const p = PRESET_ARCH[m.preset];
    for (const f of ARCH_FIELDS) {
      if (m[f] !== null && m[f] !== p[f]) badConfig(`model.${f} (${m[f]}) conflicts with model.preset ${m.preset} (${f} ${p[f]}): drop one of them`);
      arch[f] = p[f];
    }
  }
  const hidden = arch.hidden ?? 64;
  const heads = arch.heads ?? defaultHeads(hidden);
  if (hidden % heads !== 0) badConfig(`model.heads (${heads}) must divide model.hidden (${hidden})`);
  const contextLength = arch.contextLength ?? Math.max(m.seqLen, c.sampling.maxLength);
  const whose = m.init !== SCRATCH ? ` (the checkpoint's max_position_embeddings)` : '';
  if (m.seqLen > contextLength) badConfig(`model.seqLen (${m.seqLen}) must be ≤ model.contextLength (${contextLength})${whose}`);
  if (c.sampling.maxLength > contextLength) {
    badConfig(`sampling.maxLength (${c.sampling.maxLength}) must be ≤ model.contextLength (${contextLength})${whose} for a transformer: lower --max-length`);
  }
  if (vocabSize !== null) {
    if (tokenizer === 'word' && vocabSize < 3) badConfig('model.vocabSize must be ≥ 3 for the word-level vocabulary (<unk>, <s>, </s>)');
    if (tokenizer === 'bpe' && vocabSize < 258) badConfig('model.vocabSize must be ≥ 258 for a byte-level BPE (256 bytes + <|endoftext|> + one merge)');
  }
  if (c.theory) badConfig('theory: the error accounting (--theory) is defined for n-gram models only; drop it for model.kind "transformer"');
  return {
    ...arch,
    hidden,
    layers: arch.layers ?? 4,
    heads,
    window: arch.window ?? 256,
    contextLength,
    intermediate: arch.intermediate ?? 4 * hidden,
    tokenizer,
    vocabSize: vocabSize ?? (tokenizer === 'bpe' ? DEFAULT_BPE_SIZE : null),
  };
}

/** The transformer's run defaults (TRANSFORMER_RUN_DEFAULTS) for the fields `input` leaves out. */
function withTransformerDefaults(input: unknown): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const o = input as Record<string, unknown>;
  const m = o.model;
  if (m === null || typeof m !== 'object' || (m as { kind?: unknown }).kind !== 'transformer') return input;
  const out = { ...o };
  if (out.generations === undefined) out.generations = TRANSFORMER_RUN_DEFAULTS.generations;
  return out;
}

/** Validates and fills defaults; throws E_BAD_CONFIG naming the first bad field. */
export function resolveConfig(input: unknown): ExperimentConfig {
  const r = ConfigSchema.safeParse(withTransformerDefaults(input ?? {}));
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.') || '(config)';
    let msg = issue.message;
    if (issue.code === 'unrecognized_keys') msg = `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    if (!msg.includes(field.split('.').pop() ?? '\u0000')) msg = `${field}: ${msg}`;
    throw new CollapseError('E_BAD_CONFIG', `invalid config: ${msg}`);
  }
  const c = r.data as ExperimentConfig;
  if (c.model.kind === 'transformer') c.model = resolveTransformer(c.model, c);
  else if (c.saveModels) badConfig('saveModels: saving each generation\'s model (--save-models) is for model.kind "transformer" only');
  return c;
}
