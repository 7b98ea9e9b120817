/** Sweeps: grids of runs × seeds, run as run folders on local workers, summarised across seeds. */
export { parseGrid, parseSeeds, splitList, expandGrid, describeValues, type FlagSpec, type Axis, type Grid, type CellSpec } from './grid.js';
export { runCell, readCellResult, cellState, SAMPLE_LINES, type CellResult, type CellState, type RunCellOptions } from './cell.js';
export { createSweep, loadSweep, runSweep, writeSummary, defaultParallelism, type CellRunner, type SweepFile, type SweepEvent, type SweepRunOptions, type SweepOutcome } from './run.js';
export { summarize, summaryCsv, summaryJsonl, describe as describeSample, numericPaths, type Stat, type SummaryRow, type CellRecords } from './summary.js';
