/** `npm run bench`: runs every suite and prints a Markdown table (the one in the README). */
import { cpus } from 'node:os';
import { accumulateBench } from './accumulate.bench.js';
import { e2eBench } from './e2e.bench.js';
import { kenlmBench } from './kenlm.bench.js';
import { ngramBench, type BenchRow } from './ngram.bench.js';
import { transformerBench } from './transformer.bench.js';

const fmt = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(1));

async function main() {
  const only = process.argv[2];
  const rows: BenchRow[] = [];
  if (!only || only === 'ngram') rows.push(...(await ngramBench()));
  console.log(`\nmachine: ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, node ${process.versions.node}\n`);
  if (rows.length) {
    console.log('| task | mean | best | rate |');
    console.log('|---|---:|---:|---:|');
  }
  for (const r of rows) {
    const mean = r.meanMs ? `${r.meanMs.toFixed(1)} ms` : '';
    const best = r.minMs ? `${r.minMs.toFixed(1)} ms` : '';
    console.log(`| ${r.task} | ${mean} | ${best} | ${fmt(r.rate)} ${r.unit} |`);
  }
  if (!only || only === 'ngram' || only === 'kenlm') {
    // The KenLM peer, when its binaries are on the PATH or in $KENLM_BIN (README: "KenLM peer").
    const krows = await kenlmBench();
    if (!krows) console.log('\nKenLM peer: lmplz/build_binary/query not found (set KENLM_BIN); skipped');
    else {
      console.log('\n| KenLM side by side (same corpus, same run) | best | rate | note |');
      console.log('|---|---:|---:|---|');
      for (const r of krows) console.log(`| ${r.task} | ${r.ms ? `${r.ms.toFixed(1)} ms` : ''} | ${r.rate ? `${fmt(r.rate)} ${r.unit}` : ''} | ${r.note ?? ''} |`);
    }
  }
  if (!only || only === 'accumulate' || only === 'e2e') {
    // Accumulate's refits, full counting against the incremental fit (CPU time: README "End to end").
    console.log('\n| Accumulate refits | CPU (user + sys) | wall |');
    console.log('|---|---:|---:|');
    for (const r of await accumulateBench()) console.log(`| ${r.task} | ${r.cpuS.toFixed(2)} s | ${r.wallS.toFixed(2)} s |`);
  }
  if (!only || only === 'e2e') {
    console.log('\n| end to end | wall | peak RSS |');
    console.log('|---|---:|---:|');
    for (const r of await e2eBench()) console.log(`| ${r.task} | ${r.wallS.toFixed(1)} s | ${r.peakRssMb ? `${(r.peakRssMb / 1024).toFixed(2)} GB` : '–'} |`);
  }
  if (!only || only === 'transformer') {
    // The transformer suite interleaves the tuned PyTorch peer (bench/pytorch_peer.py) with the engine
    // round by round when torch is importable.
    const trows = await transformerBench([2], !process.argv.includes('--no-peer'));
    const hasPeer = trows.some((r) => r.peer !== undefined);
    console.log(`\n| transformer task | mean | best | rate (best) |${hasPeer ? ' PyTorch | best / PyTorch |' : ''}`);
    console.log(`|---|---:|---:|---:|${hasPeer ? '---:|---:|' : ''}`);
    for (const r of trows) {
      const peer = r.peer !== undefined ? ` ${fmt(r.peer)} | ${(r.bestRate / r.peer).toFixed(2)}× |` : hasPeer ? ' – | – |' : '';
      console.log(`| ${r.task} | ${r.meanMs.toFixed(1)} ms | ${r.minMs.toFixed(1)} ms | ${fmt(r.bestRate)} ${r.unit} |${peer}`);
    }
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
