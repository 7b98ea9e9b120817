/** `npm run bench`: runs every suite and prints a Markdown table (the one in the README). */
import { cpus } from 'node:os';
import { ngramBench, type BenchRow } from './ngram.bench.js';

const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(1));

async function main() {
  const only = process.argv[2];
  const rows: BenchRow[] = [];
  if (!only || only === 'ngram') rows.push(...(await ngramBench()));
  console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.versions.node}\n`);
  console.log('| task | mean | best | rate |');
  console.log('|---|---:|---:|---:|');
  for (const r of rows) {
    const mean = r.meanMs ? `${r.meanMs.toFixed(1)} ms` : '';
    const best = r.minMs ? `${r.minMs.toFixed(1)} ms` : '';
    console.log(`| ${r.task} | ${mean} | ${best} | ${fmt(r.rate)} ${r.unit} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
