// @ds/zero: ZeRO stages 1-3 as a strategy (`zero({ stage })`, or `strategyFromConfig` for the
// engine's "zero_optimization" section), their building blocks, checkpoint consolidation
// (zero_to_fp32), offload, and the memory estimators.
export { zero, strategyFromConfig } from './zero.js';
export { ZERO_DEFAULTS } from './options.js';
export * from './stage12/index.js';
export * from './checkpoint/index.js';
export {
  applyStage3, stage3Runtime, zeroInit, withGatheredParameters, gatherFullStateDict, consolidateStage3States, Stage3State, STAGE3_FORMAT,
  PartitionedParam, partitionSize, ParameterCoordinator, FetchTrace, PartitionGradSync, PartitionUpdater, buildFlatPartitions,
  partitionedGradNorm, completesSynchronously, ParamSwap, PARAM_BUFFER_SIZE,
} from './stage3/index.js';
export * from './estimate/index.js';
export * from './offload/index.js';
export type { ZeroStrategyOptions, OffloadInput } from './zero.js';
export type { ZeroOptions, OffloadOptions } from './options.js';
export type {
  Stage3Runtime, ZeroInitOptions, GatheredParametersOptions, GatherFullStateDictOptions, ParamStatus, CoordinatorOptions, CoordinatorStats, FetchUnit,
  Phase, TraceMode, PartitionGradSyncOptions, MixedPrecisionState, PartitionUpdaterInit, FlatPartition, ZeroInitOffload, ParamSwapOptions,
  ParamSwapStats, PartitionStore,
} from './stage3/index.js';
