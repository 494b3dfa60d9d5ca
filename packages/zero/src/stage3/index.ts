// ZeRO stage 3: parameter partitioning with gather-on-use, trace-based prefetch, partitioned
// gradients and optimizer state; zeroInit (partitioned construction), GatheredParameters.
export { applyStage3, stage3Runtime } from './apply-stage3.js';
export { zeroInit } from './zero-init.js';
export { withGatheredParameters } from './gathered-parameters.js';
export { gatherFullStateDict } from './full-state-dict.js';
export { Stage3State, consolidateStage3States, STAGE3_FORMAT } from './stage3-state.js';
export { PartitionedParam, partitionSize } from './partitioned-param.js';
export { ParamSwap, PARAM_BUFFER_SIZE } from './param-swap.js';
export { ParameterCoordinator } from './coordinator.js';
export { FetchTrace } from './fetch-trace.js';
export { PartitionGradSync } from './partition-grad-sync.js';
export { PartitionUpdater } from './partition-updater.js';
export { buildFlatPartitions } from './flat-partitions.js';
export { partitionedGradNorm } from './partitioned-grad-norm.js';
export { completesSynchronously } from './sync-completion.js';

// Types
export type { Stage3Runtime } from './apply-stage3.js';
export type { ZeroInitOptions, ZeroInitOffload } from './zero-init.js';
export type { ParamSwapOptions, ParamSwapStats } from './param-swap.js';
export type { PartitionStore } from './partitioned-param.js';
export type { GatheredParametersOptions } from './gathered-parameters.js';
export type { GatherFullStateDictOptions } from './full-state-dict.js';
export type { ParamStatus } from './partitioned-param.js';
export type { CoordinatorOptions, CoordinatorStats } from './coordinator.js';
export type { FetchUnit, Phase, TraceMode } from './fetch-trace.js';
export type { PartitionGradSyncOptions } from './partition-grad-sync.js';
export type { MixedPrecisionState, PartitionUpdaterInit } from './partition-updater.js';
export type { FlatPartition } from './flat-partitions.js';
