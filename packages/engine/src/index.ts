// @ds/engine: DeepSpeed's initialize() and training engine for ds — the config schema, data
// parallelism, optimizers and LR schedules from config, checkpoints and monitors. Strategies
// (precision, ZeRO, ...) plug in through @ds/strategy.
export { initialize, createEngine, type InitializeOptions, type InitializeResult, type CreateEngineOptions } from './initialize.js';
export { Engine, broadcastModel, type SchedulerLike } from './engine.js';
export { type EngineSettings } from './settings.js';
export { buildOptimizer, type OptimizerSection } from './optimizers.js';
export {
  dataParallel, dataParallelFromConfig, AllReduceGradSync, OptimizerUpdater, clipGradients, replicatedGradNorm, gradsOf, planBuckets,
  DEFAULT_BUCKET_ELEMENTS, type DataParallelOptions, type Bucket,
} from './data-parallel/index.js';
export * from './config/index.js';
export * from './lr/index.js';
export * from './monitor/index.js';
export {
  saveCheckpoint, loadCheckpoint, type SaveCheckpointOptions, type LoadCheckpointOptions, type LoadCheckpointResult,
} from './checkpoint/index.js';
