/**
 * GPT-Neo checkpoints in Hugging Face layout: the expected tensor table of a configuration, the
 * mapping of a safetensors file's tensors onto it, and the folder rules of `Transformer.save`.
 *
 * A checkpoint folder holds
 *   config.json         GPT-Neo config (src/models/hf-config.ts)
 *   model.safetensors   F32 tensors with HF names (`transformer.wte.weight`, ...; nn.Linear [out, in]);
 *                       lm_head is tied to wte and not stored; metadata { format: 'pt', producer: 'collapse-lab' }
 *   tokenizer.json      the attached HF / byte-level BPE tokenizer, when there is one, or
 *   vocabulary.json     the attached word-level vocabulary (collapse-lab's Vocabulary JSON)
 *
 * Reading accepts what Hugging Face's hub serves for GPT-Neo (e.g. roneneldan/TinyStories-1M):
 * names with or without the `transformer.` prefix; `lm_head.weight` when equal to wte (tied;
 * a different one is an error: the engine ties them); the attention buffers `attn.attention.bias`
 * and `attn.attention.masked_bias` (ignored, whatever their dtype); F16/BF16/F64 (converted).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CollapseError } from '../errors.js';
import type { GptNeoConfig } from './hf-config.js';
import { SafetensorsFile, READABLE_DTYPES, type TensorInfo } from './safetensors.js';

/** safetensors metadata of checkpoints collapse-lab writes (it recognises its own folders by it). */
export const CHECKPOINT_PRODUCER = 'collapse-lab';

export const CHECKPOINT_FILES = {
  config: 'config.json',
  weights: 'model.safetensors',
  tokenizer: 'tokenizer.json',
  vocabulary: 'vocabulary.json',
} as const;

/** Every parameter of a configuration: HF name (with `transformer.`) and shape, in engine order. */
export function expectedTensors(c: Pick<GptNeoConfig, 'vocabSize' | 'hidden' | 'layers' | 'contextLength' | 'intermediate'>): { name: string; shape: number[] }[] {
  const C = c.hidden;
  const I = c.intermediate;
  const out: { name: string; shape: number[] }[] = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, C] },
    { name: 'transformer.wpe.weight', shape: [c.contextLength, C] },
  ];
  for (let l = 0; l < c.layers; l++) {
    const p = `transformer.h.${l}.`;
    out.push(
      { name: `${p}ln_1.weight`, shape: [C] },
      { name: `${p}ln_1.bias`, shape: [C] },
      { name: `${p}attn.attention.q_proj.weight`, shape: [C, C] },
      { name: `${p}attn.attention.k_proj.weight`, shape: [C, C] },
      { name: `${p}attn.attention.v_proj.weight`, shape: [C, C] },
      { name: `${p}attn.attention.out_proj.weight`, shape: [C, C] },
      { name: `${p}attn.attention.out_proj.bias`, shape: [C] },
      { name: `${p}ln_2.weight`, shape: [C] },
      { name: `${p}ln_2.bias`, shape: [C] },
      { name: `${p}mlp.c_fc.weight`, shape: [I, C] },
      { name: `${p}mlp.c_fc.bias`, shape: [I] },
      { name: `${p}mlp.c_proj.weight`, shape: [C, I] },
      { name: `${p}mlp.c_proj.bias`, shape: [C] },
    );
  }
  out.push({ name: 'transformer.ln_f.weight', shape: [C] }, { name: 'transformer.ln_f.bias', shape: [C] });
  return out;
}

/** HF's causal-mask buffers, stored by old PyTorch checkpoints; never parameters. */
const BUFFER = /^(transformer\.)?h\.\d+\.attn\.attention\.(bias|masked_bias)$/;

const shapeText = (s: readonly number[]) => `[${s.join(', ')}]`;

export interface TensorPlan {
  /** Expected name → the file's tensor holding it. */
  sources: { name: string; shape: number[]; file: TensorInfo }[];
  /** The file's `lm_head.weight`, to compare with wte (tied). */
  lmHead?: TensorInfo;
}

/**
 * Maps the tensors of `file` onto the parameters of `config` (`configPath` names config.json in
 * messages). Throws E_BAD_MODEL_FILE for a missing tensor, a shape that differs from what the
 * config implies (naming the tensor and both shapes), a tensor that no GPT-Neo of this config
 * has, or a parameter stored in a non-float dtype.
 */
export function planTensors(file: SafetensorsFile, config: GptNeoConfig, configPath: string): TensorPlan {
  const bad = (m: string) => new CollapseError('E_BAD_MODEL_FILE', `${file.path}: ${m}`);
  const used = new Set<string>();
  const sources: TensorPlan['sources'] = [];
  const missing: string[] = [];
  for (const e of expectedTensors(config)) {
    const short = e.name.slice('transformer.'.length);
    const info = file.info(e.name) ?? file.info(short);
    if (!info) {
      missing.push(e.name);
      continue;
    }
    used.add(info.name);
    if (info.shape.length !== e.shape.length || info.shape.some((d, i) => d !== e.shape[i])) {
      throw bad(
        `tensor ${JSON.stringify(info.name)} has shape ${shapeText(info.shape)} but ${configPath} implies ${shapeText(e.shape)}: the config does not match the weights`,
      );
    }
    if (!(READABLE_DTYPES as readonly string[]).includes(info.dtype)) {
      throw bad(`tensor ${JSON.stringify(info.name)} has dtype ${info.dtype}; a parameter must be one of ${READABLE_DTYPES.join(', ')}`);
    }
    sources.push({ name: e.name, shape: e.shape, file: info });
  }
  if (missing.length) {
    const more = missing.length > 3 ? ` and ${missing.length - 3} more` : '';
    throw bad(
      `missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 3).map((n) => JSON.stringify(n)).join(', ')}${more} (a GPT-Neo of ${configPath}'s configuration needs ${sources.length + missing.length})`,
    );
  }
  let lmHead: TensorInfo | undefined;
  for (const t of file.tensors) {
    if (used.has(t.name) || BUFFER.test(t.name)) continue;
    if (t.name === 'lm_head.weight') {
      const want = [config.vocabSize, config.hidden];
      if (t.shape.length !== 2 || t.shape[0] !== want[0] || t.shape[1] !== want[1]) {
        throw bad(`tensor "lm_head.weight" has shape ${shapeText(t.shape)} but ${configPath} implies ${shapeText(want)}: the config does not match the weights`);
      }
      lmHead = t;
      continue;
    }
    throw bad(`unexpected tensor ${JSON.stringify(t.name)} ${shapeText(t.shape)}: a GPT-Neo of ${configPath}'s configuration (${config.layers} layers) has no such parameter`);
  }
  return lmHead ? { sources, lmHead } : { sources };
}

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Refuses (E_BAD_ARGUMENT) to save into a folder that holds a checkpoint collapse-lab did not
 * write: a model.safetensors without collapse-lab's metadata, or config / weights / tokenizer
 * files without a collapse-lab model.safetensors beside them. Returns whether the folder exists.
 */
export async function checkSaveTarget(dir: string): Promise<void> {
  let entries: string[];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new CollapseError('E_BAD_ARGUMENT', `cannot save a checkpoint to ${dir}: it exists and is not a folder`);
    entries = await readdir(dir);
  } catch (err) {
    if (err instanceof CollapseError) throw err;
    return; // absent: created by the caller
  }
  const weights = join(dir, CHECKPOINT_FILES.weights);
  let ours = false;
  if (await exists(weights)) {
    try {
      const f = await SafetensorsFile.open(weights);
      ours = f.metadata.producer === CHECKPOINT_PRODUCER;
      await f.close();
    } catch {
      ours = false;
    }
    if (!ours) throw foreign(dir, CHECKPOINT_FILES.weights);
    return;
  }
  const checkpointish = ['config.json', 'tokenizer.json', 'pytorch_model.bin', 'tf_model.h5', 'flax_model.msgpack', 'model.safetensors.index.json', 'vocabulary.json'];
  const found = entries.find((e) => checkpointish.includes(e));
  if (found) throw foreign(dir, found);
}

function foreign(dir: string, file: string): CollapseError {
  return new CollapseError(
    'E_BAD_ARGUMENT',
    `refusing to save into ${dir}: its ${file} belongs to a checkpoint that collapse-lab did not write (choose another folder, or remove it first)`,
  );
}
