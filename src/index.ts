/** collapse-lab: the public API. */
export { CollapseError, type ErrorCode } from './errors.js';
export type { TokenCorpus, EvaluateResult, SampleOptions, SampleResult, LanguageModel } from './models/types.js';
export { NGramModel, type NGramOptions, type NGramInfo, type Smoothing } from './models/ngram.js';
