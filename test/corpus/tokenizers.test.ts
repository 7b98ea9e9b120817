import { detokenize, whitespaceTokenizer, wordPunctTokenizer } from '../../src/corpus/index.js';

describe('whitespaceTokenizer', () => {
  test('splits on runs of any whitespace, no empty tokens', () => {
    expect(whitespaceTokenizer('  a\tb\u00a0c\u3000d  e\r\n')).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(whitespaceTokenizer('')).toEqual([]);
    expect(whitespaceTokenizer(' \t \u2028 ')).toEqual([]);
    expect(whitespaceTokenizer("don't,stop")).toEqual(["don't,stop"]);
  });
});

describe('wordPunctTokenizer', () => {
  const wp = wordPunctTokenizer();

  test('words keep internal apostrophes and hyphens; punctuation is split', () => {
    expect(wp("Don't stop-believing, it's rock'n'roll!")).toEqual(["Don't", 'stop-believing', ',', "it's", "rock'n'roll", '!']);
  });

  test('leading/trailing apostrophes and hyphens are punctuation', () => {
    expect(wp("'tis the end- of 'quotes'")).toEqual(["'", 'tis', 'the', 'end', '-', 'of', "'", 'quotes', "'"]);
    expect(wp('a--b')).toEqual(['a', '-', '-', 'b']);
    expect(wp('it’s ’quoted’')).toEqual(['it’s', '’', 'quoted', '’']);
  });

  test('numbers with internal separators stay whole', () => {
    expect(wp('pi is 3.14, not 1,000.50 at 10:30.')).toEqual(['pi', 'is', '3.14', ',', 'not', '1,000.50', 'at', '10:30', '.']);
    expect(wp('the 1990s, a 12-year-old')).toEqual(['the', '1990s', ',', 'a', '12-year-old']);
  });

  test('each punctuation character is its own token', () => {
    expect(wp('Wait...what?!')).toEqual(['Wait', '.', '.', '.', 'what', '?', '!']);
    expect(wp('e.g. (x)')).toEqual(['e', '.', 'g', '.', '(', 'x', ')']);
    expect(wp('a_b')).toEqual(['a', '_', 'b']);
  });

  test('Unicode letters, combining marks, CJK and astral symbols', () => {
    expect(wp('Ünïcödé naïve café—résumé')).toEqual(['Ünïcödé', 'naïve', 'café', '—', 'résumé']);
    expect(wp('e\u0301cole')).toEqual(['e\u0301cole']);
    expect(wp('日本語のテキスト。')).toEqual(['日本語のテキスト', '。']);
    expect(wp('smile 😀!')).toEqual(['smile', '😀', '!']);
    expect(wp('Привет, мир')).toEqual(['Привет', ',', 'мир']);
  });

  test('lowercase option', () => {
    expect(wordPunctTokenizer({ lowercase: true })('HELLO World, ÉTÉ')).toEqual(['hello', 'world', ',', 'été']);
    expect(wp('')).toEqual([]);
    expect(wp('  \n ')).toEqual([]);
  });
});

test('detokenize joins with single spaces', () => {
  expect(detokenize(['a', 'b', ','])).toBe('a b ,');
  expect(detokenize([])).toBe('');
});
