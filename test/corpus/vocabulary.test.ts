import { CollapseError } from '../../src/errors.js';
import { Vocabulary } from '../../src/corpus/index.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CollapseError);
    return (e as CollapseError).code;
  }
  return undefined;
}

describe('Vocabulary.build', () => {
  const toy = 'the cat sat on the mat the cat ran'.split(' ');

  test('reserved ids, then descending count, ties by code-unit order', () => {
    const v = Vocabulary.build(toy);
    // counts: the 3, cat 2, mat/on/ran/sat 1 (ties in code-unit order)
    expect(v.toArray()).toEqual(['<unk>', '<s>', '</s>', 'the', 'cat', 'mat', 'on', 'ran', 'sat']);
    expect([Vocabulary.UNK, Vocabulary.BOS, Vocabulary.EOS]).toEqual([0, 1, 2]);
    expect([v.unk, v.bos, v.eos]).toEqual([0, 1, 2]);
    expect(v.size).toBe(9);
  });

  test('ties use UTF-16 code-unit order, not locale order', () => {
    const v = Vocabulary.build(['b', 'B', 'a', 'A', 'é', 'z']);
    expect(v.toArray().slice(3)).toEqual(['A', 'B', 'a', 'b', 'z', 'é']);
  });

  test('minCount sends rare types to <unk>', () => {
    const v = Vocabulary.build(toy, { minCount: 2 });
    expect(v.toArray()).toEqual(['<unk>', '<s>', '</s>', 'the', 'cat']);
    expect(v.id('sat')).toBe(Vocabulary.UNK);
    expect(Array.from(v.encode(['the', 'cat', 'sat']))).toEqual([3, 4, 0]);
  });

  test('maxSize counts the reserved ids', () => {
    const v = Vocabulary.build(toy, { maxSize: 5 });
    expect(v.toArray()).toEqual(['<unk>', '<s>', '</s>', 'the', 'cat']);
    expect(codeOf(() => Vocabulary.build(toy, { maxSize: 2 }))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => Vocabulary.build(toy, { minCount: 0 }))).toBe('E_BAD_ARGUMENT');
  });

  test('builds from a count map; reserved words in the input are not counted', () => {
    const v = Vocabulary.build(
      new Map([
        ['x', 5],
        ['<s>', 100],
        ['y', 5],
        ['z', 1],
      ]),
      { minCount: 2 },
    );
    expect(v.toArray()).toEqual(['<unk>', '<s>', '</s>', 'x', 'y']);
  });

  test('same counts give the same ids whatever the input order', () => {
    const a = Vocabulary.build(toy);
    const b = Vocabulary.build([...toy].reverse());
    expect(a.toArray()).toEqual(b.toArray());
  });
});

describe('Vocabulary lookups', () => {
  const v = Vocabulary.build('a b b c c c'.split(' '));

  test('id, word, has, encode, decode', () => {
    expect(v.id('c')).toBe(3);
    expect(v.id('nope')).toBe(v.unk);
    expect(v.has('a')).toBe(true);
    expect(v.has('nope')).toBe(false);
    expect(v.word(4)).toBe('b');
    const ids = v.encode(['c', 'b', 'a', 'zzz']);
    expect(ids).toBeInstanceOf(Uint32Array);
    expect(Array.from(ids)).toEqual([3, 4, 5, 0]);
    expect(v.decode(ids)).toEqual(['c', 'b', 'a', '<unk>']);
  });

  test('BOS/EOS words never encode as content; id() still finds them', () => {
    expect(v.id('<s>')).toBe(Vocabulary.BOS);
    expect(v.id('</s>')).toBe(Vocabulary.EOS);
    expect(Array.from(v.encode(['<s>', 'a', '</s>', '<unk>']))).toEqual([0, 5, 0, 0]);
  });

  test('out-of-range ids throw E_TOKEN_RANGE', () => {
    expect(codeOf(() => v.word(6))).toBe('E_TOKEN_RANGE');
    expect(codeOf(() => v.word(-1))).toBe('E_TOKEN_RANGE');
    expect(codeOf(() => v.word(1.5))).toBe('E_TOKEN_RANGE');
    expect(codeOf(() => v.decode([1, 99]))).toBe('E_TOKEN_RANGE');
  });

  test('toJSON / fromJSON round trip (object and text)', () => {
    const json = v.toJSON();
    expect(json.format).toBe('collapse-lab/vocabulary');
    const back = Vocabulary.fromJSON(JSON.parse(JSON.stringify(json)));
    expect(back.toArray()).toEqual(v.toArray());
    expect([back.unk, back.bos, back.eos]).toEqual([0, 1, 2]);
    const back2 = Vocabulary.fromJSON(JSON.stringify(v));
    expect(back2.id('b')).toBe(4);
    expect(codeOf(() => Vocabulary.fromJSON('{"format":"other"}'))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => Vocabulary.fromJSON('not json'))).toBe('E_BAD_ARGUMENT');
  });
});

describe('external vocabularies', () => {
  test('explicit special ids anywhere, never assumed to be 0-2', () => {
    const words = ['hello', '<|endoftext|>', 'world', '[UNK]', 'x'];
    const v = new Vocabulary(words, { unk: 3, bos: 1, eos: 1 });
    expect([v.unk, v.bos, v.eos]).toEqual([3, 1, 1]);
    expect(v.id('missing')).toBe(3);
    expect(Array.from(v.encode(['hello', 'missing', '<|endoftext|>', 'world']))).toEqual([0, 3, 3, 2]);
    expect(v.decode([0, 2])).toEqual(['hello', 'world']);
    const back = Vocabulary.fromJSON(v.toJSON());
    expect([back.unk, back.bos, back.eos]).toEqual([3, 1, 1]);
  });

  test('without explicit ids the special words are looked up by name', () => {
    const v = new Vocabulary(['x', '</s>', '<unk>', 'y', '<s>']);
    expect([v.unk, v.bos, v.eos]).toEqual([2, 4, 1]);
    expect(codeOf(() => new Vocabulary(['x', 'y']))).toBe('E_BAD_ARGUMENT');
  });

  test('invalid word lists and special ids are rejected', () => {
    expect(codeOf(() => new Vocabulary(['a', 'a', 'b'], { unk: 0, bos: 1, eos: 2 }))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => new Vocabulary(['a', 'b'], { unk: 0, bos: 1, eos: 2 }))).toBe('E_BAD_ARGUMENT');
    expect(codeOf(() => new Vocabulary(['a', 'b', 'c'], { unk: -1, bos: 1, eos: 2 }))).toBe('E_BAD_ARGUMENT');
  });
});
