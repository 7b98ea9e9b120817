/**
 * What a report reads from a folder: a run folder (config.json, metrics.jsonl, …) is one cell; a
 * sweep folder (sweep.json) is its finished cells. Everything else in the report is computed
 * from these cell results.
 */
import { readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { CollapseError } from '../errors.js';
import { cellState, readCellResult, type CellResult } from '../sweep/cell.js';
import { loadSweep, type SweepFile } from '../sweep/run.js';

export interface ReportCell {
  name: string;
  /** Swept values (no seed); {} for a run folder. */
  values: Record<string, string | number>;
  seed: number;
  group: string;
  result: CellResult;
}

export interface ReportData {
  kind: 'run' | 'sweep';
  title: string;
  sweep: SweepFile | null;
  /** Cells in grid order (finished ones only for a sweep). */
  cells: ReportCell[];
  /** Cells of the sweep not finished (yet). */
  missing: string[];
}

async function exists(p: string): Promise<boolean> {
  try {
    await readFile(p);
    return true;
  } catch {
    return false;
  }
}

export async function loadReportData(dir: string): Promise<ReportData> {
  const title = basename(resolve(dir));
  if (await exists(join(dir, 'sweep.json'))) {
    const sweep = await loadSweep(dir);
    const cells: ReportCell[] = [];
    const missing: string[] = [];
    for (const c of sweep.cells) {
      const cdir = join(dir, c.name);
      if ((await cellState(cdir)) !== 'done') {
        missing.push(c.name);
        continue;
      }
      cells.push({ name: c.name, values: c.values, seed: c.seed, group: c.group, result: await readCellResult(cdir, c.name) });
    }
    return { kind: 'sweep', title, sweep, cells, missing };
  }
  if (!(await exists(join(dir, 'config.json'))) || !(await exists(join(dir, 'metrics.jsonl')))) {
    throw new CollapseError('E_BAD_ARGUMENT', `${dir} is neither a run folder (config.json, metrics.jsonl) nor a sweep folder (sweep.json)`);
  }
  const result = await readCellResult(dir, title);
  return { kind: 'run', title, sweep: null, cells: [{ name: title, values: {}, seed: result.config.seed, group: '', result }], missing: [] };
}
