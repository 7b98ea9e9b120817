/**
 * Every setting, declared once. The experiment's settings are the fields of ConfigSchema (./config.ts)
 * with their `.meta()` (flag, help); the options of a run that are not part of its config (threads,
 * the run folder, output) are RunFlagsSchema below. From these two schemas come:
 *   - the config-file and API validation (resolveConfig parses ConfigSchema),
 *   - the flags of `collapse run` (src/cli/flags.ts builds them from settings()),
 *   - the README's settings table (settingsTable(); `npm run docs:settings` writes it, a test checks it).
 * Names, types, bounds and defaults are read back from the schemas (z.toJSONSchema), never restated.
 */
import { z } from 'zod';
import { MAX_THREADS, MIN_THREADS } from '../util/check.js';
import { ConfigSchema, type SettingMeta } from './config.js';

const cli = (flag: string, arg: string, help: string): SettingMeta => ({ flag, arg, help });

/** The options of `collapse run` that are not part of the experiment's config. */
export const RunFlagsSchema = z
  .object({
    threads: z
      .number()
      .int()
      .min(MIN_THREADS)
      .max(MAX_THREADS)
      .optional()
      .meta(cli('threads', '<n>', 'threads per native call (default: all cores; results do not depend on it)')),
    memoryLimit: z
      .string()
      .optional()
      .meta(cli('memory-limit', '<size>', 'refuse a run estimated to need more memory: bytes or e.g. 8G (default $COLLAPSE_MEMORY_LIMIT, else 80% of RAM)')),
    out: z.string().optional().meta(cli('out', '<dir>', 'run folder (default runs/run-<timestamp>)')),
    config: z.string().optional().meta(cli('config', '<file>', 'JSON config (flags override it)')),
    resume: z.string().optional().meta(cli('resume', '<dir>', 'continue an interrupted run; its config.json wins')),
    force: z.boolean().optional().meta(cli('force', '', 'replace a non-empty --out folder that holds a collapse-lab run (nothing else)')),
    json: z.boolean().optional().meta(cli('json', '', 'print one JSON record per paradigm and generation on stdout, nothing else')),
    quiet: z.boolean().optional().meta(cli('quiet', '', 'print nothing but errors')),
    verbose: z.boolean().optional().meta(cli('verbose', '', 'print stack traces on errors')),
    /** On by default; `--no-report` turns it off. */
    report: z.boolean().optional().meta({ flag: 'report', arg: '', help: 'write report.html and figures/ at the end (the default)', negate: 'do not write report.html and figures/ at the end', negateOnly: true }),
  })
  .strict();

/** `--model`: the model kind (the discriminator of config.model). */
const MODEL_KIND: SettingMeta = { flag: 'model', arg: '<kind>', help: 'language model' };

/** One setting as the schemas declare it. */
export interface Setting {
  /** Config path (dots), e.g. "model.order"; run options have no config path (null). */
  path: string | null;
  /** Run-option name or the path's last part. */
  name: string;
  meta: SettingMeta;
  type: 'integer' | 'number' | 'string' | 'boolean' | 'enum' | 'list';
  /** Enum values (or a list's items). */
  values?: string[];
  min?: number;
  max?: number;
  exclusiveMin?: number;
  exclusiveMax?: number;
  default: unknown;
  nullable: boolean;
  /** The model kind the setting belongs to (model.* fields), else undefined. */
  model?: string;
}

type Json = Record<string, unknown>;

function fromJson(name: string, path: string | null, j: Json, model?: string): Setting {
  let body = j;
  let nullable = false;
  const alts = (j.anyOf ?? j.oneOf) as Json[] | undefined;
  if (alts) {
    const rest = alts.filter((a) => a.type !== 'null');
    nullable = rest.length < alts.length;
    body = rest.length === 1 ? { ...rest[0] } : { type: 'string' };
    // A union of forms (corpusOptions.split: a string or a list of fractions) reads as text.
    if (body.anyOf && !body.type) body = { type: 'string' };
  }
  if (Array.isArray(body.type)) {
    nullable ||= (body.type as string[]).includes('null');
    body = { ...body, type: (body.type as string[]).find((t) => t !== 'null') };
  }
  const items = body.items as Json | undefined;
  const type: Setting['type'] = body.enum ? 'enum' : body.type === 'array' ? 'list' : (body.type as Setting['type']);
  const values = (body.enum ?? items?.enum) as string[] | undefined;
  const { flag, arg, help, choices, negate, negateOnly } = j as unknown as SettingMeta;
  const meta: SettingMeta = { help: help ?? '' };
  if (flag !== undefined) meta.flag = flag;
  if (arg !== undefined) meta.arg = arg;
  if (choices !== undefined) meta.choices = choices;
  if (negate !== undefined) meta.negate = negate;
  if (negateOnly !== undefined) meta.negateOnly = negateOnly;
  const s: Setting = { path, name, meta, type, default: j.default, nullable };
  if (values) s.values = values;
  if (typeof body.minimum === 'number') s.min = body.minimum;
  if (typeof body.maximum === 'number') s.max = body.maximum;
  if (typeof body.exclusiveMinimum === 'number') s.exclusiveMin = body.exclusiveMinimum;
  if (typeof body.exclusiveMaximum === 'number') s.exclusiveMax = body.exclusiveMaximum;
  if (model) s.model = model;
  return s;
}

let cached: Setting[] | undefined;

/** Every setting, in the schemas' order: the config's (nested groups flattened), then the run options. */
export function settings(): Setting[] {
  if (cached) return cached;
  const out: Setting[] = [];
  const walk = (props: Record<string, Json>, prefix: string, model?: string) => {
    for (const [k, j] of Object.entries(props)) {
      const path = prefix + k;
      if (path === 'model') {
        const kinds = ((j.oneOf ?? j.anyOf) as Json[]).map((o) => o.properties as Record<string, Json>);
        const names = kinds.map((p) => (p.kind as Json).const as string);
        out.push({ path: 'model.kind', name: 'kind', meta: MODEL_KIND, type: 'enum', values: names, default: names[0], nullable: false });
        kinds.forEach((p, i) => {
          const { kind: _kind, ...rest } = p;
          walk(rest, 'model.', names[i]);
        });
      } else if (j.type === 'object' && j.properties) walk(j.properties as Record<string, Json>, path + '.', model);
      else out.push(fromJson(k, path, j, model));
    }
  };
  const config = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  walk(config.properties as Record<string, Json>, '');
  const run = z.toJSONSchema(RunFlagsSchema, { io: 'input', unrepresentable: 'any' }) as Json;
  for (const [k, j] of Object.entries(run.properties as Record<string, Json>)) out.push(fromJson(k, null, j));
  cached = out;
  return out;
}

/** A default as the help and the table show it ('' when there is none to show). */
export function showDefault(s: Setting): string {
  const d = s.default;
  if (d === undefined || d === null) return '';
  if (Array.isArray(d)) return d.join(',');
  return String(d);
}

/** The accepted values, as the table shows them: an enum's names, or the bounds of a number. */
export function showRange(s: Setting): string {
  if (s.type === 'enum' || s.type === 'list') return (s.meta.choices ?? s.values ?? []).join(' \\| ');
  if (s.type !== 'integer' && s.type !== 'number') return '';
  const big = (x: number) => (x === Number.MAX_SAFE_INTEGER ? '2^53−1' : String(x));
  const lo = s.exclusiveMin !== undefined ? `(${s.exclusiveMin}` : s.min !== undefined ? `[${big(s.min)}` : '(−∞';
  const hi = s.exclusiveMax !== undefined ? `${s.exclusiveMax})` : s.max !== undefined ? `${big(s.max)}]` : '∞)';
  return `${lo}, ${hi}`;
}

/** The README's settings table (Markdown), from settings(). */
export function settingsTable(): string {
  const esc = (x: string) => x.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const rows = settings().map((s) => {
    const flag =
      s.meta.flag === undefined
        ? '—'
        : s.meta.negateOnly
          ? `\`--no-${s.meta.flag}\``
          : `\`--${s.meta.flag}${s.meta.arg ? ' ' + s.meta.arg.replace(/[<>]/g, '') : ''}\`${s.meta.negate ? ` / \`--no-${s.meta.flag}\`` : ''}`;
    const field = s.path === null ? '(run option)' : `\`${s.path}\``;
    const type = s.type + (s.nullable ? ' or null' : '');
    const range = showRange(s);
    const dflt = showDefault(s);
    const help = s.meta.negateOnly ? s.meta.negate! : s.meta.help;
    return `| ${field} | ${flag} | ${type} | ${range ? (s.type === 'enum' || s.type === 'list' ? range : esc(range)) : ''} | ${dflt ? `\`${esc(dflt)}\`` : ''} | ${esc(help)}${s.model ? ` (${s.model})` : ''} |`;
  });
  return ['| config field | flag | type | values | default | meaning |', '|---|---|---|---|---|---|', ...rows].join('\n');
}

export const SETTINGS_BEGIN = '<!-- settings:begin (generated by `npm run docs:settings` from src/experiment/spec.ts; do not edit) -->';
export const SETTINGS_END = '<!-- settings:end -->';

/** `text` with the block between the settings markers replaced by the current table (throws if the markers are missing). */
export function withSettingsTable(text: string): string {
  const i = text.indexOf(SETTINGS_BEGIN);
  const j = text.indexOf(SETTINGS_END);
  if (i < 0 || j < i) throw new Error('the README has no settings markers');
  return text.slice(0, i + SETTINGS_BEGIN.length) + '\n' + settingsTable() + '\n' + text.slice(j);
}
