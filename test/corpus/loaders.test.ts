/**
 * Text, JSONL, TinyStories and explicit-file loaders on small fixtures written to a temp folder,
 * plus every error path.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CollapseError } from '../../src/errors.js';
import { loadCorpus, parseCorpusSpec, whitespaceTokenizer, wordPunctTokenizer, type Corpus, type Vocabulary } from '../../src/corpus/index.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'collapse-corpus-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Writes a file under the temp folder (creating folders) and returns its path. */
function put(rel: string, content: string | Uint8Array): string {
  const p = path.join(tmp, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  return p;
}

function sentences(c: Corpus, v: Vocabulary): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < c.offsets.length; i++) out.push(v.decode(c.tokens.subarray(c.offsets[i], c.offsets[i + 1])).join(' '));
  return out;
}

async function errorOf(p: Promise<unknown>): Promise<CollapseError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CollapseError);
    return e as CollapseError;
  }
  throw new Error('expected a CollapseError, but the call succeeded');
}

describe('text', () => {
  test('one sequence per non-blank line, 80/10/10 by order, vocabulary from train only', async () => {
    const lines = Array.from({ length: 20 }, (_, i) => `w${i} common x`);
    const file = put('text/lines.txt', lines.slice(0, 10).join('\n') + '\n\n   \n' + lines.slice(10).join('\r\n'));
    const r = await loadCorpus({ kind: 'text', path: file });
    expect(r.info.train.sequences).toBe(16);
    expect(r.info.valid.sequences).toBe(2);
    expect(r.info.test.sequences).toBe(2);
    expect(sentences(r.train, r.vocab)[0]).toBe('w0 common x');
    expect(sentences(r.valid, r.vocab)).toEqual(['<unk> common x', '<unk> common x']); // w16, w17 unseen in train
    expect(r.vocab.has('w15')).toBe(true);
    expect(r.vocab.has('w16')).toBe(false);
    expect(r.info.valid.oovRate).toBeCloseTo(1 / 3, 12);
    expect(r.info.minCount).toBe(1);
    expect(r.vocab.size).toBe(3 + 16 + 2);
    expect(r.info.kind).toBe('text');
  });

  test('byte-level whitespace scan agrees with whitespaceTokenizer (Unicode spaces, CRLF, BOM)', async () => {
    const text = '\uFEFFa\u00a0b\tc\r\n  d\u3000e\u2028f\u202Fg \u2003h\u200bi\n\u0085j ü\u00a0é\n日本 語\u205Fx';
    const file = put('text/unicode.txt', text);
    const r = await loadCorpus({ kind: 'text', path: file });
    const want = text
      .replace(/^\uFEFF/, '')
      .split('\n')
      .map((l) => whitespaceTokenizer(l).join(' '))
      .filter((l) => l.length > 0);
    const all = [r.train, r.valid, r.test].flatMap((c) => sentences(c, r.vocab));
    expect(all).toEqual(want);
    expect(want[0]).toBe('a b c');
    expect(want[1]).toBe('d e f g h\u200bi'); // U+200B is not whitespace
  });

  test('paragraph unit, wordpunct tokenizer with lowercase', async () => {
    const file = put('text/paras.txt', 'Hello, World!\nSecond line.\n\n \nNew paragraph: don\'t stop.\n');
    const r = await loadCorpus({ kind: 'text', path: file, unit: 'paragraph', tokenizer: 'wordpunct', lowercase: true });
    expect(r.info.train.sequences).toBe(2);
    expect(sentences(r.train, r.vocab)).toEqual(['hello , world ! second line .', "new paragraph : don't stop ."]);
    expect(r.info.tokenizer).toContain('wordpunct');
  });

  test('paragraph unit with the byte scanner, and whitespace lowercase merges types', async () => {
    const file = put('text/paras2.txt', 'The cat\nsat\n\nTHE the\n');
    const r = await loadCorpus({ kind: 'text', path: file, unit: 'paragraph', lowercase: true });
    expect(sentences(r.train, r.vocab)).toEqual(['the cat sat', 'the the']);
    expect(r.vocab.id('the')).toBe(3); // count 3 after merging The/THE/the
    expect(r.vocab.has('The')).toBe(false);
  });

  test('a folder: files recursively in name order, hidden files skipped', async () => {
    put('folder/b.txt', 'from b\n');
    put('folder/a/z.txt', 'from a/z\n');
    put('folder/a/y.txt', 'from a/y');
    put('folder/.hidden.txt', 'hidden\n');
    put('folder/.git/x.txt', 'hidden too\n');
    put('folder/c.txt', '\n\n');
    const r = await loadCorpus(`text:${path.join(tmp, 'folder')}`);
    expect(sentences(r.train, r.vocab)).toEqual(['from a/y', 'from a/z', 'from b']);
    expect(r.info.files).toBe(4);
  });

  test('options: minCount and maxTrainTokens', async () => {
    const file = put('text/counts.txt', Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? 'a a b' : 'a c')).join('\n'));
    const r = await loadCorpus({ kind: 'text', path: file }, { minCount: 11 });
    // train = 24 lines: a 32, b 8, c 16 → b below 11
    expect(r.vocab.toArray()).toEqual(['<unk>', '<s>', '</s>', 'a', 'c']);
    const capped = await loadCorpus({ kind: 'text', path: file }, { maxTrainTokens: 10 });
    expect(capped.train.tokens.length).toBeLessThanOrEqual(10);
    expect(sentences(capped.train, capped.vocab)).toEqual(['a a b', 'a c', 'a c', 'a a b']);
    expect(capped.info.valid.sequences).toBe(3);
  });

  test('lines and pieces longer than the 1 MiB read buffer', async () => {
    // ~2.7 MB: many lines (pieces end mid-line) and one 1.5 MB line (the read buffer must grow).
    const words = Array.from({ length: 250_000 }, (_, i) => `tok${i % 997}`);
    const long = words.slice(0, 200_000).join(' ');
    const body: string[] = [];
    for (let i = 0; i < 20_000; i++) body.push(words.slice(i, i + 10).join(' '));
    const text = body.slice(0, 10_000).join('\n') + '\n' + long + '\n' + body.slice(10_000).join('\n') + '\n';
    expect(text.length).toBeGreaterThan(2.5e6);
    expect(long.length).toBeGreaterThan(1 << 20);
    const file = put('text/big.txt', text);
    const want = text
      .split('\n')
      .filter((l) => l.trim().length > 0)
      .map((l) => l.split(' '));
    for (const tokenizer of ['whitespace', 'wordpunct'] as const) {
      const r = await loadCorpus({ kind: 'text', path: file, tokenizer });
      const total = r.info.train.tokens + r.info.valid.tokens + r.info.test.tokens;
      expect(total).toBe(want.reduce((n, s) => n + s.length, 0));
      expect(r.info.train.sequences + r.info.valid.sequences + r.info.test.sequences).toBe(20_001);
      const train = sentences(r.train, r.vocab);
      expect(train[10_000]).toBe(long);
      expect(train[12_345]).toBe(want[12_345]!.join(' '));
    }
  });
});

describe('jsonl', () => {
  test('text from a field, wordpunct by default', async () => {
    const rows = Array.from({ length: 10 }, (_, i) => JSON.stringify({ id: i, text: `Story ${i}: it's fine.` }));
    const file = put('data/rows.jsonl', rows.slice(0, 5).join('\n') + '\n\n' + rows.slice(5).join('\n') + '\n');
    const r = await loadCorpus({ kind: 'jsonl', path: file, field: 'text' });
    expect(r.info.train.sequences).toBe(8);
    expect(sentences(r.train, r.vocab)[3]).toBe("Story 3 : it's fine .");
    const viaString = await loadCorpus(`jsonl:${file}:text`, { tokenizer: 'whitespace' });
    expect(sentences(viaString.train, viaString.vocab)[3]).toBe("Story 3: it's fine.");
  });

  test('a line that is not JSON, or lacks the field, names file:line', async () => {
    const bad = put('data/bad.jsonl', '{"text":"ok"}\n{"text": oops}\n');
    const e = await errorOf(loadCorpus({ kind: 'jsonl', path: bad, field: 'text' }));
    expect(e.code).toBe('E_BAD_CORPUS');
    expect(e.message).toContain(`${bad}:2:`);
    const missing = put('data/missing.jsonl', '{"text":"ok"}\n\n{"body":"no"}\n');
    const e2 = await errorOf(loadCorpus({ kind: 'jsonl', path: missing, field: 'text' }));
    expect(e2.code).toBe('E_BAD_CORPUS');
    expect(e2.message).toContain(`${missing}:3:`);
    expect(e2.message).toContain('"text"');
    const notString = put('data/num.jsonl', '{"text":5}\n');
    expect((await errorOf(loadCorpus({ kind: 'jsonl', path: notString, field: 'text' }))).code).toBe('E_BAD_CORPUS');
    const arr = put('data/arr.jsonl', '["text"]\n');
    expect((await errorOf(loadCorpus({ kind: 'jsonl', path: arr, field: 'text' }))).code).toBe('E_BAD_CORPUS');
  });
});

describe('tinystories', () => {
  const story = (i: number): string => `Once upon a time, Tom${i} saw a DOG.\n\nThe end.`;
  const join = (from: number, to: number): string =>
    Array.from({ length: to - from }, (_, k) => story(from + k)).join('\n<|endoftext|>\n') + '\n<|endoftext|>\n';

  test('a folder with train and valid files: valid is cut in half into valid and test', async () => {
    put('ts/TinyStoriesV2-GPT4-train.txt', join(0, 6));
    put('ts/TinyStoriesV2-GPT4-valid.txt', join(100, 105));
    put('ts/README.md', 'not a story file');
    const r = await loadCorpus({ kind: 'tinystories', path: path.join(tmp, 'ts') });
    expect(r.info.train.sequences).toBe(6);
    expect(r.info.valid.sequences).toBe(3); // ⌈5/2⌉
    expect(r.info.test.sequences).toBe(2);
    // default tokenizer: wordpunct, lower-cased; the story's newlines are just whitespace
    expect(sentences(r.train, r.vocab)[0]).toBe('once upon a time , tom0 saw a dog . the end .');
    expect(sentences(r.valid, r.vocab)[0]).toBe('once upon a time , <unk> saw a dog . the end .');
    expect(r.info.files).toBe(2);
  });

  test('several candidate train files: the V2 one is preferred', async () => {
    put('ts2/TinyStories-train.txt', join(50, 52));
    put('ts2/TinyStoriesV2-GPT4-train.txt', join(0, 3));
    put('ts2/TinyStoriesV2-GPT4-valid.txt', join(100, 102));
    const r = await loadCorpus(`tinystories:${path.join(tmp, 'ts2')}`);
    expect(r.info.train.sequences).toBe(3);
  });

  test('a single file is split 80/10/10; maxTrainTokens caps train', async () => {
    const file = put('ts/one.txt', join(0, 20));
    const r = await loadCorpus({ kind: 'tinystories', path: file });
    expect([r.info.train.sequences, r.info.valid.sequences, r.info.test.sequences]).toEqual([16, 2, 2]);
    expect(r.info.train.tokens).toBe(16 * 13); // once upon a time , tomN saw a dog . the end .
    // the ts folder holds train/valid files: reading the train file stops at the cap
    const capped = await loadCorpus({ kind: 'tinystories', path: path.join(tmp, 'ts') }, { maxTrainTokens: 30 });
    expect(capped.info.train.sequences).toBe(2); // 2 × 13 ≤ 30 < 3 × 13
    expect(capped.info.valid.sequences).toBe(3);
  });

  test('separators split across read pieces', async () => {
    // Stories of ~100 KB so that separators fall at arbitrary places relative to 1 MiB pieces.
    const big = Array.from({ length: 30 }, (_, i) => `s${i} ` + 'word '.repeat(20_000 + i)).join('<|endoftext|>');
    const file = put('ts-big/stories.txt', big);
    const r = await loadCorpus({ kind: 'tinystories', path: file });
    expect(r.info.train.sequences + r.info.valid.sequences + r.info.test.sequences).toBe(30);
    expect(r.info.train.tokens).toBe(Array.from({ length: 24 }, (_, i) => 20_001 + i).reduce((a, b) => a + b, 0));
  });
});

describe('files', () => {
  test('explicit train, valid and test files', async () => {
    const train = put('f/train.txt', 'a b\nb c\n');
    const valid = put('f/valid.txt', 'a z\n');
    const test = put('f/test.txt', 'c\nq q\n');
    const r = await loadCorpus(`files:${train},${valid},${test}`);
    expect(sentences(r.train, r.vocab)).toEqual(['a b', 'b c']);
    expect(sentences(r.valid, r.vocab)).toEqual(['a <unk>']);
    expect(sentences(r.test, r.vocab)).toEqual(['c', '<unk> <unk>']);
    expect(r.info.test.oovRate).toBeCloseTo(2 / 3, 12);
    expect(r.vocab.toArray()).toEqual(['<unk>', '<s>', '</s>', 'b', 'a', 'c']);
  });

  test('train and valid only: valid is cut in half; maxTrainTokens stops reading train', async () => {
    const train = put('f2/train.txt', 'a b c\nd e\nf\n');
    const valid = put('f2/valid.txt', '1\n2\n3\n');
    const r = await loadCorpus({ kind: 'files', train, valid }, { maxTrainTokens: 5 });
    expect(sentences(r.train, r.vocab)).toEqual(['a b c', 'd e']);
    expect(sentences(r.valid, r.vocab)).toEqual(['<unk>', '<unk>']);
    expect(r.info.test.sequences).toBe(1);
  });

  test('a custom tokenizer function is accepted', async () => {
    const train = put('f3/train.txt', 'a-b-c\n');
    const r = await loadCorpus({ kind: 'files', train }, { tokenizer: (t) => t.split('-') });
    expect(sentences(r.train, r.vocab)).toEqual(['a b c']);
    const wp = await loadCorpus({ kind: 'files', train }, { tokenizer: wordPunctTokenizer() });
    expect(sentences(wp.train, wp.vocab)).toEqual(['a-b-c']);
  });
});

describe('errors', () => {
  test('missing path', async () => {
    const p = path.join(tmp, 'does-not-exist.txt');
    const e = await errorOf(loadCorpus({ kind: 'text', path: p }));
    expect(e.code).toBe('E_BAD_CORPUS');
    expect(e.message).toBe(`no such file or folder: ${p}`);
    expect((await errorOf(loadCorpus({ kind: 'brown', path: p }))).code).toBe('E_BAD_CORPUS');
    expect((await errorOf(loadCorpus(`files:${p}`))).code).toBe('E_BAD_CORPUS');
  });

  test('binary file', async () => {
    const p = put('err/binary.bin', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0x00, 0x00, 0x41, 0x0a]));
    const e = await errorOf(loadCorpus({ kind: 'text', path: p }));
    expect(e.code).toBe('E_BAD_CORPUS');
    expect(e.message).toContain('looks binary');
    expect(e.message).toContain(p);
  });

  test('invalid UTF-8, also far into the file', async () => {
    const p = put('err/latin1.txt', Buffer.concat([Buffer.from('caf'), Buffer.from([0xe9]), Buffer.from(' au lait\n')]));
    for (const tokenizer of ['whitespace', 'wordpunct'] as const) {
      const e = await errorOf(loadCorpus({ kind: 'text', path: p, tokenizer }));
      expect(e.code).toBe('E_BAD_CORPUS');
      expect(e.message).toContain('not valid UTF-8');
      expect(e.message).toContain('offset 3');
    }
    const far = put('err/far.txt', Buffer.concat([Buffer.from('ok line\n'.repeat(300_000)), Buffer.from([0xc3, 0x28, 0x0a])]));
    const e = await errorOf(loadCorpus({ kind: 'tinystories', path: far }));
    expect(e.code).toBe('E_BAD_CORPUS');
    expect(e.message).toContain(`offset ${8 * 300_000}`);
    const truncated = put('err/trunc.txt', Buffer.from([0x61, 0x20, 0xe2, 0x82]));
    expect((await errorOf(loadCorpus({ kind: 'text', path: truncated }))).code).toBe('E_BAD_CORPUS');
    const surrogate = put('err/surrogate.txt', Buffer.from([0x61, 0xed, 0xa0, 0x80, 0x0a]));
    expect((await errorOf(loadCorpus({ kind: 'text', path: surrogate }))).code).toBe('E_BAD_CORPUS');
  });

  test('empty corpora', async () => {
    const empty = put('err/empty.txt', '');
    expect((await errorOf(loadCorpus({ kind: 'text', path: empty }))).code).toBe('E_CORPUS_EMPTY');
    const blank = put('err/blank.txt', '\n  \n\t\n');
    const e = await errorOf(loadCorpus({ kind: 'text', path: blank }));
    expect(e.code).toBe('E_CORPUS_EMPTY');
    expect(e.message).toContain(blank);
    mkdirSync(path.join(tmp, 'err/emptydir'), { recursive: true });
    expect((await errorOf(loadCorpus({ kind: 'text', path: path.join(tmp, 'err/emptydir') }))).code).toBe('E_CORPUS_EMPTY');
    const one = put('err/one.txt', 'a b c d e\n');
    expect((await errorOf(loadCorpus({ kind: 'text', path: one }, { maxTrainTokens: 2 }))).code).toBe('E_CORPUS_EMPTY');
  });

  test('bad arguments', async () => {
    expect((await errorOf(loadCorpus('nonsense'))).code).toBe('E_BAD_ARGUMENT');
    const file = put('err/ok.txt', 'a\n');
    expect((await errorOf(loadCorpus({ kind: 'text', path: file }, { minCount: 0 }))).code).toBe('E_BAD_ARGUMENT');
    expect((await errorOf(loadCorpus({ kind: 'text', path: file }, { maxTrainTokens: -5 }))).code).toBe('E_BAD_ARGUMENT');
    expect((await errorOf(loadCorpus({ kind: 'text', path: file, unit: 'word' as 'line' }))).code).toBe('E_BAD_ARGUMENT');
    expect((await errorOf(loadCorpus({ kind: 'text', path: file, tokenizer: 'bpe' as 'whitespace' }))).code).toBe('E_BAD_ARGUMENT');
    expect((await errorOf(loadCorpus({ kind: 'zip', path: file } as never))).code).toBe('E_BAD_ARGUMENT');
  });
});

describe('parseCorpusSpec', () => {
  test('accepted forms', () => {
    expect(parseCorpusSpec('brown')).toEqual({ kind: 'brown' });
    expect(parseCorpusSpec('text:data/a.txt')).toEqual({ kind: 'text', path: 'data/a.txt' });
    expect(parseCorpusSpec('jsonl:C:\\data\\x.jsonl:text')).toEqual({ kind: 'jsonl', path: 'C:\\data\\x.jsonl', field: 'text' });
    expect(parseCorpusSpec('tinystories:/data/ts')).toEqual({ kind: 'tinystories', path: '/data/ts' });
    expect(parseCorpusSpec('files:tr.txt')).toEqual({ kind: 'files', train: 'tr.txt' });
    expect(parseCorpusSpec('files:tr.txt,va.txt,te.txt')).toEqual({ kind: 'files', train: 'tr.txt', valid: 'va.txt', test: 'te.txt' });
  });

  test('anything else is E_BAD_ARGUMENT with the accepted forms in the message', () => {
    for (const bad of ['', 'brwn', 'text', 'text:', 'jsonl:x.jsonl', 'jsonl:x.jsonl:', 'files:', 'files:a,,b', 'files:a,b,c,d', 'csv:x']) {
      let err: unknown;
      try {
        parseCorpusSpec(bad);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(CollapseError);
      expect((err as CollapseError).code).toBe('E_BAD_ARGUMENT');
      expect((err as CollapseError).message).toContain('text:PATH');
      expect((err as CollapseError).message).not.toContain('\n');
    }
  });
});
