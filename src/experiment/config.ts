/**
 * Experiment configuration: the schema (zod), its defaults, and validation whose messages name the
 * bad field. A resolved config is plain JSON and fully determines a run's results.
 */
import { z } from 'zod';
import { CollapseError } from '../errors.js';
import { PARADIGMS } from '../paradigms/index.js';

const positiveInt = (what: string) => z.number({ error: `${what} must be a number` }).int(`${what} must be an integer`).positive(`${what} must be > 0`);

export const ConfigSchema = z
  .object({
    /** Corpus spec: brown | text:PATH | jsonl:PATH:FIELD | tinystories:PATH | files:TRAIN[,VALID[,TEST]]. */
    corpus: z.string().min(1, 'corpus must not be empty').default('brown'),
    /** Types with fewer train occurrences map to <unk>. Default: 4 for Brown, 1 otherwise. */
    minCount: positiveInt('minCount').nullable().default(null),
    model: z
      .object({
        kind: z.literal('ngram', { error: 'model.kind must be "ngram" (the transformer is not available in this version)' }).default('ngram'),
        order: positiveInt('model.order').max(12, 'model.order must be ≤ 12').default(3),
        smoothing: z.enum(['kneser-ney', 'mle', 'add-k'], { error: 'model.smoothing must be one of kneser-ney, mle, add-k' }).default('kneser-ney'),
        k: z.number().positive('model.k must be > 0').finite().default(1),
      })
      .strict()
      .prefault({}),
    paradigms: z
      .array(z.enum(PARADIGMS, { error: `paradigms must be among ${PARADIGMS.join(', ')}` }))
      .min(1, 'paradigms must name at least one paradigm')
      .refine((a) => new Set(a).size === a.length, 'paradigms must not repeat')
      .default(['replace', 'accumulate', 'accumulate-subsample']),
    generations: positiveInt('generations').max(10000, 'generations must be ≤ 10000').default(10),
    /** r for accumulate-subsample. */
    rate: z.number({ error: 'rate must be a number' }).positive('rate must be > 0').max(100, 'rate must be ≤ 100').default(0.1),
    /** r for plain accumulate. */
    accumulateRate: z.number({ error: 'accumulateRate must be a number' }).positive('accumulateRate must be > 0').max(100, 'accumulateRate must be ≤ 100').default(1),
    /** N in positions; null = the size of D. */
    trainTokens: positiveInt('trainTokens').max(4_000_000_000, 'trainTokens must be ≤ 4e9').nullable().default(null),
    /** α for replace-with-real. */
    realFraction: z.number({ error: 'realFraction must be a number' }).min(0, 'realFraction must be in [0, 1)').lt(1, 'realFraction must be in [0, 1)').default(0.1),
    sampling: z
      .object({
        temperature: z.number().positive('sampling.temperature must be > 0').finite().default(1),
        topK: z.number().int('sampling.topK must be an integer').min(0, 'sampling.topK must be ≥ 0').max(4294967295, 'sampling.topK must be ≤ 4294967295').default(0),
        topP: z.number().gt(0, 'sampling.topP must be in (0, 1]').max(1, 'sampling.topP must be in (0, 1]').default(1),
        maxLength: positiveInt('sampling.maxLength').max(100_000_000, 'sampling.maxLength must be ≤ 1e8').default(256),
      })
      .strict()
      .prefault({}),
    /** K: the number of probe contexts (most frequent contexts of D) for TV / KL. */
    probes: positiveInt('probes').max(100000, 'probes must be ≤ 100000').default(1000),
    /** Sequences written per generation to samples/<paradigm>/gen-NNN.txt. */
    keepSamples: z.number().int().min(0, 'keepSamples must be ≥ 0').default(50),
    /** Error accounting of THEORY.md per generation (n-gram runs): adds a `theory` object to each record. */
    theory: z.boolean({ error: 'theory must be true or false' }).default(false),
    seed: z.number({ error: 'seed must be a number' }).int('seed must be an integer').min(0, 'seed must be ≥ 0').max(Number.MAX_SAFE_INTEGER).default(1),
  })
  .strict();

export type ExperimentConfig = z.output<typeof ConfigSchema>;
export type ExperimentConfigInput = z.input<typeof ConfigSchema>;

/** Validates and fills defaults; throws E_BAD_CONFIG naming the first bad field. */
export function resolveConfig(input: unknown): ExperimentConfig {
  const r = ConfigSchema.safeParse(input ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.join('.') || '(config)';
    let msg = issue.message;
    if (issue.code === 'unrecognized_keys') msg = `unknown field(s) ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    if (!msg.includes(field.split('.').pop() ?? '\u0000')) msg = `${field}: ${msg}`;
    throw new CollapseError('E_BAD_CONFIG', `invalid config: ${msg}`);
  }
  return r.data;
}
