/**
 * Helpers for the experiment tests: synthetic corpora written to temp folders, spawning the built
 * CLI (dist/cli/main.js), reading run folders and comparing them file by file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { rng } from '../helpers/reference-ngram.js';

/** The repository root (this file is <root>/test/experiment/helpers.ts). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');

/** Fails loudly when the CLI was not built (`npx tsc -p tsconfig.json`). */
export function requireBuiltCli(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npm run build:native && npx tsc -p tsconfig.json)`);
}

/** Mulberry32 (one copy, in test/helpers/reference-ngram.ts). */
export { rng };

/**
 * `n` synthetic sentences over words w0..w{vocab-1} (skewed towards low indices, so there is a head
 * and a tail), lengths minLen..maxLen, with a little bigram structure so that an n-gram model has
 * something to learn.
 */
export function sentences(seed: number, n: number, opts: { vocab?: number; minLen?: number; maxLen?: number; prefix?: string } = {}): string[] {
  const V = opts.vocab ?? 40;
  const minLen = opts.minLen ?? 3;
  const maxLen = opts.maxLen ?? 10;
  const prefix = opts.prefix ?? 'w';
  const r = rng(seed);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = minLen + Math.floor(r() * (maxLen - minLen + 1));
    const ws: string[] = [];
    let prev = Math.floor(V * r() * r());
    for (let j = 0; j < len; j++) {
      // Half the time the next word follows the previous one (prev + 1), else a skewed draw.
      const w = r() < 0.5 ? (prev + 1) % V : Math.floor(V * r() * r());
      ws.push(`${prefix}${w}`);
      prev = w;
    }
    out.push(ws.join(' '));
  }
  return out;
}

export function tempDir(tag: string): string {
  return mkdtempSync(path.join(os.tmpdir(), `collapse-exp-${tag}-`));
}

export function writeLines(file: string, lines: readonly string[]): string {
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

export function removeDir(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli/main.js ...args` to completion (stdin closed, not a TTY). */
export function runCli(args: readonly string[], opts: { timeoutMs?: number; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args, opts.cwd);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`collapse ${args.join(' ')} timed out`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

export function spawnCli(args: readonly string[], cwd = ROOT): ChildProcess {
  const env = { ...process.env };
  delete env.FORCE_COLOR;
  return spawn(process.execPath, [CLI, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Waits for a spawned child to exit, collecting its output. */
export function waitExit(child: ChildProcess, timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('child timed out'));
    }, timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ProgressFile {
  version: number;
  complete: boolean;
  finished: Record<string, number>;
  records: unknown[];
}

/** state/progress.json, or null while it is missing or unreadable. */
export function readProgress(dir: string): ProgressFile | null {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'state', 'progress.json'), 'utf8')) as ProgressFile;
  } catch {
    return null;
  }
}

/**
 * Every file under `dir`, relative, sorted; hidden temp files, timings.jsonl and report.html (which
 * shows the timings) left out unless asked.
 */
export function listFiles(dir: string, opts: { includeTimings?: boolean; includeHidden?: boolean } = {}): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!opts.includeHidden && e.name.startsWith('.')) continue;
      if (e.isDirectory()) walk(r);
      else if (opts.includeTimings || (r !== 'timings.jsonl' && r !== 'report.html')) out.push(r);
    }
  };
  walk('');
  return out.sort();
}

/** Hidden leftovers (e.g. `.metrics.jsonl.<pid>.<hex>.tmp` of an interrupted atomic write). */
export function hiddenFiles(dir: string): string[] {
  return listFiles(dir, { includeHidden: true }).filter((f) => f.split('/').some((p) => p.startsWith('.')));
}

/**
 * Asserts that two run folders hold the same files with the same bytes (timings.jsonl and hidden
 * temp files excluded). Returns the compared file list.
 */
export function expectSameRun(a: string, b: string): string[] {
  const fa = listFiles(a);
  const fb = listFiles(b);
  expect(fb).toEqual(fa);
  for (const f of fa) {
    const ba = readFileSync(path.join(a, f));
    const bb = readFileSync(path.join(b, f));
    if (!ba.equals(bb)) {
      // Show the difference readably.
      expect(`${f}:\n${bb.toString('utf8')}`).toBe(`${f}:\n${ba.toString('utf8')}`);
    }
  }
  return fa;
}

export interface Record_ {
  paradigm: string;
  generation: number;
  trainTokens: number;
  trainSequences: number;
  realShare: number;
  lastGenerationShare: number;
  perplexity: number | null;
  tv: number;
  kl: number;
  lostMass: number;
  sampleTokens: number;
  sampleSequences: number;
  [k: string]: unknown;
}

export function readRecords(dir: string): Record_[] {
  return readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as Record_);
}

export function mtimes(dir: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const f of listFiles(dir, { includeHidden: true, includeTimings: true })) m.set(f, statSync(path.join(dir, f)).mtimeMs);
  return m;
}
