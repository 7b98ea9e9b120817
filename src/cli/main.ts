#!/usr/bin/env node
/**
 * The `collapse` command: a thin layer over the library's public API.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import cliProgress from 'cli-progress';
import { CollapseError } from '../errors.js';
import { DEFAULT_BPE_SIZE, resolveConfig, TRANSFORMER_RUN_DEFAULTS, type ExperimentConfig } from '../experiment/config.js';
import { runExperiment, type MetricsRecord, type RunResult } from '../experiment/runner.js';
import type { CorpusInfo } from '../corpus/index.js';
import { metricTable, perplexityTables, theoryReport } from '../report/table.js';
import { checksPassed } from '../theory/checks.js';
import { readRegularText, statRegularFile } from '../util/paths.js';
import { registerSweep } from './sweep.js';

/** The project's theory page (docs/theory.md), shipped with the package. */
const THEORY_PAGE = fileURLToPath(new URL('../../docs/theory.md', import.meta.url));

const USAGE_CODES = new Set(['E_BAD_ARGUMENT', 'E_BAD_CONFIG', 'E_MEMORY_LIMIT', 'E_BAD_CORPUS', 'E_CORPUS_EMPTY', 'E_TOKEN_RANGE', 'E_OFFSETS', 'E_BAD_MODEL_FILE']);

const num = (name: string) => (v: string) => {
  const x = Number(v);
  if (v.trim() === '' || Number.isNaN(x)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
  return x;
};

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

interface RunFlags {
  corpus?: string;
  minCount?: number;
  // Corpus reading options (config.corpusOptions).
  tokenize?: string;
  lowercase?: boolean;
  unit?: string;
  split?: string;
  model?: string;
  order?: number;
  smoothing?: string;
  k?: number;
  preset?: string;
  hidden?: number;
  layers?: number;
  heads?: number;
  window?: number;
  seqLen?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  tokenizer?: string;
  vocabSize?: number;
  init?: string;
  saveModels?: boolean;
  paradigm?: string;
  generations?: number;
  rate?: number;
  accumulateRate?: number;
  trainTokens?: number;
  realFraction?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  maxLength?: number;
  probes?: number;
  probesFrom?: string;
  seed?: number;
  theory?: boolean;
  threads?: number;
  memoryLimit?: string;
  out?: string;
  config?: string;
  resume?: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  /** false with --no-report. */
  report?: boolean;
}

async function buildConfig(f: RunFlags): Promise<unknown> {
  let base: Record<string, unknown> = {};
  if (f.config) {
    // A regular file of bounded size: a FIFO or a device would hang the read.
    const text = await readRegularText(f.config, { what: '--config', maxBytes: 16 * 2 ** 20 });
    try {
      base = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new CollapseError('E_BAD_CONFIG', `--config ${f.config} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new CollapseError('E_BAD_CONFIG', `--config ${f.config} must hold a JSON object`);
  }
  const cfg: Record<string, unknown> = { ...base };
  const model = { ...((base.model as object | undefined) ?? {}) } as Record<string, unknown>;
  const sampling = { ...((base.sampling as object | undefined) ?? {}) } as Record<string, unknown>;
  const set = (o: Record<string, unknown>, k: string, v: unknown) => {
    if (v !== undefined) o[k] = v;
  };
  set(cfg, 'corpus', f.corpus);
  set(cfg, 'minCount', f.minCount);
  // Corpus reading options: flags override the --config file's corpusOptions field by field.
  const corpusOptions = { ...((base.corpusOptions as object | undefined) ?? {}) } as Record<string, unknown>;
  for (const k of ['tokenize', 'lowercase', 'unit', 'split'] as const) set(corpusOptions, k, f[k]);
  if (Object.keys(corpusOptions).length) cfg.corpusOptions = corpusOptions;
  set(model, 'kind', f.model);
  const flag = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
  const ngramFlags = (['order', 'smoothing', 'k'] as const).filter((k) => f[k] !== undefined);
  const transformerFlags = (['preset', 'hidden', 'layers', 'heads', 'window', 'seqLen', 'epochs', 'batchSize', 'lr', 'tokenizer', 'vocabSize', 'init', 'saveModels'] as const).filter((k) => f[k] !== undefined);
  const kind = model.kind ?? 'ngram';
  if (kind === 'transformer' && ngramFlags.length) {
    throw new CollapseError('E_BAD_ARGUMENT', `${ngramFlags.map(flag).join(', ')} appl${ngramFlags.length > 1 ? 'y' : 'ies'} to --model ngram only`);
  }
  if (kind !== 'transformer' && transformerFlags.length) {
    throw new CollapseError('E_BAD_ARGUMENT', `${transformerFlags.map(flag).join(', ')} appl${transformerFlags.length > 1 ? 'y' : 'ies'} to --model transformer only`);
  }
  set(model, 'order', f.order);
  set(model, 'smoothing', f.smoothing);
  set(model, 'k', f.k);
  // A pretrained start takes its architecture and tokenizer from the checkpoint: flags that set them conflict.
  const initClash = (['preset', 'hidden', 'layers', 'heads', 'window', 'tokenizer', 'vocabSize'] as const).filter((k) => f[k] !== undefined);
  if (f.init !== undefined && f.init !== 'scratch' && initClash.length) {
    throw new CollapseError(
      'E_BAD_ARGUMENT',
      `${initClash.map(flag).join(', ')} conflict${initClash.length > 1 ? '' : 's'} with --init ${f.init}: the checkpoint defines the architecture and the tokenizer; drop ${initClash.length > 1 ? 'them' : 'it'}`,
    );
  }
  for (const k of transformerFlags) if (k !== 'saveModels') set(model, k, f[k]);
  if (f.saveModels) cfg.saveModels = true;
  if (f.paradigm !== undefined) cfg.paradigms = f.paradigm.split(',').map((s) => s.trim()).filter(Boolean);
  set(cfg, 'generations', f.generations);
  set(cfg, 'rate', f.rate);
  set(cfg, 'accumulateRate', f.accumulateRate);
  set(cfg, 'trainTokens', f.trainTokens);
  set(cfg, 'realFraction', f.realFraction);
  set(sampling, 'temperature', f.temperature);
  set(sampling, 'topK', f.topK);
  set(sampling, 'topP', f.topP);
  set(sampling, 'maxLength', f.maxLength);
  set(cfg, 'probes', f.probes);
  set(cfg, 'probesFrom', f.probesFrom);
  set(cfg, 'seed', f.seed);
  if (f.theory) cfg.theory = true;
  if (Object.keys(model).length) cfg.model = model;
  if (Object.keys(sampling).length) cfg.sampling = sampling;
  return cfg;
}

async function run(f: RunFlags): Promise<void> {
  const tty = process.stderr.isTTY && !f.json && !f.quiet;
  const log = (s: string) => {
    if (!f.json && !f.quiet) process.stderr.write(s + '\n');
  };
  if (f.threads !== undefined && !(Number.isInteger(f.threads) && f.threads >= 1 && f.threads <= 1024)) {
    throw new CollapseError('E_BAD_ARGUMENT', `--threads must be an integer in [1, 1024], got ${f.threads}`);
  }
  if (f.resume) {
    const clash = (Object.keys(f) as (keyof RunFlags)[]).filter((k) => !['resume', 'threads', 'memoryLimit', 'json', 'quiet', 'verbose', 'report'].includes(k) && f[k] !== undefined);
    if (clash.length) {
      const flag = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
      throw new CollapseError('E_BAD_ARGUMENT', `--resume continues the run with its own config.json; drop ${clash.map(flag).join(', ')}`);
    }
  }
  const config = f.resume ? undefined : resolveConfig(await buildConfig(f));
  const out = f.resume ?? f.out ?? `runs/run-${timestamp()}`;
  const controller = new AbortController();
  let interrupted = 0;
  const onSignal = () => {
    interrupted++;
    if (interrupted > 1) process.exit(130);
    const resumable = existsSync(join(out, 'state', 'progress.json'));
    process.stderr.write(`\ninterrupted: finishing the current step${resumable ? `; resume with: collapse run --resume ${out}` : ''} (Ctrl-C again to quit at once)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let bar: cliProgress.SingleBar | undefined;
  const t0 = performance.now();
  let announced = false;
  const result = await runExperiment(config ?? {}, {
    ...(f.resume ? { resume: f.resume } : { out }),
    ...(f.force ? { force: true } : {}),
    ...(f.threads ? { threads: f.threads } : {}),
    ...(f.memoryLimit !== undefined ? { memoryLimit: f.memoryLimit } : {}),
    signal: controller.signal,
    onCorpus: (info) => {
      for (const line of corpusHeader(info)) log(line);
    },
    onStart: ({ config: c, real }) => {
      log(describeReal(real));
      log(`model ${describeModel(c.model)}; ${c.generations} generations of ${c.paradigms.join(', ')}; seed ${c.seed}${c.saveModels ? '; models saved' : ''}`);
    },
    onProgress: (e) => {
      if (!announced) {
        announced = true;
        log(f.resume ? `collapse: resuming ${out}` : `collapse: writing ${out}/`);
      }
      if (tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            { format: '{bar} {value}/{total} generations | {paradigm} gen {generation}: {stage} | {duration_formatted}', hideCursor: true, clearOnComplete: true },
            cliProgress.Presets.shades_classic,
          );
          bar.start(e.total, e.done, { paradigm: e.paradigm, generation: e.generation, stage: e.stage });
        }
        const stage = e.stage === 'train' ? `train step ${e.step}/${e.totalSteps}, loss ${e.loss?.toFixed(3)}` : e.stage;
        bar.update(e.done, { paradigm: e.paradigm, generation: e.generation, stage });
      } else if (e.stage === 'train' && !f.json && !f.quiet && e.step !== undefined && e.totalSteps !== undefined) {
        // Without a terminal: a line at every tenth of the training.
        const every = Math.max(1, Math.floor(e.totalSteps / 10));
        if (e.step % every === 0 || e.step === e.totalSteps) {
          process.stderr.write(`${e.paradigm} gen ${e.generation}: training step ${e.step}/${e.totalSteps}, loss ${e.loss?.toFixed(3)}\n`);
        }
      }
    },
    onRecord: (r: MetricsRecord) => {
      if (f.json) process.stdout.write(JSON.stringify(r) + '\n');
      else if (!tty && !f.quiet) {
        process.stderr.write(
          `${r.paradigm} gen ${r.generation}: perplexity ${r.perplexity === null ? `inf (${r.perplexityCovered === null ? '–' : r.perplexityCovered.toFixed(2)} on the covered ${(100 * (1 - r.zeroProbabilityShare)).toFixed(1)}%)` : r.perplexity.toFixed(2)}, TV ${r.tv.toFixed(4)}, real share ${r.realShare.toFixed(3)}\n`,
        );
      }
    },
  }).finally(() => {
    bar?.stop();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
  // The charting libraries load only when a report is written.
  const report = f.report === false ? null : await (await import('../report/html.js')).writeReport(result.dir);
  if (f.json) return;
  const c = result.corpus;
  const paradigms = result.config.paradigms;
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  if (!f.quiet) {
    process.stdout.write(corpusHeader(c).join('\n') + '\n' + describeReal(result.real) + `\nmodel ${describeModel(result.config.model)}; seed ${result.config.seed}\n\n`);
    process.stdout.write(perplexityTables(result.records, paradigms) + '\n\n');
    const tvTitle =
      result.config.model.kind === 'transformer'
        ? "Total variation from p̂_0 (each paradigm's generation-0 model) on the probe prefixes"
        : 'Total variation from p0 = emp_D on the probe contexts';
    process.stdout.write(metricTable(result.records, paradigms, 'tv', tvTitle, 4) + '\n\n');
    if (result.config.theory) {
      process.stdout.write(theoryReport(result.records, paradigms) + '\n\n');
      const failed = result.records.filter((r) => r.theory?.checks && !checksPassed(r.theory.checks));
      if (failed.length) process.stdout.write(`warning: accounting checks failed in ${failed.map((r) => `${r.paradigm} gen ${r.generation}`).join(', ')} (see theory.checks in metrics.jsonl)\n\n`);
    }
    process.stdout.write(`done in ${secs} s; files in ${result.dir}/ (metrics.jsonl, metrics.csv, samples/${report ? ', report.html' : ''})\n`);
  }
}

/**
 * The run header's corpus lines: the spec and how it was read, then each split's size in
 * sequences and positions (tokens + one </s> each) and its share of <unk> tokens, then |V|.
 */
function corpusHeader(c: CorpusInfo): string[] {
  const n = (x: number) => x.toLocaleString('en-US');
  const rows = (['train', 'valid', 'test'] as const).map((s) => [s, n(c[s].sequences), n(c[s].positions), `${(100 * c[s].oovRate).toFixed(2)}%`]);
  const head = ['split', 'sequences', 'positions', '<unk> share'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] as string).length)));
  const fmt = (r: string[]) => '  ' + r.map((x, i) => (i === 0 ? x.padEnd(w[i]!) : x.padStart(w[i]!))).join('  ');
  return [
    `corpus ${c.spec}: ${c.source}; ${c.tokenizer}`,
    `  split: ${c.split}`,
    fmt(head),
    ...rows.map(fmt),
    `  |V| = ${n(c.vocabSize)} (<unk>, <s>, </s> included; train types seen ≥ ${c.minCount} time${c.minCount === 1 ? '' : 's'})`,
  ];
}

/** The header's line on D: all of the train split, or a seeded draw of it (--train-tokens below it). */
function describeReal(r: RunResult['real']): string {
  if (r.drawn) {
    return `D: a seeded draw of ${r.sequences} whole sequences (${r.positions} positions) of the train split's ${r.splitSequences} (${r.splitPositions} positions), shared by every paradigm; every T_n holds N = ${r.trainTokens} positions`;
  }
  return `D: the whole train split (${r.sequences} sequences, ${r.positions} positions); N = ${r.trainTokens} positions per T_n`;
}

function describeModel(m: ExperimentConfig['model']): string {
  if (m.kind === 'ngram') return `ngram order ${m.order} ${m.smoothing}`;
  const arch = `hidden ${m.hidden}, ${m.layers} layers, ${m.heads} heads, window ${m.window}, context ${m.contextLength}`;
  const tok =
    m.tokenizer === 'bpe' ? `byte-level BPE ${m.vocabSize}` : m.tokenizer === 'checkpoint' ? `the checkpoint's tokenizer (V = ${m.vocabSize})` : `word level${m.vocabSize !== null ? ` (cap ${m.vocabSize})` : ''}`;
  const from = m.init === 'scratch' ? 'from scratch' : `fine-tuned from ${m.init}`;
  return `transformer${m.preset ? ` ${m.preset}` : ''} ${from} (${arch}; ${tok}; ${m.epochs} epoch${m.epochs > 1 ? 's' : ''} of ${m.batchSize} × ${m.seqLen}, lr ${m.lr})`;
}

async function theoryCommand(dir: string): Promise<void> {
  const file = join(dir, 'metrics.jsonl');
  if (!(await statRegularFile(file))) throw new CollapseError('E_BAD_ARGUMENT', `no metrics.jsonl in ${dir}: is it a collapse-lab run folder?`);
  const text = await readRegularText(file);
  const records = text
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as MetricsRecord;
      } catch {
        throw new CollapseError('E_BAD_ARGUMENT', `${dir}/metrics.jsonl line ${i + 1} is not JSON`);
      }
    });
  const THEORY_FIELDS = ['epsL1', 'deltaL1', 'sigmaL1', 'EL1', 'realShare', 'vanished', 'residual'] as const;
  records.forEach((r, i) => {
    const t = (r as { theory?: unknown } | null)?.theory as Record<string, unknown> | undefined;
    const ok =
      typeof r === 'object' && r !== null && typeof r.paradigm === 'string' && Number.isInteger(r.generation) &&
      (t === undefined || (typeof t === 'object' && t !== null && THEORY_FIELDS.every((k) => typeof t[k] === 'number') &&
        [t.head, t.tail].every((h) => typeof h === 'object' && h !== null && typeof (h as Record<string, unknown>).E === 'number' && typeof (h as Record<string, unknown>).delta === 'number') &&
        (t.equalShares == null || typeof (t.equalShares as Record<string, unknown>).deviationL1 === 'number')));
    if (!ok) throw new CollapseError('E_BAD_ARGUMENT', `${dir}/metrics.jsonl line ${i + 1} is not a collapse-lab metrics record`);
  });
  if (records.length === 0 || records.some((r) => !r.theory)) {
    throw new CollapseError('E_BAD_ARGUMENT', `${dir} has no error accounting: run it with \`collapse run --theory\``);
  }
  const bad = records.find((r) => !(r.theory!.residual <= 1e-9));
  const paradigms = [...new Set(records.map((r) => r.paradigm))];
  process.stdout.write(theoryReport(records, paradigms) + '\n');
  const failed = records.filter((r) => r.theory!.checks && !checksPassed(r.theory!.checks));
  if (failed.length) {
    throw new Error(`accounting checks failed in ${failed.map((r) => `${r.paradigm} gen ${r.generation}`).join(', ')} (see theory.checks in ${dir}/metrics.jsonl)`);
  }
  if (bad) throw new Error(`internal error: closed-form residual ${bad.theory!.residual} > 1e-9 (${bad.paradigm}, generation ${bad.generation})`);
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('collapse')
    .description('Model-collapse experiments: recursive training of language models on their own samples (Wang et al., arXiv 2412.14872).')
    .version((createRequire(import.meta.url)('../../package.json') as { version: string }).version)
    .exitOverride()
    // Commander's own errors (unknown flag, bad choice) are printed below as one `collapse:` line.
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: () => undefined })
    .addHelpText('after', `\nEvery reported quantity, its exact definition and conventions: ${THEORY_PAGE}\n`);

  const runCommand = program
    .command('run')
    .description('run a recursive-training experiment and write a run folder (defaults: Brown, KN trigram, replace + accumulate + accumulate-subsample, 10 generations)')
    .option('--corpus <spec>', 'brown | text:PATH | jsonl:PATH:FIELD | tinystories:PATH | files:TRAIN[,VALID[,TEST]] | parquet:PATH[:COLUMN] | arrow:PATH[:COLUMN]')
    .option('--min-count <n>', 'types seen fewer times in train map to <unk> (default 4 for brown, else 1)', num('--min-count'))
    .addOption(new Option('--tokenize <name>', "corpus tokenizer: 'whitespace' or 'words' (words and punctuation apart); default: the source's").choices(['whitespace', 'words']))
    .option('--lowercase', 'lower-case the corpus text')
    .option('--no-lowercase', 'keep the case (tinystories lower-cases by default)')
    .addOption(new Option('--unit <unit>', 'text and files corpora: a sequence per line (default), paragraph or file').choices(['line', 'paragraph', 'file']))
    .option('--split <split>', "train,valid,test fractions by order, e.g. 0.8,0.1,0.1; 'files': the source's own split files; default auto")
    .addOption(new Option('--model <kind>', 'language model (default ngram)').choices(['ngram', 'transformer']))
    .option('--order <n>', 'n-gram order (default 3)', num('--order'))
    .addOption(new Option('--smoothing <name>', 'n-gram estimator (default kneser-ney)').choices(['kneser-ney', 'mle', 'add-k']))
    .option('--k <x>', 'add-k constant (default 1)', num('--k'))
    .addOption(new Option('--preset <name>', 'transformer: a TinyStories architecture').choices(['tinystories-1m', 'tinystories-33m']))
    .option('--hidden <n>', 'transformer: width (default 64)', num('--hidden'))
    .option('--layers <n>', 'transformer: blocks (default 4)', num('--layers'))
    .option('--heads <n>', 'transformer: attention heads (default hidden/16, at most 16)', num('--heads'))
    .option('--window <n>', 'transformer: local attention window (default 256)', num('--window'))
    .option('--seq-len <n>', 'transformer: training window in tokens (default 128)', num('--seq-len'))
    .option('--epochs <n>', 'transformer: passes over T_n per generation (default 1)', num('--epochs'))
    .option('--batch-size <n>', 'transformer: windows per step (default 8)', num('--batch-size'))
    .option('--lr <x>', 'transformer: AdamW learning rate (default 1e-3)', num('--lr'))
    .addOption(new Option('--tokenizer <kind>', "transformer: 'bpe' (a byte-level BPE trained on the real train split; default) or 'word' (the corpus's word vocabulary, the n-gram's)").choices(['word', 'bpe']))
    .option(
      '--vocab-size <n>',
      `transformer: with --tokenizer bpe (the default) the BPE's size, ≥ 258 (default ${DEFAULT_BPE_SIZE}); with --tokenizer word a cap on the word vocabulary (rarer words become <unk>; default: no cap). It never changes the tokenizer. Not with --init (the checkpoint's vocabulary is V)`,
      num('--vocab-size'),
    )
    .option('--init <dir>', "transformer: 'scratch' (default: a fresh initialisation every generation) or a Hugging Face GPT-Neo folder (config.json, model.safetensors, tokenizer.json) that every generation fine-tunes from; its architecture and tokenizer are used")
    .option('--save-models', 'transformer: keep each generation\'s model in the run folder, models/<paradigm>/gen-NNN/ (Hugging Face layout)')
    .option('--paradigm <list>', 'comma-separated: replace,accumulate,accumulate-subsample,replace-with-real')
    .option('--generations <n>', `models trained per paradigm (default 10; transformer ${TRANSFORMER_RUN_DEFAULTS.generations})`, num('--generations'))
    .option('--rate <r>', 'synthetic rate r of accumulate-subsample (default 0.1)', num('--rate'))
    .option('--accumulate-rate <r>', 'synthetic rate r of plain accumulate (default 1)', num('--accumulate-rate'))
    .option('--train-tokens <N>', `training-set size N in positions (default: the real train split; transformer: a seeded draw of ${TRANSFORMER_RUN_DEFAULTS.trainTokens.toLocaleString('en-US')} positions of it when it is larger)`, num('--train-tokens'))
    .option('--real-fraction <a>', 'real share α of replace-with-real (default 0.1)', num('--real-fraction'))
    .option('--temperature <t>', 'sampling temperature (default 1)', num('--temperature'))
    .option('--top-k <k>', 'sample from the k most likely tokens only (0 = off)', num('--top-k'))
    .option('--top-p <p>', 'nucleus sampling mass (1 = off)', num('--top-p'))
    .option('--max-length <n>', 'cut sampled sequences at n tokens (default 256)', num('--max-length'))
    .option('--probes <K>', 'probe contexts for TV/KL (default 1000)', num('--probes'))
    .addOption(new Option('--probes-from <split>', 'probe contexts: the most frequent of the train split D (default), the test split H, or both').choices(['train', 'test', 'both']))
    .option('--seed <n>', 'run seed (default 1)', num('--seed'))
    .option('--theory', 'error accounting of docs/theory.md per generation (ε, δ, σ, shares, closed-form residual, checks)')
    .option('--threads <n>', 'threads per native call (default: all cores; results do not depend on it)', num('--threads'))
    .option('--memory-limit <size>', 'refuse a run estimated to need more memory: bytes or e.g. 8G (default $COLLAPSE_MEMORY_LIMIT, else 80% of RAM)')
    .option('--out <dir>', 'run folder (default runs/run-<timestamp>)')
    .option('--config <file>', 'JSON config (flags override it)')
    .option('--resume <dir>', 'continue an interrupted run; its config.json wins')
    .option('--force', 'replace a non-empty --out folder that holds a collapse-lab run (nothing else)')
    .option('--json', 'print one JSON record per paradigm and generation on stdout, nothing else')
    .option('--quiet', 'print nothing but errors')
    .option('--verbose', 'print stack traces on errors')
    .option('--no-report', 'do not write report.html and figures/ at the end')
    .addHelpText('after', `\nEvery reported quantity, its exact definition and conventions: ${THEORY_PAGE}\n`)
    .action(async (flags: RunFlags) => {
      await run(flags);
    });

  program
    .command('theory')
    .argument('<dir>', 'a run folder written with --theory')
    .description('print the error accounting (ε, δ, σ, E, real share, sign test, closed-form residual) of a finished run')
    .option('--verbose', 'print stack traces on errors')
    .action(async (dir: string) => {
      await theoryCommand(dir);
    });

  registerSweep(program, runCommand, buildConfig);

  const verbose = argv.includes('--verbose');
  try {
    if (argv.length <= 2) {
      program.outputHelp();
      return 0;
    }
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      const msg = err.message.split('\n').map((l) => l.trim()).filter(Boolean).join(' ').replace(/^error: /, '');
      process.stderr.write(`collapse: error: ${msg} (see collapse --help)\n`);
      return 2;
    }
    const e = err as Error & { code?: string };
    if (e.code === 'E_ABORTED') {
      process.stderr.write(`collapse: ${e.message}\n`);
      return 130;
    }
    process.stderr.write(`collapse: error: ${e.message?.split('\n')[0] ?? String(err)}\n`);
    if (verbose && e.stack) process.stderr.write(e.stack + '\n');
    return e.code && USAGE_CODES.has(e.code) ? 2 : 1;
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`collapse: internal error: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
