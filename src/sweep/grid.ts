/**
 * A sweep's grid: lists of flag values × seeds, expanded into cells. A cell is a pure description
 * (its name, its axis values, its resolved config, seed included) that any worker can run as an
 * ordinary run folder; nothing else is needed to reproduce it.
 */
import { CollapseError } from '../errors.js';
import { resolveConfig, type ExperimentConfig } from '../experiment/config.js';

/** One run flag as the sweep sees it (derived from the `run` command's own option list). */
export interface FlagSpec {
  /** "--rate" */
  flag: string;
  /** "rate" (the flag's attribute name, camelCase) */
  key: string;
  /** Parses one value (throws with a message on a bad one). */
  parse?: (raw: string) => unknown;
  /** Allowed values, when the flag has a fixed set. */
  choices?: readonly string[];
}

/** A swept flag: its values in the order given. */
export interface Axis {
  flag: string;
  key: string;
  values: (string | number)[];
}

export interface Grid {
  /** Flags with more than one value, in the run command's flag order. */
  axes: Axis[];
  seeds: number[];
  /** Flags with one value (and boolean flags), as run flags. */
  base: Record<string, unknown>;
}

export interface CellSpec {
  /** Position in the grid (seeds vary fastest). */
  index: number;
  /** Folder name inside the sweep folder. */
  name: string;
  /** The axis values of this cell (axis key → value); the seed is apart. */
  values: Record<string, string | number>;
  seed: number;
  /** The cell without its seed: cells of one group differ only in the seed. */
  group: string;
  /** The resolved config (seed included): all a worker needs to run the cell. */
  config: ExperimentConfig;
}

const bad = (msg: string): never => {
  throw new CollapseError('E_BAD_ARGUMENT', msg);
};

/** Splits a comma-separated list; an empty list or an empty element is an error. */
export function splitList(flag: string, raw: string): string[] {
  if (raw.trim() === '') bad(`${flag}: empty list`);
  const parts = raw.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) bad(`${flag}: empty value in the list "${raw}"`);
  const seen = new Set<string>();
  for (const p of parts) {
    if (seen.has(p)) bad(`${flag}: "${p}" appears twice in the list "${raw}"`);
    seen.add(p);
  }
  return parts;
}

/** Seeds: a list of integers and inclusive ranges ("1-5", "1,4,9", "1-3,10"). */
export function parseSeeds(raw: string, flag = '--seeds'): number[] {
  const out: number[] = [];
  for (const part of splitList(flag, raw)) {
    const m = /^(\d+)\s*-\s*(\d+)$/.exec(part);
    if (m) {
      const a = Number(m[1]);
      const b = Number(m[2]);
      if (!Number.isSafeInteger(a) || !Number.isSafeInteger(b)) bad(`${flag}: range "${part}" is out of bounds`);
      if (b < a) bad(`${flag}: range "${part}" runs backwards (write ${b}-${a})`);
      if (b - a >= 100000) bad(`${flag}: range "${part}" holds more than 100000 seeds`);
      for (let s = a; s <= b; s++) out.push(s);
    } else if (/^\d+$/.test(part)) {
      const s = Number(part);
      if (!Number.isSafeInteger(s)) bad(`${flag}: seed "${part}" is out of bounds`);
      out.push(s);
    } else {
      bad(`${flag}: "${part}" is neither a seed (an integer ≥ 0) nor a range like 1-5`);
    }
  }
  const seen = new Set<number>();
  for (const s of out) {
    if (seen.has(s)) bad(`${flag}: seed ${s} appears twice in "${raw}"`);
    seen.add(s);
  }
  return out;
}

/** Parses one value of a flag through the run command's own parser and choices. */
function parseValue(spec: FlagSpec, raw: string): string | number {
  if (spec.choices && !spec.choices.includes(raw)) bad(`${spec.flag}: "${raw}" is not one of ${spec.choices.join(', ')}`);
  if (!spec.parse) return raw;
  try {
    return spec.parse(raw) as string | number;
  } catch (err) {
    const m = (err as Error).message;
    return bad(m.startsWith(spec.flag) ? m : `${spec.flag}: ${m}`);
  }
}

/**
 * Builds the grid from flag values as typed (strings; `true` for boolean flags). Flags listed in
 * `single` take one value (no list); `opts.seeds` (--seeds) may hold ranges.
 */
export function parseGrid(
  given: Record<string, string | boolean | undefined>,
  specs: readonly FlagSpec[],
  opts: { single?: readonly string[]; seeds?: string; defaultSeeds?: number[] } = {},
): Grid {
  const single = new Set(opts.single ?? []);
  const axes: Axis[] = [];
  const base: Record<string, unknown> = {};
  for (const spec of specs) {
    const raw = given[spec.key];
    if (raw === undefined) continue;
    if (typeof raw === 'boolean') {
      base[spec.key] = raw;
      continue;
    }
    if (single.has(spec.key)) {
      if (raw.includes(',') && spec.key !== 'paradigm') bad(`${spec.flag} takes one value in a sweep, got the list "${raw}"`);
      base[spec.key] = parseValue(spec, raw);
      continue;
    }
    const values = splitList(spec.flag, raw).map((v) => parseValue(spec, v));
    if (values.length === 1) base[spec.key] = values[0];
    else axes.push({ flag: spec.flag, key: spec.key, values });
  }
  const seeds = opts.seeds !== undefined ? parseSeeds(opts.seeds) : (opts.defaultSeeds ?? [1]);
  return { axes, seeds, base };
}

/** A value as it appears in a folder name: letters, digits, '.', '+', '-' kept; anything else '~'. */
function slug(v: string | number): string {
  return String(v).replace(/[^A-Za-z0-9.+-]/g, '~');
}

/** "paradigm=replace rate=0.1": the cell's axis values, for messages and legends. */
export function describeValues(values: Record<string, string | number>, seed?: number): string {
  const parts = Object.entries(values).map(([k, v]) => `${k}=${v}`);
  if (seed !== undefined) parts.push(`seed=${seed}`);
  return parts.join(' ') || '(the single cell)';
}

/**
 * Expands the grid (cross product, last axis fastest, seeds fastest of all) and resolves each cell's
 * config with `build` (run flags → config input) and resolveConfig. Any bad cell stops it with a
 * message that names the cell: nothing runs before every cell is valid.
 */
export async function expandGrid(grid: Grid, build: (flags: Record<string, unknown>) => Promise<unknown> | unknown): Promise<CellSpec[]> {
  const combos: Record<string, string | number>[] = [{}];
  for (const axis of grid.axes) {
    const next: Record<string, string | number>[] = [];
    for (const c of combos) for (const v of axis.values) next.push({ ...c, [axis.key]: v });
    combos.splice(0, combos.length, ...next);
  }
  const cells: CellSpec[] = [];
  const names = new Set<string>();
  for (const values of combos) {
    const group = Object.entries(values).map(([k, v]) => `${k}-${slug(v)}`).join('_');
    for (const seed of grid.seeds) {
      const flags: Record<string, unknown> = { ...grid.base, ...values, seed };
      let config: ExperimentConfig;
      try {
        config = resolveConfig(await build(flags));
      } catch (err) {
        const e = err as Error & { code?: string };
        throw new CollapseError(e.code === 'E_BAD_CONFIG' ? 'E_BAD_CONFIG' : 'E_BAD_ARGUMENT', `sweep cell ${describeValues(values, seed)}: ${e.message}`);
      }
      let name = (group ? group + '_' : '') + `seed-${seed}`;
      if (names.has(name)) name = `${name}~${cells.length}`;
      names.add(name);
      cells.push({ index: cells.length, name, values, seed, group, config });
    }
  }
  return cells;
}
