/**
 * The run folder: what a run writes, how (atomically), and how it is read back.
 *
 *   config.json                    resolved config, versions, corpus summary (no wall times)
 *   metrics.jsonl / metrics.csv    one record per paradigm and generation, sorted (paradigm, generation)
 *   timings.jsonl                  wall times per generation (the only file that differs between runs)
 *   samples/<paradigm>/gen-NNN.jsonl first sequences of S_n, detokenized: one {"text": …} per line
 *   models/<paradigm>/gen-NNN/     with saveModels: M_n in Hugging Face layout (config.json, model.safetensors, tokenizer)
 *   state/progress.json            records so far and the finished generations; complete: true at the end
 *   state/<paradigm>/gen-NNN.bin   S_n itself, so T_{n+1} can be rebuilt on resume (removed at the end)
 *   report.html, figures/*.svg     the report (src/report/html.ts), unless --no-report
 *
 * Both state files carry a SHA-256 of their content: a damaged one stops a resume by name.
 * `--force` replaces only a folder holding nothing but these files (RUN_FILES, see foreignEntry).
 * The record type and the CSV columns live here too, so that the CLI's tables and any report read
 * one definition.
 */
import { appendFile, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { CollapseError } from '../errors.js';
import type { TokenCorpus } from '../corpus/token-corpus.js';
import type { ParadigmName } from '../paradigms/index.js';
import type { TheoryRecord } from '../theory/index.js';
import { writeFileAtomic } from '../util/fs.js';
import { ensureFolder, fsReason, readRegularFile, readRegularText, statRegularFile, writeError } from '../util/paths.js';

/** One record per paradigm and generation: flat, so it maps to a CSV row. */
export interface MetricsRecord {
  paradigm: ParadigmName;
  generation: number;
  /** |T_n| in positions, and its sequences. */
  trainTokens: number;
  trainSequences: number;
  /** Share of T_n's positions that come from the real corpus D. */
  realShare: number;
  /** Share of T_n's positions sampled by the previous generation (n − 1). */
  lastGenerationShare: number;
  /** Share of T_n's positions sampled by each earlier generation k = 0..n−1 (index k). */
  generationShares: number[];
  /** Perplexity of M_n on the real test split H; null when a position has probability 0 (infinite). */
  perplexity: number | null;
  /** Perplexity over the positions of H that M_n covers (p̂_n > 0); null when it covers none. */
  perplexityCovered: number | null;
  /** Positions of H with p̂_n = 0 (MLE losing a type), and their share of H's positions. */
  zeroProbability: number;
  zeroProbabilityShare: number;
  /** π-weighted means over the probe contexts (see metrics/divergence.ts and docs/theory.md). */
  tv: number;
  /** KL(p0 ‖ p̂_n); null when infinite (some probe loses mass). */
  kl: number | null;
  /** KL between p0 and p̂_n both restricted and renormalised to p̂_n's support (never negative). */
  klSupport: number;
  lostMass: number;
  /** Σπ over the probes used, and the raw π-weighted sums (mean = sum / probeWeight). */
  probeWeight: number;
  tvSum: number;
  klSupportSum: number;
  lostMassSum: number;
  /** Probe contexts left out because D never shows them (c_D(x) = 0: probes taken from H). */
  probesSkipped: number;
  /** S_n: positions, sequences, and those cut at maxLength. */
  sampleTokens: number;
  sampleSequences: number;
  truncated: number;
  /** Distinct n-grams of S_n, and the share of D's distinct n-grams that S_n still contains. */
  distinct1: number;
  distinct2: number;
  distinct3: number;
  coverage1: number;
  coverage2: number;
  coverage3: number;
  /** Share of D's rarest types (lowest-frequency quartile) present in S_n. */
  tailRetention: number;
  /** Diversity of S_n. */
  unigramEntropy: number;
  distinctRatio1: number;
  distinctRatio2: number;
  distinctRatio3: number;
  meanLength: number;
  repeatedShare: number;
  /** Error accounting (docs/theory.md), when the run has `theory: true`. */
  theory?: TheoryRecord;
  /** Transformer runs: optimizer steps of this generation's training and the loss of the last one. */
  trainSteps?: number;
  trainLoss?: number;
}

export interface Progress {
  version: 1;
  complete: boolean;
  /** Last finished generation per paradigm (-1 = none). */
  finished: Record<string, number>;
  records: MetricsRecord[];
}

export function sortRecords(rs: MetricsRecord[]): MetricsRecord[] {
  return rs.sort((a, b) => (a.paradigm === b.paradigm ? a.generation - b.generation : a.paradigm < b.paradigm ? -1 : 1));
}

export const CSV_COLUMNS: (keyof MetricsRecord)[] = [
  'paradigm', 'generation', 'trainTokens', 'trainSequences', 'realShare', 'lastGenerationShare', 'perplexity', 'perplexityCovered',
  'zeroProbability', 'zeroProbabilityShare', 'tv', 'kl', 'klSupport', 'lostMass', 'probeWeight', 'tvSum', 'klSupportSum', 'lostMassSum',
  'probesSkipped', 'sampleTokens', 'sampleSequences', 'truncated', 'distinct1', 'distinct2', 'distinct3',
  'coverage1', 'coverage2', 'coverage3', 'tailRetention', 'unigramEntropy', 'distinctRatio1', 'distinctRatio2',
  'distinctRatio3', 'meanLength', 'repeatedShare',
];

/** Transformer columns of metrics.csv (present for model.kind "transformer"). */
export const TRANSFORMER_CSV_COLUMNS: (keyof MetricsRecord)[] = ['trainSteps', 'trainLoss'];

/** Theory columns of metrics.csv (present when the run has `theory: true`). */
export const THEORY_CSV_COLUMNS = [
  'theory.epsL1', 'theory.deltaL1', 'theory.sigmaL1', 'theory.EL1', 'theory.realShare', 'theory.head.E', 'theory.tail.E',
  'theory.head.delta', 'theory.tail.delta', 'theory.head.sigma', 'theory.tail.sigma', 'theory.vanished', 'theory.unseen',
  'theory.weight', 'theory.deltaWeight', 'theory.sums.eps', 'theory.sums.delta', 'theory.sums.sigma', 'theory.sums.E',
  'theory.sums.realShare', 'theory.epsMax', 'theory.residual', 'theory.equalShares.deviationL1',
  'theory.checks.engineCounts.ok', 'theory.checks.mleEpsilonZero.ok', 'theory.checks.sourceCounts.ok',
];

function pathGet(o: unknown, path: string): unknown {
  let cur: unknown = o;
  for (const k of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur;
}

/**
 * metrics.jsonl and metrics.csv from the records: in the run's paradigm order, then by generation;
 * `columns` are the CSV's (csvColumns).
 */
export async function writeRecords(dir: string, records: MetricsRecord[], paradigms: readonly string[], columns: readonly string[]): Promise<void> {
  const order = new Map(paradigms.map((p, i) => [p, i]));
  const sorted = [...records].sort((a, b) => (order.get(a.paradigm)! - order.get(b.paradigm)!) || a.generation - b.generation);
  await writeFileAtomic(join(dir, 'metrics.jsonl'), sorted.map((r) => JSON.stringify(r)).join('\n') + (sorted.length ? '\n' : ''));
  const csv = [columns.join(','), ...sorted.map((r) => columns.map((c) => csvCell(pathGet(r, c))).join(','))].join('\n') + '\n';
  await writeFileAtomic(join(dir, 'metrics.csv'), csv);
}

/** metrics.csv's columns: the common ones, the model kind's own (its driver's), the theory's when on. */
export function csvColumns(modelColumns: readonly string[], theory: boolean): string[] {
  return [...CSV_COLUMNS, ...modelColumns, ...(theory ? THEORY_CSV_COLUMNS : [])];
}

export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : v > 0 ? 'inf' : v < 0 ? '-inf' : 'nan';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * state/progress.json carries the SHA-256 of its own content (the JSON of every other field, as
 * JSON.stringify writes it: parsing and re-serialising gives the same text back), so that a damaged
 * file is refused on resume instead of steering the run silently.
 */
export async function saveProgress(dir: string, p: Progress): Promise<void> {
  const { checksum: _old, ...body } = p as Progress & { checksum?: string };
  await writeFileAtomic(join(dir, 'state', 'progress.json'), JSON.stringify({ ...body, checksum: `sha256:${sha256(JSON.stringify(body))}` }) + '\n');
}

export function verifyProgress(state: Record<string, unknown>, path: string): Progress {
  const { checksum, ...body } = state;
  if (typeof checksum !== 'string') {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} has no checksum (damaged, or written by an older collapse-lab); start the run again`);
  }
  if (checksum !== `sha256:${sha256(JSON.stringify(body))}`) {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is damaged (its checksum does not match its content)`);
  }
  // The checksum proves the file is what was written; its shape is still checked before use.
  const finished = body.finished as Record<string, unknown>;
  const records = body.records as unknown[];
  const shapeOk =
    typeof body.complete === 'boolean' &&
    Object.values(finished).every((n) => Number.isSafeInteger(n) && (n as number) >= -1) &&
    records.every((r) => isObject(r) && typeof r.paradigm === 'string' && Number.isSafeInteger(r.generation) && (r.generation as number) >= 0);
  if (!shapeOk) throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is not a collapse-lab run state (bad fields)`);
  return body as unknown as Progress;
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * S_n on disk (little-endian): uint32 magic "CLCS", version 2, offset count, token count; the
 * SHA-256 of those 16 bytes and of the data (32 bytes); then the offsets and the tokens (uint32).
 */
const SAMPLE_MAGIC = 0x53434c43;
const SAMPLE_HEADER = 48;

export async function writeSample(path: string, s: TokenCorpus): Promise<void> {
  const head = Buffer.from(new Uint32Array([SAMPLE_MAGIC, 2, s.offsets.length, s.tokens.length]).buffer);
  const offsets = Buffer.from(s.offsets.buffer, s.offsets.byteOffset, s.offsets.byteLength);
  const tokens = Buffer.from(s.tokens.buffer, s.tokens.byteOffset, s.tokens.byteLength);
  const digest = createHash('sha256').update(head).update(offsets).update(tokens).digest();
  await writeFileAtomic(path, Buffer.concat([head, digest, offsets, tokens]));
}

/** Reads a sample file written by writeSample (exported for the tests and fuzzers). */
export async function readSample(path: string): Promise<TokenCorpus> {
  if (!(await statRegularFile(path, { code: 'E_BAD_CONFIG', message: (p, reason) => `cannot resume: ${p}: ${reason}` }))) {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is missing (the run state is incomplete)`);
  }
  const buf = await readRegularFile(path, { code: 'E_BAD_CONFIG', message: (p, reason) => `cannot resume: ${p}: ${reason}` });
  const damaged = (why: string) => new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is damaged (${why})`);
  if (buf.byteLength < SAMPLE_HEADER) throw damaged('shorter than its header');
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
  const h = new Uint32Array(ab, 0, 4);
  if (h[0] !== SAMPLE_MAGIC || h[1] !== 2) throw damaged('not a collapse-lab sample file of this version');
  if (buf.byteLength !== SAMPLE_HEADER + 4 * (h[2]! + h[3]!)) throw damaged('its size does not match its header');
  const digest = createHash('sha256').update(buf.subarray(0, 16)).update(buf.subarray(SAMPLE_HEADER)).digest();
  if (!digest.equals(buf.subarray(16, SAMPLE_HEADER))) throw damaged('its checksum does not match its content');
  const offsets = new Uint32Array(ab, SAMPLE_HEADER, h[2]!);
  const tokens = new Uint32Array(ab, SAMPLE_HEADER + 4 * h[2]!, h[3]!);
  // A checksum only proves the file is what was written; the CSR index is still checked before use.
  if (offsets.length < 1 || offsets[0] !== 0 || offsets[offsets.length - 1] !== tokens.length) throw damaged('its sequence offsets are not a valid index');
  for (let i = 1; i < offsets.length; i++) if (offsets[i]! < offsets[i - 1]!) throw damaged('its sequence offsets are not a valid index');
  return { offsets, tokens };
}

/**
 * The readable samples: the first `keep` sequences of S, one JSON object {"text": …} per line. A
 * byte-level tokenizer's text may hold newlines, U+FFFD (bytes that are not UTF-8 on their own) or
 * any other character; JSON escapes the control characters, and U+2028/U+2029 are escaped too
 * (some line readers split on them), so a line is always exactly one sequence.
 */
export function sampleJsonl(s: TokenCorpus, decode: (ids: Uint32Array) => string, keep: number): string {
  const lines: string[] = [];
  const n = Math.min(keep, s.offsets.length - 1);
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({ text: decode(s.tokens.subarray(s.offsets[i]!, s.offsets[i + 1]!)) }).replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029'));
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

export async function prepareFolder(dir: string, force: boolean): Promise<void> {
  let entries: string[] = [];
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new CollapseError('E_BAD_ARGUMENT', `--out ${dir} exists and is not a folder`);
    entries = await readdir(dir);
  } catch (err) {
    if (err instanceof CollapseError) throw err;
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new CollapseError('E_BAD_ARGUMENT', `cannot use --out ${dir}: ${fsReason(err)}`, { cause: err });
  }
  if (entries.length > 0) {
    if (!force) {
      throw new CollapseError('E_BAD_ARGUMENT', `run folder ${dir} already exists and is not empty: choose another --out, continue it with --resume ${dir}, or pass --force to replace it`);
    }
    // --force replaces a collapse-lab run folder only, and removes only what a run writes.
    const foreign = await foreignEntry(dir);
    if (foreign !== null) {
      throw new CollapseError(
        'E_BAD_ARGUMENT',
        `refusing to replace ${dir} with --force: ${foreign}, so it is not a collapse-lab run folder; nothing was deleted (choose another --out)`,
      );
    }
    for (const e of entries) {
      await rm(join(dir, e), { recursive: true, force: true }).catch((err: unknown) => {
        throw writeError(err, join(dir, e), 'E_BAD_ARGUMENT');
      });
    }
  }
  // One level at a time: Node's recursive mkdir never returns on paths such as /proc/nope.
  await ensureFolder(dir, { what: '--out' });
}

/**
 * What a run writes (see the module comment), path by path relative to the run folder; temp files
 * of atomic writes (".NAME.PID.HEX.tmp") may lie anywhere in it. Extend this list with any file a
 * run starts writing, or --force will refuse to replace such folders.
 */
export const RUN_FILES: RegExp[] = [
  /^config\.json$/,
  /^metrics\.(jsonl|csv)$/,
  /^timings\.jsonl$/,
  /^samples\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\.(jsonl|txt)$/,
  /^models\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\/(config\.json|model\.safetensors|tokenizer\.json|vocabulary\.json)$/,
  // A save interrupted before its staging folder was removed (Transformer.save).
  /^models\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\/\.collapse-save-[A-Za-z0-9]+\/(config\.json|model\.safetensors|tokenizer\.json|vocabulary\.json)$/,
  /^state\/progress\.json$/,
  /^state\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\.bin$/,
  /^report\.html$/,
  /^figures\/[a-z0-9-]+\.svg$/,
];
export const RUN_FOLDERS: RegExp[] = [
  /^figures$/, /^samples$/, /^samples\/[a-z][a-z0-9-]*$/, /^state$/, /^state\/[a-z][a-z0-9-]*$/,
  /^models$/, /^models\/[a-z][a-z0-9-]*$/, /^models\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}$/, /^models\/[a-z][a-z0-9-]*\/gen-[0-9]{3,}\/\.collapse-save-[A-Za-z0-9]+$/,
];
export const TEMP_FILE = /^\..+\.[0-9]+\.[0-9a-f]{8}\.tmp$/;

/**
 * Why `dir` is not a collapse-lab run folder (a reason for the message), or null when it is one:
 * a config.json with collapse-lab's marker, a state/progress.json, and nothing but what a run
 * writes (no symbolic links, no special files).
 */
export async function foreignEntry(dir: string): Promise<string | null> {
  const cfgPath = join(dir, 'config.json');
  let meta: unknown;
  try {
    if (!(await statRegularFile(cfgPath))) return 'it has no config.json';
    meta = JSON.parse(await readRegularText(cfgPath, { maxBytes: 16 * 2 ** 20 }));
  } catch {
    return 'its config.json is not one collapse-lab wrote';
  }
  if (!isObject(meta) || typeof meta.collapseLab !== 'string' || !isObject(meta.config)) return 'its config.json is not one collapse-lab wrote';
  try {
    if (!(await statRegularFile(join(dir, 'state', 'progress.json')))) return 'it has no state/progress.json';
  } catch {
    return 'its state/progress.json is not a file';
  }
  const walk = async (rel: string, depth: number): Promise<string | null> => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(rel ? join(dir, rel) : dir, { withFileTypes: true });
    } catch (err) {
      return `${rel || dir} cannot be listed (${fsReason(err)})`;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      if (e.isFile() && TEMP_FILE.test(e.name)) continue;
      const known = e.isFile() ? RUN_FILES.some((re) => re.test(p)) : e.isDirectory() && depth < 4 && RUN_FOLDERS.some((re) => re.test(p));
      if (!known) return `it holds ${p}, which a run does not write`;
      if (e.isDirectory()) {
        const why = await walk(p, depth + 1);
        if (why !== null) return why;
      }
    }
    return null;
  };
  return walk('', 0);
}

export async function readJson(path: string, what: string): Promise<unknown> {
  if (!(await statRegularFile(path, { message: (p, reason) => `cannot resume: ${what} ${p}: ${reason}` }))) {
    throw new CollapseError('E_BAD_ARGUMENT', `cannot resume: no ${what} at ${path} (is this a collapse-lab run folder?)`);
  }
  const text = await readRegularText(path, { message: (p, reason) => `cannot resume: ${what} ${p}: ${reason}` });
  try {
    return JSON.parse(text);
  } catch {
    throw new CollapseError('E_BAD_CONFIG', `cannot resume: ${path} is not valid JSON`);
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Removes temp files (".name.pid.hex.tmp") that a killed process left behind. */
export async function removeStrayTemps(dir: string, depth = 4): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory() && depth > 0) await removeStrayTemps(p, depth - 1);
    else if (e.isFile() && /^\..+\.[0-9]+\.[0-9a-f]{8}\.tmp$/.test(e.name)) await rm(p, { force: true });
  }
}

/** mkdir -p inside the run folder (which exists), with file-system errors naming the path. */
export async function makeFolder(path: string): Promise<void> {
  await mkdir(path, { recursive: true }).catch((err: unknown) => {
    throw writeError(err, path);
  });
}

const pad = (n: number) => String(n).padStart(3, '0');

/** state/<paradigm>/gen-NNN.bin: S_n as the run state keeps it. */
export const statePath = (dir: string, paradigm: string, n: number) => join(dir, 'state', paradigm, `gen-${pad(n)}.bin`);
/** samples/<paradigm>/gen-NNN.jsonl: the first sequences of S_n, readable. */
export const samplePath = (dir: string, paradigm: string, n: number) => join(dir, 'samples', paradigm, `gen-${pad(n)}.jsonl`);
/** models/<paradigm>/gen-NNN/: M_n, with saveModels. */
export const modelPath = (dir: string, paradigm: string, n: number) => join(dir, 'models', paradigm, `gen-${pad(n)}`);

/** Writes M_n into models/<paradigm>/gen-NNN/ (the model's own format: a transformer's is Hugging Face's). */
export async function saveModel(dir: string, paradigm: string, n: number, model: { save(path: string): Promise<void> }): Promise<void> {
  await makeFolder(join(dir, 'models', paradigm));
  await model.save(modelPath(dir, paradigm, n));
}

/** Writes S_n's state file and its readable sample (folders made as needed). */
export async function saveGeneration(dir: string, paradigm: string, n: number, S: TokenCorpus, decode: (ids: Uint32Array) => string, keep: number): Promise<void> {
  await makeFolder(join(dir, 'state', paradigm));
  await writeSample(statePath(dir, paradigm, n), S);
  await makeFolder(join(dir, 'samples', paradigm));
  await writeFileAtomic(samplePath(dir, paradigm, n), sampleJsonl(S, decode, keep));
}

/** Appends one line to timings.jsonl (wall times: the one file that differs between runs). */
export async function appendTiming(dir: string, timing: object): Promise<void> {
  await appendFile(join(dir, 'timings.jsonl'), JSON.stringify(timing) + '\n').catch((err: unknown) => {
    throw writeError(err, join(dir, 'timings.jsonl'));
  });
}

/** Removes the per-paradigm state folders (a finished run keeps only state/progress.json). */
export async function removeState(dir: string, paradigms: readonly string[]): Promise<void> {
  for (const p of paradigms) await rm(join(dir, 'state', p), { recursive: true, force: true });
}

/** Reads metrics.jsonl of a run folder (E_BAD_ARGUMENT naming the line when one is not JSON). */
export async function readRecords(dir: string): Promise<MetricsRecord[]> {
  const file = join(dir, 'metrics.jsonl');
  if (!(await statRegularFile(file))) throw new CollapseError('E_BAD_ARGUMENT', `no metrics.jsonl in ${dir}: is it a collapse-lab run folder?`);
  const text = await readRegularText(file);
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l, i) => {
      try {
        return JSON.parse(l) as MetricsRecord;
      } catch {
        throw new CollapseError('E_BAD_ARGUMENT', `${dir}/metrics.jsonl line ${i + 1} is not JSON`);
      }
    });
}
