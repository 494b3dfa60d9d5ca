// The DeepSpeed config: schema, resolution (batch sizes, derived values), errors, printing.
export { resolveConfig, type ResolvedConfig, type ResolveOptions, type ResolveResult } from './resolve.js';
export { formatConfig } from './format.js';
export { requiredPackages, type RequiredPackage } from './packages.js';
export { ConfigError, MissingPackageError, missingPackageError, type ConfigIssue } from './errors.js';
export { resolveBatchSizes, type BatchSizes, type BatchResult, type GivenBatchSizes } from './batch.js';
export { computeElasticBatch, compatibleGpusV01, type ElasticBatch } from './elasticity.js';
export { parseConfigText } from './parse.js';
export { deepSpeedConfigSchema, type DeepSpeedConfig, type ParsedConfig } from './schema.js';
export { normaliseOptimizerType } from './optimizer.js';

export type { DerivedValues, DynamicLossScaleArgs } from './derive.js';
export type { FloatDtype } from './sections/dtype.js';
export type { Fp16Config, Bf16Config, AmpConfig } from './sections/precision.js';
export type { ZeroConfig, ZeroConfigInput, OffloadParamConfig, OffloadOptimizerConfig } from './sections/zero.js';
export type { OptimizerConfig, OptimizerConfigInput, OptimizerType, AdamParams, SgdParams } from './sections/optimizer.js';
export type {
  SchedulerConfig, SchedulerConfigInput, SchedulerType, WarmupLRParams, WarmupDecayLRParams, WarmupCosineLRParams, OneCycleParams, LRRangeTestParams,
} from './sections/scheduler.js';
export type { ActivationCheckpointingConfig, PipelineConfig, CheckpointConfig, DataTypesConfig } from './sections/training.js';
export type {
  TensorboardConfig, CsvMonitorConfig, WandbConfig, CometConfig, CommsLoggerConfig, FlopsProfilerConfig, TimersConfig,
} from './sections/monitoring.js';
export type { ElasticityConfig } from './sections/elasticity.js';
export type { AutotuningConfig } from './sections/autotuning.js';
export type { TensorParallelConfig, MoeConfig, HybridEngineConfig, AioConfig } from './sections/other.js';
