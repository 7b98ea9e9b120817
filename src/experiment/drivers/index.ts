/**
 * The registered model drivers, by `model.kind`. A new model kind: its driver file, one line here.
 */
import { CollapseError } from '../../errors.js';
import type { ExperimentConfig } from '../config.js';
import { ngramDriver } from './ngram.js';
import { transformerDriver } from './transformer.js';
import type { ModelDriver } from './types.js';

export type { ModelDriver, ModelTokens, ParadigmModel, RunContext, Score, StepEvent } from './types.js';

const DRIVERS: readonly ModelDriver[] = [
  ngramDriver,
  transformerDriver,
];

/** The driver of a config's model kind. */
export function driverFor(config: ExperimentConfig): ModelDriver {
  const d = DRIVERS.find((x) => x.kind === config.model.kind);
  if (!d) throw new CollapseError('E_BAD_CONFIG', `invalid config: no driver for model.kind "${config.model.kind}"`);
  return d;
}
