/**
 * The one spec (src/experiment/spec.ts): every setting declared once, the CLI's flags and the
 * README's table made from it, the defaults it shows the ones resolveConfig applies; and the pinned
 * results (test/fixtures/pinned): small fixed runs give the bytes the code before the experiment-layer
 * redesign gave.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { addRunFlags, configFromFlags } from '../../src/cli/flags.js';
import { resolveConfig } from '../../src/experiment/config.js';
import { settings, settingsTable, SETTINGS_BEGIN, SETTINGS_END, withSettingsTable } from '../../src/experiment/spec.js';
import { ROOT, requireBuiltCli } from './helpers.js';

const get = (o: unknown, path: string): unknown => path.split('.').reduce<unknown>((cur, k) => (cur as Record<string, unknown> | undefined)?.[k], o);

describe('the settings spec', () => {
  test('no setting is declared twice: config paths and flags are unique', () => {
    const all = settings();
    const paths = all.filter((s) => s.path !== null).map((s) => s.path);
    const flags = all.filter((s) => s.meta.flag !== undefined).map((s) => s.meta.flag);
    expect(new Set(paths).size).toBe(paths.length);
    expect(new Set(flags).size).toBe(flags.length);
    // The settings the tests below lean on are there, with their bounds read from the schema.
    const threads = all.find((s) => s.name === 'threads')!;
    expect([threads.min, threads.max]).toEqual([1, 1024]);
    const order = all.find((s) => s.path === 'model.order')!;
    expect([order.exclusiveMin, order.max, order.default, order.model]).toEqual([0, 12, 3, 'ngram']);
  });

  test('the defaults the spec shows are the ones resolveConfig applies', () => {
    const ngram = resolveConfig({});
    const transformer = resolveConfig({ model: { kind: 'transformer' } });
    let checked = 0;
    for (const s of settings()) {
      if (s.path === null || s.default === undefined || s.default === null) continue;
      const resolved = s.model === 'transformer' ? transformer : ngram;
      expect([s.path, get(resolved, s.path)]).toEqual([s.path, s.default]);
      checked++;
    }
    expect(checked).toBeGreaterThan(25);
  });

  test("collapse run's flags are exactly the spec's", () => {
    const cmd = addRunFlags(new Command('run'));
    const fromCli = cmd.options.map((o) => o.long!.replace(/^--/, ''));
    const fromSpec = settings().flatMap((s) =>
      s.meta.flag === undefined ? [] : s.meta.negateOnly ? [`no-${s.meta.flag}`] : s.meta.negate ? [s.meta.flag, `no-${s.meta.flag}`] : [s.meta.flag],
    );
    expect(fromCli).toEqual(fromSpec);
  });

  test('flags become the config the spec says, over a --config file, and resolve', async () => {
    const cmd = addRunFlags(new Command('run')).exitOverride();
    cmd.parse(['--order', '2', '--top-k', '5', '--paradigm', 'replace, accumulate', '--theory', '--no-lowercase', '--train-tokens', '900'], { from: 'user' });
    const cfg = await configFromFlags(cmd.opts());
    expect(cfg).toEqual({ model: { order: 2 }, sampling: { topK: 5 }, paradigms: ['replace', 'accumulate'], theory: true, corpusOptions: { lowercase: false }, trainTokens: 900 });
    const r = resolveConfig(cfg);
    expect([r.model.order, r.sampling.topK, r.sampling.maxLength, r.corpusOptions.lowercase]).toEqual([2, 5, 256, false]);
    await expect(configFromFlags({ model: 'transformer', order: 2 })).rejects.toThrow(/--order applies to --model ngram only/);
    await expect(configFromFlags({ hidden: 8, layers: 1 })).rejects.toThrow(/--hidden, --layers apply to --model transformer only/);
    // --vocab-size never switches the tokenizer (bpe is the default; with --tokenizer word it caps the vocabulary).
    expect(await configFromFlags({ model: 'transformer', vocabSize: 300 })).toEqual({ model: { kind: 'transformer', vocabSize: 300 } });
    expect(await configFromFlags({ model: 'transformer', tokenizer: 'word', vocabSize: 300 })).toEqual({ model: { kind: 'transformer', tokenizer: 'word', vocabSize: 300 } });
    await expect(configFromFlags({ model: 'transformer', init: '/ckpt', hidden: 8 })).rejects.toThrow(/--hidden conflicts with --init \/ckpt/);
  });

  test("the README's settings table is the spec's (npm run docs:settings)", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(SETTINGS_BEGIN);
    expect(readme).toContain(SETTINGS_END);
    expect(withSettingsTable(readme)).toBe(readme);
    // One row per setting, each naming its config field or marked as a run option.
    const table = settingsTable().split('\n');
    expect(table).toHaveLength(2 + settings().length);
    expect(table).toContainEqual(expect.stringMatching(/^\| `sampling\.topP` \| `--top-p p` \| number \| \(0, 1\] \| `1` \|/));
  });
});

describe('pinned results', () => {
  test('small fixed runs (n-gram, theory, drawn D, transformer) write the bytes of the pre-redesign code', () => {
    requireBuiltCli();
    const r = spawnSync(process.execPath, [join(ROOT, 'test', 'fixtures', 'pinned', 'make.mjs'), '--verify', ROOT], { encoding: 'utf8', timeout: 300_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/pinned results identical \(36 files\)/);
    expect(r.status).toBe(0);
  });
});
