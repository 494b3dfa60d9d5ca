// Checkpoints of partitioned ZeRO state: the per-rank format, reassembling whole parameters
// from partitions, and zero_to_fp32 consolidation.
export { consolidateZeroCheckpoint, writeFp32Checkpoint, zeroToFp32Main } from './consolidate.js';
export { assembleParams, type AssembledParam } from './assemble-params.js';
export { parseShardState } from './parse-shard.js';
export { readShardStates, readPartitionStates, readModelStates, resolveTagDir, type SavedPartitionStates } from './read-checkpoint.js';
export {
  SHARD_FORMAT, SHARD_VERSION, type ZeroShardState, type SavedFlat, type SavedFlatParam, type SavedFragment, type SavedHyperparameters,
} from './shard-format.js';
