/**
 * End to end: corpus options on the CLI and in --config (`collapse run --corpus parquet:DIR ...`):
 * the run's config.json records them, the run header reports the splits the library loads with
 * the same options, and bad values exit 2 with one line.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parquetWriteFile } from 'hyparquet-writer';
import { loadCorpus, type LoadedCorpus } from '../../src/corpus/index.js';
import { removeDir, requireBuiltCli, runCli, sentences, tempDir } from './helpers.js';

let root: string;
let pq: string;
let texts: string[];

beforeAll(() => {
  requireBuiltCli();
  root = tempDir('corpus-cli');
  // Capitalised words and punctuation, so --tokenize and --lowercase change the corpus.
  texts = sentences(5, 260, { vocab: 40, minLen: 3, maxLen: 10 }).map((s, i) => (i % 3 === 0 ? s.charAt(0).toUpperCase() + s.slice(1) : s) + (i % 2 ? '.' : '!'));
  pq = path.join(root, 'hf');
  mkdirSync(path.join(pq, 'data'), { recursive: true });
  const shard = (name: string, rows: string[]) =>
    parquetWriteFile({
      filename: path.join(pq, 'data', name),
      columnData: [
        { name: 'text', data: rows, type: 'STRING' },
        { name: 'n', data: rows.map((r) => r.length), type: 'INT32' },
      ],
      rowGroupSize: 50,
    });
  shard('train-00000-of-00002.parquet', texts.slice(0, 110));
  shard('train-00001-of-00002.parquet', texts.slice(110, 220));
  shard('validation-00000-of-00001.parquet', texts.slice(220));
});
afterAll(() => removeDir(root));

/** The header's split rows: split → [sequences, positions, <unk> %]. */
function headerRows(out: string): Record<string, [number, number, string]> {
  const rows: Record<string, [number, number, string]> = {};
  for (const m of out.matchAll(/^ {2}(train|valid|test) +([\d,]+) +([\d,]+) +([\d.]+%)$/gm)) {
    rows[m[1]!] = [Number(m[2]!.replace(/,/g, '')), Number(m[3]!.replace(/,/g, '')), m[4]!];
  }
  return rows;
}

function expectHeader(out: string, c: LoadedCorpus): void {
  const rows = headerRows(out);
  for (const s of ['train', 'valid', 'test'] as const) {
    expect(rows[s]).toEqual([c.info[s].sequences, c.info[s].positions, `${(100 * c.info[s].oovRate).toFixed(2)}%`]);
  }
  expect(out).toContain(`|V| = ${c.vocab.size.toLocaleString('en-US')} `);
}

test('parquet shards with --tokenize, --lowercase, --min-count: config.json records them, the header shows the splits', async () => {
  const out = path.join(root, 'run-pq');
  const r = await runCli(['run', '--corpus', `parquet:${pq}`, '--generations', '1', '--paradigm', 'replace', '--tokenize', 'whitespace', '--lowercase', '--min-count', '2', '--split', 'files', '--out', out]);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
  const meta = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
  expect(meta.config.corpus).toBe(`parquet:${pq}`);
  expect(meta.config.minCount).toBe(2);
  expect(meta.config.corpusOptions).toEqual({ tokenize: 'whitespace', lowercase: true, unit: null, split: 'files' });
  expect(meta.corpus.splitChoice).toBe('files');
  expect(meta.corpus.tokenizer).toBe('one sequence per row, whitespace, lowercased');
  // The library with the same options, as an independent reference for the header and config.json.
  const ref = await loadCorpus(`parquet:${pq}`, { tokenizer: 'whitespace', lowercase: true, minCount: 2, split: 'files' });
  expect(ref.info.train.sequences).toBe(220);
  expect(ref.info.valid.sequences + ref.info.test.sequences).toBe(40);
  for (const s of ['train', 'valid', 'test'] as const) expect(meta.corpus[s]).toEqual(ref.info[s]);
  expectHeader(r.stderr, ref); // on stderr as soon as the corpus is read
  expectHeader(r.stdout, ref); // and in the summary
  expect(r.stdout).toContain(`corpus parquet:${pq}: parquet ${pq}, column "text" (train 2 files, validation 1 file, test 0 files)`);
  // The default tokenizer (words) without lowercasing reads a different corpus.
  const dflt = await loadCorpus(`parquet:${pq}`, { minCount: 2 });
  expect(dflt.vocab.size).not.toBe(ref.vocab.size);
});

test('--config corpusOptions, flags overriding them field by field; text folder with --unit file and --split fractions', async () => {
  const folder = path.join(root, 'docs');
  mkdirSync(folder, { recursive: true });
  // 20 files, one document each (several lines): --unit file makes each one sequence.
  for (let i = 0; i < 20; i++) writeFileSync(path.join(folder, `doc-${String(i).padStart(2, '0')}.txt`), texts.slice(i * 12, i * 12 + 12).join('\n') + '\n');
  const cfgFile = path.join(root, 'cfg.json');
  writeFileSync(cfgFile, JSON.stringify({ corpus: `text:${folder}`, corpusOptions: { unit: 'file', split: [0.5, 0.25, 0.25], lowercase: true } }));
  const out = path.join(root, 'run-text');
  const r = await runCli(['run', '--config', cfgFile, '--no-lowercase', '--split', '0.7,0.15,0.15', '--generations', '1', '--paradigm', 'replace', '--out', out]);
  expect(r.code).toBe(0);
  const meta = JSON.parse(readFileSync(path.join(out, 'config.json'), 'utf8'));
  expect(meta.config.corpusOptions).toEqual({ tokenize: null, lowercase: false, unit: 'file', split: '0.7,0.15,0.15' });
  // 20 documents: ⌊20·0.15⌋ = 3 valid, 3 test, 14 train.
  expect([meta.corpus.train.sequences, meta.corpus.valid.sequences, meta.corpus.test.sequences]).toEqual([14, 3, 3]);
  const ref = await loadCorpus(`text:${folder}`, { unit: 'file', split: [0.7, 0.15, 0.15], lowercase: false });
  expectHeader(r.stdout, ref);
  // Each train sequence is a whole document: its tokens are the 12 lines' words.
  const words = texts.slice(0, 12).join(' ').split(/\s+/).filter(Boolean);
  expect(ref.vocab.decode(ref.train.tokens.subarray(ref.train.offsets[0], ref.train.offsets[1]))).toEqual(words.map((w) => (ref.vocab.has(w) ? w : '<unk>')));
});

test('bad corpus options exit 2 with one line, before any run folder is written', async () => {
  const cases: [string[], RegExp][] = [
    [['--split', '0.8,0.1'], /split must be "auto", "files" or three fractions/],
    [['--split', '0.8,0.1,0.1'], /has its own train\/validation\/test files; split fractions apply to a source without them/],
    [['--unit', 'paragraph'], /record unit .* applies to text and files corpora; parquet has its own records \(rows\)/],
    [['--tokenize', 'bpe'], /argument 'bpe' is invalid/],
    [['--corpus', `parquet:${pq}:body`], /no column "body"; its string columns: text$/m],
  ];
  for (const [args, re] of cases) {
    const out = path.join(root, 'bad');
    const r = await runCli(['run', '--corpus', `parquet:${pq}`, '--generations', '1', '--out', out, ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(re);
    expect(r.stderr.trim().split('\n').filter((l) => !l.startsWith('(run with --help')).length).toBe(1);
    expect(() => readFileSync(path.join(out, 'config.json'))).toThrow();
  }
  // --resume takes the run's own corpus options.
  const r = await runCli(['run', '--resume', path.join(root, 'run-pq'), '--lowercase']);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(/drop --lowercase/);
});
