/**
 * Pretrained starts (`collapse run --model transformer --init DIR`): every generation fine-tunes
 * from one Hugging Face GPT-Neo checkpoint (config.json, model.safetensors and its tokenizer.json —
 * or a collapse-lab vocabulary.json) instead of a fresh initialisation, as Shumailov et al. fine-tune
 * OPT-125m generation after generation. The checkpoint defines the architecture and the tokenizer:
 * its vocabulary is V and the corpus text is encoded with it.
 *
 * A run records the folder and a SHA-256 of its files (config.json's model.initSha256), and a resume
 * refuses a checkpoint whose content changed since.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fromSequences, REAL, type Corpus, type LoadedCorpus } from '../corpus/index.js';
import { CollapseError } from '../errors.js';
import { CHECKPOINT_FILES } from '../models/gpt-neo-checkpoint.js';
import { parseHfConfig, type GptNeoConfig } from '../models/hf-config.js';
import { Transformer, type NamedParameter } from '../models/transformer.js';
import { corpusTexts, type TextTokenizer } from '../tokenizers/index.js';

/** `model.init` of a model trained from a fresh initialisation. */
export const SCRATCH = 'scratch';

const badInit = (dir: string, why: string): never => {
  throw new CollapseError('E_BAD_CONFIG', `invalid config: model.init ${dir}: ${why}`);
};

/**
 * The architecture of the checkpoint folder `dir`, read from its config.json (synchronously:
 * resolveConfig is synchronous and the file is a few kB). Checks that the folder holds the files a
 * pretrained start needs; the weights themselves are checked when the run loads them.
 */
export function readInitArchitecture(dir: string): GptNeoConfig {
  const isFile = (p: string) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  try {
    if (!statSync(dir).isDirectory()) badInit(dir, 'not a folder (a Hugging Face GPT-Neo checkpoint: config.json, model.safetensors, tokenizer.json)');
  } catch (err) {
    if (err instanceof CollapseError) throw err;
    badInit(dir, `no checkpoint folder there (${(err as NodeJS.ErrnoException).code ?? String(err)}); pass a GPT-Neo folder, or --init scratch`);
  }
  const cfgPath = join(dir, CHECKPOINT_FILES.config);
  if (!isFile(cfgPath)) badInit(dir, 'it has no config.json');
  if (!isFile(join(dir, CHECKPOINT_FILES.weights))) badInit(dir, 'it has no model.safetensors (collapse-lab reads safetensors only)');
  if (!isFile(join(dir, CHECKPOINT_FILES.tokenizer)) && !isFile(join(dir, CHECKPOINT_FILES.vocabulary))) {
    badInit(dir, "it has no tokenizer.json (or collapse-lab vocabulary.json): a pretrained start encodes the corpus with the checkpoint's own tokenizer");
  }
  if (statSync(cfgPath).size > 16 * 2 ** 20) badInit(dir, 'its config.json is larger than 16 MiB');
  return parseHfConfig(readFileSync(cfgPath, 'utf8'), cfgPath);
}

/**
 * SHA-256 of a checkpoint's content: for each of config.json, model.safetensors, tokenizer.json
 * and vocabulary.json that the folder holds, in that order, its name, a NUL and the SHA-256 of its
 * bytes, one line each. Files are streamed (a checkpoint may be hundreds of MB).
 */
export async function checkpointSha256(dir: string): Promise<string> {
  const outer = createHash('sha256');
  for (const name of [CHECKPOINT_FILES.config, CHECKPOINT_FILES.weights, CHECKPOINT_FILES.tokenizer, CHECKPOINT_FILES.vocabulary]) {
    const path = join(dir, name);
    let present = false;
    try {
      present = statSync(path).isFile();
    } catch {
      present = false;
    }
    if (!present) continue;
    const h = createHash('sha256');
    await new Promise<void>((resolve, reject) => {
      createReadStream(path)
        .on('data', (chunk) => h.update(chunk))
        .on('end', resolve)
        .on('error', (err) => reject(new CollapseError('E_BAD_CONFIG', `model.init ${dir}: cannot read ${name} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err })));
    });
    outer.update(`${name}\0${h.digest('hex')}\n`);
  }
  return outer.digest('hex');
}

/** A loaded pretrained start: the checkpoint's parameters, architecture and tokenizer. */
export interface PretrainedStart {
  dir: string;
  sha256: string;
  config: GptNeoConfig;
  params: NamedParameter[];
  tokenizer: TextTokenizer;
}

/**
 * Loads the checkpoint `dir` (hashing it first). `expectedSha256` (a resumed run's record) must
 * match the content, or the run stops: fine-tuning from another checkpoint would not continue it.
 */
export async function openPretrained(dir: string, expectedSha256: string | null, options: { memoryLimit?: number | string } = {}): Promise<PretrainedStart> {
  const sha256 = await checkpointSha256(dir);
  if (expectedSha256 !== null && sha256 !== expectedSha256) {
    throw new CollapseError(
      'E_BAD_CONFIG',
      `cannot continue: the checkpoint ${dir} changed since this run started (content SHA-256 ${sha256.slice(0, 12)}…, the run recorded ${expectedSha256.slice(0, 12)}…); restore it, or start a new run`,
    );
  }
  const model = await Transformer.load(dir, { threads: 1, ...(options.memoryLimit !== undefined ? { memoryLimit: options.memoryLimit } : {}) });
  const tokenizer = model.tokenizer;
  if (!tokenizer) badInit(dir, 'its tokenizer could not be loaded');
  return { dir, sha256, config: model.config, params: await model.parameters(), tokenizer: tokenizer! };
}

/**
 * The corpus through the checkpoint's tokenizer: each sequence's text (its words joined by spaces,
 * as the trained BPE sees it) encoded with it, the checkpoint's vocabulary as V, its BOS and EOS.
 */
export function pretrainedTokens(corpus: LoadedCorpus, start: PretrainedStart): { D: Corpus; H: Corpus; V: number; bos: number; eos: number; tokenizer: TextTokenizer } {
  const tok = start.tokenizer;
  const encode = (c: Corpus): Corpus => {
    const seqs: Uint32Array[] = [];
    for (const text of corpusTexts(c, corpus.vocab)) seqs.push(tok.encode(text));
    return fromSequences(seqs, REAL);
  };
  return { D: encode(corpus.train), H: encode(corpus.test), V: start.config.vocabSize, bos: start.config.bos, eos: start.config.eos, tokenizer: tok };
}

/**
 * Starts generation n's model: the checkpoint's parameters (a pretrained start), or a fresh
 * initialisation from `seed` — the parameters a newly constructed model would get. Training then
 * runs with fresh optimizer state either way.
 */
export async function startGeneration(model: Transformer, start: PretrainedStart | null, seed: number): Promise<void> {
  if (start) await model.setParameters(start.params);
  else await model.init(seed);
}

/** Token ids to text with `tok`; an id beyond the tokenizer (a checkpoint's padded vocabulary) reads as U+FFFD. */
export function checkpointDecoder(tok: TextTokenizer): (ids: Uint32Array) => string {
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
