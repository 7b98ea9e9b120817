#!/usr/bin/env node
/**
 * The `collapse` command: a thin layer over the library's public API.
 * Exit codes: 0 ok, 1 runtime failure, 2 bad usage or input.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import cliProgress from 'cli-progress';
import { CollapseError } from '../errors.js';
import { resolveConfig } from '../experiment/config.js';
import { runExperiment, type RunResult } from '../experiment/runner.js';
import { readRecords, type MetricsRecord } from '../experiment/run-folder.js';
import { driverFor } from '../experiment/drivers/index.js';
import type { CorpusInfo } from '../corpus/index.js';
import { metricTable, perplexityTables, theoryReport } from '../report/table.js';
import { checksPassed } from '../theory/checks.js';
import { checkThreads } from '../util/check.js';
import { addRunFlags, checkResumeFlags, configFromFlags, type RunFlags } from './flags.js';
import { registerSweep } from './sweep.js';
import { registerWorker } from './worker.js';

/** The project's theory page (docs/theory.md), shipped with the package. */
const THEORY_PAGE = fileURLToPath(new URL('../../docs/theory.md', import.meta.url));

const USAGE_CODES = new Set(['E_BAD_ARGUMENT', 'E_BAD_CONFIG', 'E_MEMORY_LIMIT', 'E_BAD_CORPUS', 'E_CORPUS_EMPTY', 'E_TOKEN_RANGE', 'E_OFFSETS', 'E_BAD_MODEL_FILE']);

function timestamp(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

async function run(f: RunFlags): Promise<void> {
  const tty = process.stderr.isTTY && !f.json && !f.quiet;
  const log = (s: string) => {
    if (!f.json && !f.quiet) process.stderr.write(s + '\n');
  };
  if (f.threads !== undefined) checkThreads(f.threads, '--threads');
  checkResumeFlags(f);
  const config = f.resume ? undefined : resolveConfig(await configFromFlags(f));
  const out = (f.resume ?? f.out ?? `runs/run-${timestamp()}`) as string;
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
    ...(f.resume ? { resume: out } : { out }),
    ...(f.force ? { force: true } : {}),
    ...(f.threads ? { threads: f.threads as number } : {}),
    ...(f.memoryLimit !== undefined ? { memoryLimit: f.memoryLimit as string } : {}),
    signal: controller.signal,
    onCorpus: (info) => {
      for (const line of corpusHeader(info)) log(line);
    },
    onStart: ({ config: c, real }) => {
      log(describeReal(real));
      log(`model ${driverFor(c).describe(c)}; ${c.generations} generations of ${c.paradigms.join(', ')}; seed ${c.seed}${c.saveModels ? '; models saved' : ''}`);
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
    const driver = driverFor(result.config);
    process.stdout.write(corpusHeader(c).join('\n') + '\n' + describeReal(result.real) + `\nmodel ${driver.describe(result.config)}; seed ${result.config.seed}\n\n`);
    process.stdout.write(perplexityTables(result.records, paradigms) + '\n\n');
    process.stdout.write(metricTable(result.records, paradigms, 'tv', driver.tvTitle, 4) + '\n\n');
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

async function theoryCommand(dir: string): Promise<void> {
  const records = await readRecords(dir);
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

  const runCommand = addRunFlags(
    program
      .command('run')
      .description('run a recursive-training experiment and write a run folder (defaults: Brown, KN trigram, replace + accumulate + accumulate-subsample, 10 generations)'),
  )
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

  registerSweep(program, runCommand, configFromFlags);
  registerWorker(program);

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
