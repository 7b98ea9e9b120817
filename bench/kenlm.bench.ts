/**
 * The KenLM peer for the n-gram engine (optional: used when its binaries are found). Builds a KN
 * trigram with `lmplz` on all of Brown (tokens written as w<id>, one sentence per line), converts it
 * with `build_binary` (probing hash, the fast format, and trie), and scores the same text with
 * `query`; the engine fits and scores the same corpus in the same process run, one after the other.
 * Each timing is the best of `reps` runs (the machine may be shared). KenLM's own code never enters
 * the project: it is an external program found through $KENLM_BIN (a folder) or the PATH.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NGramModel } from '../src/index.js';
import { allOfBrown } from './brown.js';

export interface KenlmRow {
  task: string;
  ms: number;
  rate?: number;
  unit?: string;
  note?: string;
}

/** Folder holding lmplz, build_binary and query, or null. */
export function findKenlm(): string | null {
  const dirs = [process.env.KENLM_BIN, ...(process.env.PATH ?? '').split(':')].filter((d): d is string => !!d);
  for (const d of dirs) if (['lmplz', 'build_binary', 'query'].every((b) => existsSync(join(d, b)))) return d;
  return null;
}

function timed(cmd: string, args: string[], input?: string): { ms: number; stdout: string; stderr: string } {
  const t = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 30, ...(input !== undefined ? { input } : {}) });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return { ms, stdout: r.stdout, stderr: r.stderr };
}

export async function kenlmBench(reps = 3, threads = 2): Promise<KenlmRow[] | null> {
  const bin = findKenlm();
  if (!bin) return null;
  const { corpus, vocabSize } = await allOfBrown();
  const positions = corpus.tokens.length + corpus.offsets.length - 1;
  const dir = await mkdtemp(join(tmpdir(), 'collapse-kenlm-'));
  try {
    const lines: string[] = [];
    for (let i = 0; i + 1 < corpus.offsets.length; i++) {
      lines.push(Array.from(corpus.tokens.subarray(corpus.offsets[i]!, corpus.offsets[i + 1]!), (t) => `w${t}`).join(' '));
    }
    const text = lines.join('\n') + '\n';
    const txt = join(dir, 'brown.txt');
    await writeFile(txt, text);
    const arpa = join(dir, 'brown.arpa');
    const rows: KenlmRow[] = [];
    const best = (f: () => number) => Math.min(...Array.from({ length: reps }, f));
    // lmplz: -S memory for its sorts, -T temp folder; --discount_fallback is not needed on Brown.
    rows.push({ task: 'KenLM lmplz -o 3 (fit, text → ARPA)', ms: best(() => timed(join(bin, 'lmplz'), ['-o', '3', '-S', '1G', '-T', dir, '--text', txt, '--arpa', arpa]).ms) });
    const probing = join(dir, 'brown.probing'), trie = join(dir, 'brown.trie');
    timed(join(bin, 'build_binary'), ['probing', arpa, probing]);
    timed(join(bin, 'build_binary'), ['trie', arpa, trie]);
    // query: summary only (no per-word output to write); the model loaded with -l populate (mmap +
    // populate, the Linux default) and -l read. Its load time is part of each run; the same run
    // with an empty input measures it, and the scoring rate is over the difference.
    let ppl = NaN;
    for (const [name, file] of [['probing', probing], ['trie', trie]] as const) {
      for (const load of ['populate', 'read']) {
        const args = ['-v', 'summary', '-l', load, file];
        const load0 = best(() => timed(join(bin, 'query'), args, '').ms);
        let out = '';
        const total = best(() => {
          const r = timed(join(bin, 'query'), args, text);
          out = r.stdout;
          return r.ms;
        });
        const m = /Perplexity including OOVs:\s*([0-9.]+)/.exec(out);
        if (m) ppl = Number(m[1]);
        const ms = Math.max(1e-3, total - load0);
        rows.push({ task: `KenLM query (${name}, -l ${load}), scoring only`, ms, rate: (positions / ms) * 1000, unit: 'tokens/s', note: `load ${load0.toFixed(0)} ms` });
      }
    }
    // The engine on the same corpus, same process run (query is single-threaded: 1 thread too).
    let engPpl = NaN;
    for (const t of [1, threads]) {
      const lm = new NGramModel({ order: 3, smoothing: 'kneser-ney', vocabSize, threads: t });
      let fit = Infinity, score = Infinity;
      for (let i = 0; i < reps; i++) {
        let t0 = performance.now();
        await lm.fit(corpus);
        fit = Math.min(fit, performance.now() - t0);
        t0 = performance.now();
        const ev = await lm.evaluate(corpus);
        score = Math.min(score, performance.now() - t0);
        engPpl = ev.perplexity;
      }
      rows.push({ task: `collapse-lab fit KN trigram, ${t} thr`, ms: fit });
      rows.push({ task: `collapse-lab evaluate, ${t} thr`, ms: score, rate: (positions / score) * 1000, unit: 'tokens/s' });
    }
    rows.push({ task: 'perplexity on Brown (KenLM / collapse-lab)', ms: 0, note: `${ppl.toFixed(3)} / ${engPpl.toFixed(3)}` });
    return rows;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
