/**
 * The flags of `collapse run`, made from the one spec (src/experiment/spec.ts): each setting with a
 * flag becomes a commander option (choices from its enum, numbers parsed, its default in the help),
 * and the parsed flags become a config object over an optional --config file, path by path.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { CollapseError } from '../errors.js';
import { settings, showDefault, type Setting } from '../experiment/spec.js';
import { readRegularText } from '../util/paths.js';

/** The parsed flags (commander's camelCase names). */
export type RunFlags = Record<string, string | number | boolean | undefined>;

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
const dashed = (k: string) => '--' + k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

const num = (name: string) => (v: string) => {
  const x = Number(v);
  if (v.trim() === '' || Number.isNaN(x)) throw new InvalidArgumentError(`${name} must be a number, got "${v}"`);
  return x;
};

/** The settings that have a flag. */
export function flagSettings(): (Setting & { meta: { flag: string } })[] {
  return settings().filter((s): s is Setting & { meta: { flag: string } } => s.meta.flag !== undefined);
}

/** Adds every flag of the spec to `cmd`. */
export function addRunFlags(cmd: Command): Command {
  for (const s of flagSettings()) {
    const f = `--${s.meta.flag}`;
    const dflt = showDefault(s);
    const help = s.meta.help + (dflt && s.type !== 'boolean' ? ` (default ${dflt})` : '');
    if (s.type === 'boolean') {
      if (!s.meta.negateOnly) cmd.addOption(new Option(f, help));
      if (s.meta.negate) cmd.addOption(new Option(`--no-${s.meta.flag}`, s.meta.negate));
      continue;
    }
    const o = new Option(`${f} ${s.meta.arg || '<value>'}`, help);
    if (s.type === 'enum') o.choices(s.meta.choices ?? s.values ?? []);
    else if (s.type === 'integer' || s.type === 'number') o.argParser(num(f));
    cmd.addOption(o);
  }
  return cmd;
}

/** The flags that are run options, not config (they may go with --resume where noted). */
const RESUMABLE = new Set(['resume', 'threads', 'memoryLimit', 'json', 'quiet', 'verbose', 'report']);

/** Refuses config flags beside --resume (the run's own config.json wins). */
export function checkResumeFlags(f: RunFlags): void {
  if (!f.resume) return;
  const clash = Object.keys(f).filter((k) => !RESUMABLE.has(k) && f[k] !== undefined);
  if (clash.length) throw new CollapseError('E_BAD_ARGUMENT', `--resume continues the run with its own config.json; drop ${clash.map(dashed).join(', ')}`);
}

/** The config the flags describe, over the --config file's (flags win, field by field). */
export async function configFromFlags(f: RunFlags): Promise<Record<string, unknown>> {
  let base: Record<string, unknown> = {};
  if (typeof f.config === 'string') {
    // A regular file of bounded size: a FIFO or a device would hang the read.
    const text = await readRegularText(f.config, { what: '--config', maxBytes: 16 * 2 ** 20 });
    try {
      base = JSON.parse(text) as Record<string, unknown>;
    } catch (err) {
      throw new CollapseError('E_BAD_CONFIG', `--config ${f.config} is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof base !== 'object' || base === null || Array.isArray(base)) throw new CollapseError('E_BAD_CONFIG', `--config ${f.config} must hold a JSON object`);
  }
  const cfg: Record<string, unknown> = { ...base };
  const given = flagSettings().filter((s) => s.path !== null && f[camel(s.meta.flag)] !== undefined);
  // Flags of one model kind refuse the other.
  const kind = f.model ?? (base.model as { kind?: unknown } | undefined)?.kind ?? 'ngram';
  const foreign = given.filter((s) => s.model !== undefined && s.model !== kind);
  if (foreign.length) {
    const other = foreign[0]!.model!;
    const names = foreign.filter((s) => s.model === other).map((s) => `--${s.meta.flag}`);
    throw new CollapseError('E_BAD_ARGUMENT', `${names.join(', ')} appl${names.length > 1 ? 'y' : 'ies'} to --model ${other} only`);
  }
  for (const s of given) {
    const v = f[camel(s.meta.flag)];
    if (s.type === 'list' && typeof v === 'string') {
      setPath(cfg, s.path!, v.split(',').map((x) => x.trim()).filter(Boolean));
      continue;
    }
    setPath(cfg, s.path!, v);
  }
  // A pretrained start takes its architecture and tokenizer from the checkpoint: flags that set them conflict.
  const initClash = ['preset', 'hidden', 'layers', 'heads', 'window', 'tokenizer', 'vocabSize'].filter((k) => f[k] !== undefined);
  if (f.init !== undefined && f.init !== 'scratch' && initClash.length) {
    throw new CollapseError(
      'E_BAD_ARGUMENT',
      `${initClash.map(dashed).join(', ')} conflict${initClash.length > 1 ? '' : 's'} with --init ${String(f.init)}: the checkpoint defines the architecture and the tokenizer; drop ${initClash.length > 1 ? 'them' : 'it'}`,
    );
  }
  return cfg;
}

/** Sets a dotted path, copying each object on the way (the --config file's objects are not changed). */
function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
  const keys = path.split('.');
  let cur = o;
  for (const k of keys.slice(0, -1)) {
    const next = cur[k];
    cur[k] = next !== null && typeof next === 'object' && !Array.isArray(next) ? { ...(next as object) } : {};
    cur = cur[k] as Record<string, unknown>;
  }
  cur[keys[keys.length - 1]!] = v;
}
