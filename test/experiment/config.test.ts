/**
 * The experiment config schema: defaults, what it accepts, and errors (E_BAD_CONFIG) whose one-line
 * message names the bad field.
 */
import { CollapseError } from '../../src/errors.js';
import { ConfigSchema, resolveConfig } from '../../src/experiment/config.js';

function errorOf(input: unknown): CollapseError {
  try {
    resolveConfig(input);
  } catch (e) {
    expect(e).toBeInstanceOf(CollapseError);
    return e as CollapseError;
  }
  throw new Error(`resolveConfig accepted ${JSON.stringify(input)}`);
}

describe('defaults', () => {
  test('an empty config resolves to the documented defaults', () => {
    const c = resolveConfig({});
    expect(c).toMatchObject({
      corpus: 'brown',
      minCount: null,
      model: { kind: 'ngram', order: 3, smoothing: 'kneser-ney', k: 1 },
      paradigms: ['replace', 'accumulate', 'accumulate-subsample'],
      generations: 10,
      rate: 0.1,
      accumulateRate: 1,
      trainTokens: null,
      realFraction: 0.1,
      sampling: { temperature: 1, topK: 0, topP: 1, maxLength: 256 },
      probes: 1000,
      keepSamples: 50,
      seed: 1,
    });
  });

  test('undefined and null mean "all defaults"', () => {
    expect(resolveConfig(undefined)).toEqual(resolveConfig({}));
    expect(resolveConfig(null)).toEqual(resolveConfig({}));
  });

  test('partial nested objects keep the other nested defaults', () => {
    const c = resolveConfig({ model: { order: 5 }, sampling: { temperature: 0.7 } });
    expect(c.model).toMatchObject({ kind: 'ngram', order: 5, smoothing: 'kneser-ney', k: 1 });
    expect(c.sampling).toMatchObject({ temperature: 0.7, topK: 0, topP: 1, maxLength: 256 });
  });

  test('a resolved config is plain JSON and resolves to itself (what --resume relies on)', () => {
    const c = resolveConfig({ corpus: 'text:x.txt', paradigms: ['replace-with-real', 'replace'], generations: 4, realFraction: 0, seed: 0, trainTokens: 5000, minCount: 2 });
    const json = JSON.parse(JSON.stringify(c));
    expect(json).toEqual(c);
    expect(resolveConfig(json)).toEqual(c);
    // The order of paradigms is kept as given.
    expect(c.paradigms).toEqual(['replace-with-real', 'replace']);
  });

  test('the schema accepts every paradigm and the edge values', () => {
    const c = resolveConfig({
      paradigms: ['replace', 'accumulate', 'accumulate-subsample', 'replace-with-real'],
      rate: 100,
      accumulateRate: 0.001,
      realFraction: 0,
      generations: 10000,
      model: { order: 12, smoothing: 'add-k', k: 0.01 },
      sampling: { topP: 1, topK: 5, temperature: 3, maxLength: 1 },
      probes: 100000,
      keepSamples: 0,
      seed: Number.MAX_SAFE_INTEGER,
    });
    expect(c.model.order).toBe(12);
    expect(c.seed).toBe(Number.MAX_SAFE_INTEGER);
    expect(ConfigSchema.safeParse({ model: { smoothing: 'mle' } }).success).toBe(true);
  });
});

describe('errors name the bad field', () => {
  const cases: [string, unknown, RegExp][] = [
    ['generations: -1', { generations: -1 }, /generations/],
    ['generations: 0', { generations: 0 }, /generations/],
    ['generations: 1.5', { generations: 1.5 }, /generations/],
    ['generations: NaN', { generations: NaN }, /generations/],
    ['generations: "3"', { generations: '3' }, /generations/],
    ['generations too large', { generations: 10001 }, /generations/],
    ['rate: 0', { rate: 0 }, /rate/],
    ['rate: NaN', { rate: NaN }, /rate/],
    ['rate: Infinity', { rate: Infinity }, /rate/],
    ['accumulateRate: -1', { accumulateRate: -1 }, /accumulateRate/],
    ['realFraction: 1', { realFraction: 1 }, /realFraction/],
    ['realFraction: 1.5', { realFraction: 1.5 }, /realFraction/],
    ['realFraction: -0.1', { realFraction: -0.1 }, /realFraction/],
    ['model.order: 0', { model: { order: 0 } }, /model\.order/],
    ['model.order: 13', { model: { order: 13 } }, /model\.order/],
    ['model.kind: lstm', { model: { kind: 'lstm' } }, /model\.kind/],
    ['model.smoothing: witten-bell', { model: { smoothing: 'witten-bell' } }, /model\.smoothing/],
    ['model.k: 0', { model: { k: 0 } }, /model\.k/],
    ['model.k: Infinity', { model: { k: Infinity } }, /model\.k/],
    ['model: unknown field', { model: { orderr: 3 } }, /orderr/],
    ['sampling.topP: 2', { sampling: { topP: 2 } }, /sampling\.topP/],
    ['sampling.topP: 0', { sampling: { topP: 0 } }, /sampling\.topP/],
    ['sampling.topK: -1', { sampling: { topK: -1 } }, /sampling\.topK/],
    ['sampling.temperature: 0', { sampling: { temperature: 0 } }, /sampling\.temperature/],
    ['sampling.maxLength: 0', { sampling: { maxLength: 0 } }, /sampling\.maxLength/],
    ['paradigms: unknown', { paradigms: ['replace', 'collapse'] }, /paradigms/],
    ['paradigms: empty', { paradigms: [] }, /paradigms/],
    ['paradigms: repeated', { paradigms: ['replace', 'replace'] }, /paradigms/],
    ['paradigms: a string', { paradigms: 'replace' }, /paradigms/],
    ['probes: 0', { probes: 0 }, /probes/],
    ['keepSamples: -1', { keepSamples: -1 }, /keepSamples/],
    ['seed: -1', { seed: -1 }, /seed/],
    ['seed: 0.5', { seed: 0.5 }, /seed/],
    ['trainTokens: 0', { trainTokens: 0 }, /trainTokens/],
    ['minCount: 0', { minCount: 0 }, /minCount/],
    ['corpus: empty', { corpus: '' }, /corpus/],
    ['corpus: a number', { corpus: 3 }, /corpus/],
    ['unknown top-level field', { generation: 3 }, /"generation"/],
  ];
  test.each(cases)('%s', (_label, input, field) => {
    const e = errorOf(input);
    expect(e.code).toBe('E_BAD_CONFIG');
    expect(e.message).toMatch(/^invalid config: /);
    expect(e.message).toMatch(field);
    expect(e.message).not.toContain('\n');
  });

  test.each([[5], ['replace'], [[1, 2]], [true]])('a non-object config (%p) is E_BAD_CONFIG', (input) => {
    const e = errorOf(input);
    expect(e.code).toBe('E_BAD_CONFIG');
    expect(e.message).not.toContain('\n');
  });
});
