/**
 * charrnn as a library: load corpora and checkpoints, train and resume with events, sample, evaluate,
 * export for a web page.
 * The CLI is a thin layer over these functions. This file is the library's face: it gathers the parts
 * a caller uses from where they live (training's entry points in train/, the loaded model beside it),
 * and sets nothing up itself.
 */

export { CharrnnError, EXIT } from './errors.js';
export type { CellType, ModelConfig } from './core/config.js';
export type { KernelChoice } from './core/backend.js';
export type { SamplingOptions } from './core/sampling.js';
export type { OptionNamer } from './settings.js';
export type { EvalResult } from './train/evaluate.js';
export {
  DEFAULT_TRAIN_OPTIONS,
  PRESETS,
  TRAIN_OPTIONS,
  RUN_SETTINGS,
  type NewRunOptions,
  type PresetName,
  type RunOptionName,
  type TrainOptions,
  type ResumableOptions,
  type RunSettings,
  type SettingRow,
} from './train/options.js';
export type { Encoding } from './data/corpus.js';
export type {
  CheckpointEvent,
  EvalEvent,
  ProgressEvent,
  SampleEvent,
  StartEvent,
  StopReason,
  TrainEvent,
  TrainSummary,
} from './train/events.js';
export type { Checkpoint } from './train/checkpoint.js';
export type { CorpusIdentity, HistoryPoint, Origin, TrainingState } from './train/state.js';
export type { TokenIds, Vocab } from './data/vocab.js';
export { corpusFromText, readCorpus, type Corpus } from './train/corpus.js';
export { LoadedModel } from './loaded-model.js';
export type { GeneratedChar } from './sampling-model.js';
export {
  DISTRIBUTION_OPTIONS,
  SAMPLE_OPTIONS,
  validateSampleOptions,
  type DistributionOptions,
  type SampleOptionName,
  type SampleOptions,
} from './sample-options.js';
export { createKernels, nativeUnavailableReason } from './core/backend.js';
export { defaultOutputPath, trainModel, type RunControl } from './train/trainer.js';
export { resumeTraining, type ResumeOptions } from './train/resume.js';
export {
  checkExportOptions,
  EXPORT_OPTIONS,
  exportWeb,
  type ExportedFile,
  type ExportOptionName,
  type ExportOptions,
  type HalfCost,
  type WebExport,
} from './web-export.js';
