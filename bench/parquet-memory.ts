/**
 * Memory of reading a large parquet corpus: does `parquet:DIR` stream?
 *
 *   npx tsx bench/parquet-memory.ts [--mb 1024] [--row-group 20000] [--codec UNCOMPRESSED|SNAPPY] [--keep DIR]
 *
 * 1. Writes, in a temp folder, one ~128 MB parquet shard (a "text" column of synthetic stories over
 *    a 30,000-word Zipf-like vocabulary, and an "id" column) with hyparquet-writer, and copies it
 *    until the folder holds `--mb` MB (writing distinct shards with hyparquet-writer is slow on a
 *    loaded machine; the reader does the same work for a copy); the same stories, as many times,
 *    go to a plain text file, one per line.
 * 2. In a child process each (so each peak is its own): loads `parquet:DIR` and, as the control,
 *    `text:FILE`, both with the whitespace tokenizer, so both build the very same corpus; the
 *    child reports its peak resident memory (VmHWM), its resident memory before loading, and the
 *    bytes of the corpus's final token / offset / provenance arrays.
 * 3. Prints both and what parquet adds over the plain-text read of the same corpus. Both
 *    children run with a 256 MB JavaScript heap (--max-old-space-size=256): the token arrays live
 *    outside the heap, so a reader that held a whole file's text would fail there.
 *
 * Linux only (reads /proc/self/status).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(import.meta.url);

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : dflt;
}

function statusKb(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

interface ChildReport {
  spec: string;
  baseRssMb: number;
  peakRssMb: number;
  arraysMb: number;
  tokens: number;
  sequences: number;
  vocab: number;
  seconds: number;
}

async function child(spec: string): Promise<void> {
  const { loadCorpus } = await import('../src/corpus/index.js');
  const baseRssMb = statusKb('VmRSS') / 1024;
  const t0 = performance.now();
  const c = await loadCorpus(spec, { tokenizer: 'whitespace' });
  const seconds = (performance.now() - t0) / 1000;
  let arrays = 0;
  let tokens = 0;
  let sequences = 0;
  for (const s of [c.train, c.valid, c.test]) {
    arrays += s.tokens.byteLength + s.offsets.byteLength + s.provenance.byteLength;
    tokens += s.tokens.length;
    sequences += s.offsets.length - 1;
  }
  const report: ChildReport = { spec, baseRssMb, peakRssMb: statusKb('VmHWM') / 1024, arraysMb: arrays / 2 ** 20, tokens, sequences, vocab: c.vocab.size, seconds };
  process.stdout.write(JSON.stringify(report) + '\n');
}

function runChild(spec: string): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--max-old-space-size=256', ...process.execArgv, HERE, '--child', spec], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) reject(new Error(`child for ${spec} exited with ${code}`));
      else resolve(JSON.parse(out.trim().split('\n').pop() as string) as ChildReport);
    });
  });
}

/** Deterministic stories: 40–240 words drawn from a 30,000-word vocabulary, skewed to its head. */
function storyMaker(seed: number): () => string {
  const syl = ['ka', 'lo', 'mi', 'ne', 'ru', 'ta', 'shi', 'po', 'an', 'el', 'or', 'un', 'by', 'st', 'qu', 'ze'];
  const words: string[] = [];
  for (let i = 0; words.length < 30000; i++) {
    let w = '';
    let x = i + 1;
    while (x > 0) {
      w += syl[x % syl.length];
      x = Math.floor(x / syl.length);
    }
    words.push(w);
  }
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  return () => {
    const n = 40 + Math.floor(rnd() * 200);
    const parts = new Array<string>(n);
    for (let i = 0; i < n; i++) parts[i] = words[Math.floor(rnd() ** 3 * words.length)] as string;
    return parts.join(' ') + '.';
  };
}

async function generate(dir: string, totalMb: number, rowGroup: number, codec: string): Promise<{ parquetDir: string; textFile: string; parquetBytes: number }> {
  const { parquetWriteFile } = await import('hyparquet-writer');
  const parquetDir = path.join(dir, 'parquet');
  mkdirSync(parquetDir, { recursive: true });
  const textFile = path.join(dir, 'stories.txt');
  const text = createWriteStream(textFile);
  const story = storyMaker(17);
  const shardBytes = 128 * 2 ** 20;
  const shards = Math.max(1, Math.ceil((totalMb * 2 ** 20) / shardBytes));
  let parquetBytes = 0;
  let id = 0;
  let first = '';
  let firstText = '';
  for (let k = 0; k < shards; k++) {
    const file = path.join(parquetDir, `part-${String(k).padStart(5, '0')}.parquet`);
    if (k > 0) {
      copyFileSync(first, file);
      parquetBytes += statSync(file).size;
      if (!text.write(firstText)) await new Promise<void>((r) => text.once('drain', () => r()));
      continue;
    }
    const target = Math.min(shardBytes, totalMb * 2 ** 20 - k * shardBytes);
    const rows: string[] = [];
    let bytes = 0;
    while (bytes < target) {
      const st = story();
      rows.push(st);
      bytes += st.length + 4;
    }
    parquetWriteFile({
      filename: file,
      columnData: [
        { name: 'id', data: Int32Array.from(rows, () => id++), type: 'INT32' },
        { name: 'text', data: rows, type: 'STRING', encoding: 'PLAIN' },
      ],
      codec: codec as 'UNCOMPRESSED',
      rowGroupSize: rowGroup,
      statistics: false,
    });
    parquetBytes += statSync(file).size;
    first = file;
    firstText = rows.join('\n') + '\n';
    if (!text.write(firstText)) await new Promise<void>((r) => text.once('drain', () => r()));
    process.stderr.write(`  wrote ${path.basename(file)} (${(statSync(file).size / 2 ** 20).toFixed(0)} MB, ${rows.length} rows)\n`);
  }
  await new Promise<void>((r) => text.end(() => r()));
  return { parquetDir, textFile, parquetBytes };
}

async function main(): Promise<void> {
  const childAt = process.argv.indexOf('--child');
  if (childAt >= 0) return child(process.argv[childAt + 1] as string);
  const totalMb = Number(arg('mb', '1024'));
  const rowGroup = Number(arg('row-group', '20000'));
  const codec = arg('codec', 'UNCOMPRESSED');
  const keep = arg('keep', '');
  const dir = keep || mkdtempSync(path.join(os.tmpdir(), 'collapse-parquet-bench-'));
  try {
    process.stderr.write(`generating ${totalMb} MB of parquet (${codec}, row groups of ${rowGroup} rows) in ${dir}\n`);
    const g = await generate(dir, totalMb, rowGroup, codec);
    const fmt = (r: ChildReport) =>
      `${r.spec.split(':')[0]!.padEnd(8)} peak RSS ${r.peakRssMb.toFixed(0).padStart(5)} MB  before loading ${r.baseRssMb.toFixed(0).padStart(4)} MB  ` +
      `corpus arrays ${r.arraysMb.toFixed(0).padStart(5)} MB  peak − before − arrays ${(r.peakRssMb - r.baseRssMb - r.arraysMb).toFixed(0).padStart(5)} MB  ` +
      `(${r.sequences} sequences, ${r.tokens} tokens, |V| ${r.vocab}, ${r.seconds.toFixed(1)} s)`;
    const pq = await runChild(`parquet:${g.parquetDir}`);
    const tx = await runChild(`text:${g.textFile}`);
    if (pq.tokens !== tx.tokens || pq.sequences !== tx.sequences || pq.vocab !== tx.vocab) throw new Error('the parquet and text reads gave different corpora');
    process.stdout.write(`parquet: ${(g.parquetBytes / 2 ** 20).toFixed(0)} MB in ${Math.ceil(totalMb / 128)} shards, ${codec}, row groups of ${rowGroup} rows; load average ${os.loadavg()[0]!.toFixed(2)} on ${os.cpus().length} CPUs\n`);
    process.stdout.write(fmt(pq) + '\n' + fmt(tx) + '\n');
    process.stdout.write(`parquet over the plain-text read of the same corpus: ${(pq.peakRssMb - tx.peakRssMb).toFixed(0)} MB of peak RSS\n`);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
