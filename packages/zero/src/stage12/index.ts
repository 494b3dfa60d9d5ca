// ZeRO stages 1 and 2: the flat-buffer layout, gradient reduction onto partitions, the
// partitioned optimizer step and its sharded checkpoint state.
export { applyStage12, type AppliedStage12 } from './apply-stage12.js';
export { planFlatLayout, ownersOf, ownerRegions, roundRobinOrder, ALIGNMENT_FACTOR, type FlatLayout, type Partition, type Fragment } from './partition-layout.js';
export { planGradBuckets, type GradBucketPlan } from './grad-buckets.js';
export { FlatGroup, type FlatGroupInit, type FlatParamInput } from './flat-group.js';
export { PartitionedGradSync, type PartitionedGradSyncOptions } from './partitioned-grad-sync.js';
export { ZeroUpdater, type ZeroUpdaterInit } from './zero-updater.js';
export { gatherPartitions, planGatherShards, type GatherOptions } from './gather-partitions.js';
export { gradNormAcross, sumAcross, sumOfSquares } from './grad-norm-across.js';
export { ZeroCheckpointState, type ZeroCheckpointStateInit } from './zero-checkpoint-state.js';
