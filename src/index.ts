/** collapse-lab: the public API. */
export { CollapseError, type ErrorCode } from './errors.js';
export { nativeBinary, type NativeBinary } from './native.js';
export type { TokenCorpus, EvaluateResult, SampleOptions, SampleResult, LanguageModel } from './models/types.js';
export { NGramModel, type NGramOptions, type NGramInfo, type Smoothing } from './models/ngram.js';
export {
  Transformer,
  type TransformerOptions,
  type TransformerConfigOptions,
  type TransformerPresetOptions,
  type TransformerPreset,
  type TransformerConfig,
  type TransformerFitOptions,
  type LoadTransformerOptions,
  type AttentionType,
  type TrainOptions,
  type TrainProgress,
  type TrainResult,
  type NamedParameter,
} from './models/transformer.js';
export { expectedTensors as gptNeoTensors } from './models/gpt-neo-checkpoint.js';
export * from './corpus/index.js';
export * as metrics from './metrics/index.js';
export { PARADIGMS, initialState, nextState, sampleSize, type ParadigmName, type ParadigmParams, type ParadigmState } from './paradigms/index.js';
export { resolveConfig, ConfigSchema, type ExperimentConfig, type ExperimentConfigInput } from './experiment/config.js';
export { runExperiment, CSV_COLUMNS, type MetricsRecord, type ProgressEvent, type RunOptions, type RunResult, type RealInfo } from './experiment/runner.js';
export { SafetensorsFile, readSafetensors, readSafetensorsHeader, writeSafetensors, type NamedTensor, type TensorInfo as SafetensorsTensorInfo } from './models/safetensors.js';
export { parseHfConfig, toHfConfig, readHfConfig, writeHfConfig, expandAttentionTypes, type GptNeoConfig, type AttentionKind } from './models/hf-config.js';
export * from './tokenizers/index.js';
export * from './sweep/index.js';
export type { ReportOutput } from './report/html.js';
/** Writes report.html and figures/*.svg for a run or sweep folder (the charting libraries load on first use). */
export async function writeReport(dir: string): Promise<import('./report/html.js').ReportOutput> {
  return (await import('./report/html.js')).writeReport(dir);
}
