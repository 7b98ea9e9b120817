/**
 * Hugging Face GPT-Neo `config.json` ↔ collapse-lab's transformer configuration.
 *
 * Fields read (Hugging Face's GPTNeoConfig; defaults are that class's own where it has one):
 *   model_type                "gpt_neo" (required)
 *   vocab_size                → vocabSize        (required)
 *   hidden_size               → hidden           (required)
 *   num_layers                → layers           (required; alias num_hidden_layers)
 *   num_heads                 → heads            (required; alias num_attention_heads; divides hidden)
 *   attention_types           → attention        (required unless attention_layers is given)
 *   attention_layers          checked against the expansion of attention_types when both are given
 *   window_size               → window           (default 256)
 *   max_position_embeddings   → contextLength    (default 2048)
 *   intermediate_size         → intermediate     (null or absent: 4 × hidden)
 *   layer_norm_epsilon        → layerNormEpsilon (default 1e-5)
 *   bos_token_id, eos_token_id → bos, eos        (default 50256, GPT-2's <|endoftext|>; must be < vocab_size)
 *   activation_function       must be "gelu_new" (the only one the engine has), default "gelu_new"
 * Other fields (dropouts, initializer_range, use_cache, ...) are ignored.
 *
 * `attention_types` is HF's compact notation: a list of [pattern, repeat] pairs, expanded by
 * concatenating each pattern `repeat` times, in order:
 *   [[["global", "local"], 4]]                    → global, local, global, local, ... (8 layers)
 *   [[["global"], 2], [["local"], 1]]             → global, global, local
 * The expansion must have exactly num_layers entries, each "global" or "local".
 *
 * Every defect is a CollapseError E_BAD_CONFIG naming the file and the field.
 */
import { CollapseError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import { readRegularText } from '../util/paths.js';

export type AttentionKind = 'global' | 'local';

/** A GPT-Neo architecture, as collapse-lab's transformer takes it. */
export interface GptNeoConfig {
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  /** Local attention window: a local layer's query i sees keys j with i - window < j ≤ i. */
  window: number;
  /** Largest sequence length (max_position_embeddings: rows of the position embedding). */
  contextLength: number;
  /** MLP width. */
  intermediate: number;
  /** One entry per layer. */
  attention: AttentionKind[];
  bos: number;
  eos: number;
  layerNormEpsilon: number;
}

/** GPT-2's `<|endoftext|>`, HF GPT-Neo's default BOS and EOS. */
export const GPT2_ENDOFTEXT = 50256;

type AttentionTypes = Array<[AttentionKind[], number]>;

/**
 * Upper bounds of every size field (the engine's own limits, native/addon/transformer_wrap.cc),
 * checked before anything is allocated: a 500-byte config.json must not be able to ask for
 * 3·10⁷ layers. Whether a model within them fits in memory is src/util/memory.ts's question.
 * Declared once: `Transformer`'s options and the run config's model fields check against these too.
 */
export const GPT_NEO_LIMITS = {
  vocabSize: 0x7fffffff,
  hidden: 65536,
  layers: 1024,
  heads: 65536,
  window: 1 << 20,
  contextLength: 1 << 20,
  intermediate: 1 << 20,
} as const;

function badField(source: string, field: string, message: string): CollapseError {
  return new CollapseError('E_BAD_CONFIG', `${source}: "${field}" ${message}`);
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/**
 * Expands HF's `attention_types` ([[pattern, repeat], ...]) into one kind per layer.
 * Throws E_BAD_CONFIG (naming `field` in `source`) when the notation is malformed.
 */
export function expandAttentionTypes(types: unknown, source = 'config', field = 'attention_types', maxLayers: number = GPT_NEO_LIMITS.layers): AttentionKind[] {
  if (!Array.isArray(types) || types.length === 0) {
    throw badField(source, field, `must be a non-empty list of [pattern, repeat] pairs such as [[["global", "local"], 4]], got ${show(types)}`);
  }
  if (types.length > maxLayers) throw badField(source, field, `has ${types.length} entries; at most ${maxLayers} layers are supported`);
  const out: AttentionKind[] = [];
  types.forEach((item, i) => {
    if (!Array.isArray(item) || item.length !== 2) {
      throw badField(source, field, `entry ${i} must be a [pattern, repeat] pair, got ${show(item)}`);
    }
    const [pattern, repeat] = item as [unknown, unknown];
    if (!Array.isArray(pattern) || pattern.length === 0) {
      throw badField(source, field, `entry ${i}: the pattern must be a non-empty list of "global"/"local", got ${show(pattern)}`);
    }
    if (pattern.length > maxLayers) throw badField(source, field, `entry ${i}: the pattern has ${pattern.length} entries; at most ${maxLayers} layers are supported`);
    for (const k of pattern) {
      if (k !== 'global' && k !== 'local') {
        throw badField(source, field, `entry ${i}: unknown attention type ${show(k)} (only "global" and "local" exist)`);
      }
    }
    if (!Number.isInteger(repeat) || (repeat as number) < 0) {
      throw badField(source, field, `entry ${i}: the repeat count must be an integer ≥ 0, got ${show(repeat)}`);
    }
    // Bounded before expanding: a repeat of 1e9 must not allocate 1e9 entries first.
    const total = out.length + pattern.length * (repeat as number);
    if (total > maxLayers) {
      throw badField(source, field, `expands to more than ${maxLayers} layers (entry ${i} repeats ${pattern.length} × ${show(repeat)}); at most ${maxLayers} are supported`);
    }
    for (let r = 0; r < (repeat as number); r++) for (const k of pattern as AttentionKind[]) out.push(k);
  });
  return out;
}

/**
 * The shortest HF notation for a per-layer list: one [pattern, repeat] pair with the shortest
 * period that tiles the list (global/local alternating → [[["global", "local"], L/2]]).
 */
export function compressAttentionTypes(kinds: readonly AttentionKind[]): AttentionTypes {
  const n = kinds.length;
  for (let p = 1; p <= n; p++) {
    if (n % p !== 0) continue;
    let ok = true;
    for (let i = p; i < n && ok; i++) ok = kinds[i] === kinds[i - p];
    if (ok) return [[kinds.slice(0, p), n / p]];
  }
  return [[kinds.slice(), 1]];
}

function positiveInt(o: Record<string, unknown>, field: string, source: string, fallback: number | undefined, max: number, aliases: string[] = []): number {
  let v = o[field];
  let name = field;
  for (const a of aliases) {
    if (v === undefined && o[a] !== undefined) {
      v = o[a];
      name = a;
    }
  }
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw badField(source, field, 'is missing (it is required for a GPT-Neo config)');
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw badField(source, name, `must be a positive integer, got ${show(v)}`);
  }
  if (v > max) throw badField(source, name, `is ${v}; at most ${max} is supported`);
  return v;
}

/**
 * Parses a GPT-Neo `config.json` (its text or the parsed object). `source` names the file in
 * error messages.
 */
export function parseHfConfig(json: unknown, source = 'config.json'): GptNeoConfig {
  let obj = json;
  if (typeof json === 'string') {
    try {
      obj = JSON.parse(json);
    } catch (err) {
      throw new CollapseError('E_BAD_CONFIG', `${source}: not valid JSON (${(err as Error).message})`, { cause: err });
    }
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new CollapseError('E_BAD_CONFIG', `${source}: a Hugging Face config must be a JSON object`);
  }
  const o = obj as Record<string, unknown>;
  if (o.model_type !== 'gpt_neo') {
    throw badField(
      source,
      'model_type',
      o.model_type === undefined ? 'is missing; expected "gpt_neo"' : `is ${show(o.model_type)}; only "gpt_neo" models are supported`,
    );
  }
  const act = o.activation_function ?? 'gelu_new';
  if (act !== 'gelu_new') {
    throw badField(source, 'activation_function', `is ${show(act)}; the engine implements only "gelu_new"`);
  }
  const L = GPT_NEO_LIMITS;
  const vocabSize = positiveInt(o, 'vocab_size', source, undefined, L.vocabSize);
  const hidden = positiveInt(o, 'hidden_size', source, undefined, L.hidden);
  const layers = positiveInt(o, 'num_layers', source, undefined, L.layers, ['num_hidden_layers']);
  const heads = positiveInt(o, 'num_heads', source, undefined, L.heads, ['num_attention_heads']);
  if (hidden % heads !== 0) {
    throw badField(source, 'num_heads', `(${heads}) must divide hidden_size (${hidden})`);
  }
  const window = positiveInt(o, 'window_size', source, 256, L.window);
  const contextLength = positiveInt(o, 'max_position_embeddings', source, 2048, L.contextLength);
  const intermediate = positiveInt(o, 'intermediate_size', source, Math.min(4 * hidden, L.intermediate), L.intermediate);

  let attention: AttentionKind[] | undefined;
  if (o.attention_types !== undefined && o.attention_types !== null) {
    attention = expandAttentionTypes(o.attention_types, source, 'attention_types');
    if (attention.length !== layers) {
      throw badField(source, 'attention_types', `expands to ${attention.length} layers but num_layers is ${layers}`);
    }
  }
  if (o.attention_layers !== undefined && o.attention_layers !== null) {
    const al = o.attention_layers;
    if (!Array.isArray(al) || !al.every((k) => k === 'global' || k === 'local')) {
      throw badField(source, 'attention_layers', `must be a list of "global"/"local", got ${show(al)}`);
    }
    if (al.length !== layers) throw badField(source, 'attention_layers', `has ${al.length} entries but num_layers is ${layers}`);
    if (attention && al.some((k, i) => k !== attention?.[i])) {
      throw badField(source, 'attention_layers', 'disagrees with the expansion of attention_types');
    }
    attention ??= al.slice() as AttentionKind[];
  }
  if (!attention) throw badField(source, 'attention_types', 'is missing (it is required for a GPT-Neo config)');

  const eps = o.layer_norm_epsilon ?? 1e-5;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0) {
    throw badField(source, 'layer_norm_epsilon', `must be a positive number, got ${show(eps)}`);
  }
  const special = (field: string): number => {
    const v = o[field] ?? GPT2_ENDOFTEXT;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw badField(source, field, `must be a token id (an integer ≥ 0), got ${show(v)}`);
    }
    if (v >= vocabSize) {
      throw badField(source, field, `${v} is outside the vocabulary [0, ${vocabSize})${o[field] === undefined ? ' (the default; set it in the config)' : ''}`);
    }
    return v;
  };
  return {
    vocabSize,
    hidden,
    layers,
    heads,
    window,
    contextLength,
    intermediate,
    attention,
    bos: special('bos_token_id'),
    eos: special('eos_token_id'),
    layerNormEpsilon: eps,
  };
}

/** Checks a GptNeoConfig's fields (E_BAD_CONFIG, naming the field). */
export function validateGptNeoConfig(c: GptNeoConfig, source = 'transformer config'): void {
  for (const f of ['vocabSize', 'hidden', 'layers', 'heads', 'window', 'contextLength', 'intermediate'] as const) {
    const v = c[f];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw badField(source, f, `must be a positive integer, got ${show(v)}`);
    if (v > GPT_NEO_LIMITS[f]) throw badField(source, f, `is ${v}; at most ${GPT_NEO_LIMITS[f]} is supported`);
  }
  if (c.hidden % c.heads !== 0) throw badField(source, 'heads', `(${c.heads}) must divide hidden (${c.hidden})`);
  if (!Array.isArray(c.attention) || c.attention.length !== c.layers || !c.attention.every((k) => k === 'global' || k === 'local')) {
    throw badField(source, 'attention', `must list "global" or "local" for each of the ${c.layers} layers, got ${show(c.attention)}`);
  }
  for (const f of ['bos', 'eos'] as const) {
    const v = c[f];
    if (!Number.isSafeInteger(v) || v < 0 || v >= c.vocabSize) {
      throw badField(source, f, `must be a token id in [0, ${c.vocabSize}), got ${show(v)}`);
    }
  }
  if (typeof c.layerNormEpsilon !== 'number' || !(c.layerNormEpsilon > 0) || !Number.isFinite(c.layerNormEpsilon)) {
    throw badField(source, 'layerNormEpsilon', `must be a positive number, got ${show(c.layerNormEpsilon)}`);
  }
}

/**
 * The Hugging Face `config.json` object of a configuration, loadable by transformers'
 * GPTNeoForCausalLM (tied embeddings, no dropout).
 */
export function toHfConfig(c: GptNeoConfig): Record<string, unknown> {
  validateGptNeoConfig(c);
  return {
    activation_function: 'gelu_new',
    architectures: ['GPTNeoForCausalLM'],
    attention_dropout: 0.0,
    attention_layers: c.attention.slice(),
    attention_types: compressAttentionTypes(c.attention),
    bos_token_id: c.bos,
    embed_dropout: 0.0,
    eos_token_id: c.eos,
    hidden_size: c.hidden,
    initializer_range: 0.02,
    intermediate_size: c.intermediate,
    layer_norm_epsilon: c.layerNormEpsilon,
    max_position_embeddings: c.contextLength,
    model_type: 'gpt_neo',
    num_heads: c.heads,
    num_layers: c.layers,
    resid_dropout: 0.0,
    tie_word_embeddings: true,
    torch_dtype: 'float32',
    use_cache: true,
    vocab_size: c.vocabSize,
    window_size: c.window,
  };
}

/** Reads and parses a `config.json` (E_BAD_CONFIG when unreadable or invalid). */
export async function readHfConfig(path: string): Promise<GptNeoConfig> {
  // A regular file of at most 16 MiB (Hugging Face configs are a few kB): never a FIFO or a device.
  const text = await readRegularText(path, { code: 'E_BAD_CONFIG', maxBytes: 16 * 2 ** 20, message: (p, reason) => `${p}: cannot read config (${reason})` });
  return parseHfConfig(text, path);
}

/** Writes `config.json` atomically (2-space JSON, keys sorted as toHfConfig lists them). */
export async function writeHfConfig(path: string, c: GptNeoConfig): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(toHfConfig(c), null, 2)}\n`);
}
