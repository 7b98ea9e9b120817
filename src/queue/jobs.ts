/**
 * What travels through the queue. One job per sweep cell: its id is the sweep's id and the cell's
 * name, so adding a cell twice (a re-attached coordinator, two coordinators) finds the job already
 * there instead of adding another. The job's data is the cell's description; its return value is the
 * cell's result (records, timings, a few samples), all the coordinator needs.
 */
import type { CellResult } from '../sweep/cell.js';
import type { SweepFile } from '../sweep/run.js';

export interface CellJob {
  /** Format of this object. */
  v: 1;
  /** collapse-lab version of the coordinator; a worker of another version refuses the job. */
  collapseLab: string;
  /** The sweep's id (queue.json in the sweep folder). */
  sweep: string;
  cell: SweepFile['cells'][number];
}

export interface CellJobResult {
  result: CellResult;
  /** Host name of the worker and its run folder (for the log). */
  host: string;
  folder: string;
}

/** Job progress: generations finished of the cell's total. */
export interface CellJobProgress {
  generationsDone: number;
}

/** BullMQ job ids may not contain ':' nor be integers. */
export const jobId = (sweep: string, cell: string): string => `${sweep}.${cell}`.replace(/:/g, '_');
