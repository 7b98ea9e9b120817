/**
 * One cell of a sweep: run it as an ordinary run folder (resuming a partial one), and read its
 * result back as plain data (records, timings, a few samples) — what a remote worker would send
 * back through a queue, and all that the summary and the report use.
 */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExperimentConfig } from '../experiment/config.js';
import { runExperiment, type MetricsRecord, type ProgressEvent } from '../experiment/runner.js';
import { readRecords } from '../experiment/run-folder.js';

/** What a finished cell hands back. JSON-serialisable. */
export interface CellResult {
  name: string;
  config: ExperimentConfig;
  /** Corpus summary from the run's config.json. */
  corpus: Record<string, unknown> | null;
  records: MetricsRecord[];
  /** timings.jsonl rows (wall times; the only part that differs between identical runs). */
  timings: Record<string, unknown>[];
  /** A few sample sequences per paradigm and generation: samples[paradigm][generation] = lines. */
  samples: Record<string, string[][]>;
}

/** Sample lines kept per generation in a CellResult. */
export const SAMPLE_LINES = 3;

export type CellState = 'done' | 'partial' | 'fresh';

/**
 * A cell run elsewhere (a queue worker) leaves only its result in the sweep folder:
 * <cell>/result.json, a CellResult. Such a cell is done and reads back as that result.
 */
export const CELL_RESULT_FILE = 'result.json';

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** done: the run folder says complete; partial: it can be resumed; fresh: anything else. */
export async function cellState(dir: string): Promise<CellState> {
  if ((await readJson(join(dir, CELL_RESULT_FILE))) !== undefined) return 'done';
  const progress = (await readJson(join(dir, 'state', 'progress.json'))) as { complete?: boolean } | undefined;
  const config = await readJson(join(dir, 'config.json'));
  if (!progress || !config) return 'fresh';
  return progress.complete === true ? 'done' : 'partial';
}

const jsonLines = (text: string): unknown[] =>
  text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as unknown);

/**
 * The sequences of a sample file: gen-NNN.jsonl holds one {"text": …} per line (the text may hold
 * newlines); gen-NNN.txt (run folders of earlier versions) one sequence per line. A line that is
 * not such an object is shown as it is.
 */
export function sampleLines(text: string, jsonl: boolean): string[] {
  const lines = text.split('\n').filter((l) => l !== '');
  if (!jsonl) return lines;
  return lines.map((l) => {
    try {
      const o = JSON.parse(l) as { text?: unknown };
      return typeof o?.text === 'string' ? o.text : l;
    } catch {
      return l;
    }
  });
}

/** Reads a finished run folder as a CellResult. */
export async function readCellResult(dir: string, name: string): Promise<CellResult> {
  const remote = (await readJson(join(dir, CELL_RESULT_FILE))) as CellResult | undefined;
  if (remote !== undefined) return { ...remote, name };
  const meta = (await readJson(join(dir, 'config.json'))) as { config: ExperimentConfig; corpus?: Record<string, unknown> } | undefined;
  if (!meta) throw new Error(`${dir}/config.json is missing or not JSON`);
  const records = await readRecords(dir);
  let timings: Record<string, unknown>[] = [];
  try {
    timings = jsonLines(await readFile(join(dir, 'timings.jsonl'), 'utf8')) as Record<string, unknown>[];
  } catch {
    /* a run folder without timings (copied without them) still reports */
  }
  const samples: Record<string, string[][]> = {};
  for (const p of meta.config.paradigms) {
    let files: string[] = [];
    try {
      files = (await readdir(join(dir, 'samples', p))).filter((f) => /^gen-\d+\.(jsonl|txt)$/.test(f)).sort();
    } catch {
      continue;
    }
    const byGen: string[][] = [];
    for (const f of files) {
      const m = /^gen-(\d+)\.(jsonl|txt)$/.exec(f)!;
      const g = Number(m[1]);
      if (byGen[g] && m[2] === 'txt') continue; // a run folder written before JSONL samples holds .txt
      byGen[g] = sampleLines(await readFile(join(dir, 'samples', p, f), 'utf8'), m[2] === 'jsonl').slice(0, SAMPLE_LINES);
    }
    samples[p] = Array.from(byGen, (x) => x ?? []);
  }
  return { name, config: meta.config, corpus: meta.corpus ?? null, records, timings, samples };
}

export interface RunCellOptions {
  threads?: number;
  signal?: AbortSignal;
  onProgress?: (e: ProgressEvent) => void;
}

/**
 * Runs a cell in `dir` (its own run folder): nothing to do when done, resumed when partial, started
 * over when fresh (the sweep made that folder; a fresh one holds at most a killed run's first files).
 */
export async function runCell(dir: string, name: string, config: ExperimentConfig, options: RunCellOptions = {}): Promise<CellResult> {
  const state = await cellState(dir);
  if (state !== 'done') {
    const common = {
      ...(options.threads ? { threads: options.threads } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    };
    if (state === 'partial') await runExperiment({}, { resume: dir, ...common });
    else await runExperiment(config, { out: dir, force: true, ...common });
  }
  return readCellResult(dir, name);
}
