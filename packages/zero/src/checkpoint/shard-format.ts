// What one data-parallel rank saves for ZeRO (DeepSpeed's zero_pp_rank_*_optim_states content,
// spec §1.9, in ds's JSON + safetensors form): per flat group, this rank's fp32 partition, the
// inner optimizer's state for it, and the layout that says which parameter pieces it holds.
import type { Tensor } from '@ds/core';

export const SHARD_FORMAT = 'ds-zero-partitions';
export const SHARD_VERSION = 1;

/** One parameter of a flat group, as laid out in the flat buffer. */
export type SavedFlatParam = {
  /** The state-dict name (HF layout for @ds/models). */
  name: string;
  /** Other state-dict names of the same tensor (tied weights). */
  aliases: string[];
  shape: number[];
  /** Offset in the flat buffer. */
  offset: number;
  numel: number;
};

/** A piece of a parameter inside this rank's partition (DeepSpeed `param_slice_mappings`). */
export type SavedFragment = {
  name: string;
  /** First element of the parameter in the piece. */
  param_start: number;
  /** Where the piece starts in the partition. */
  part_start: number;
  length: number;
};

export type SavedFlat = {
  /** The optimizer param group the parameters belong to. */
  optimizer_group: number;
  /** Global ranks of the group the parameters were partitioned over. */
  group_ranks: number[];
  /** This rank's index in that group. */
  rank: number;
  partition_count: number;
  /** Σ numel of the parameters. */
  numel: number;
  /** Zeros after the last parameter (to a multiple of 2·partition_count). */
  padding: number;
  partition_size: number;
  /** Padding elements inside this rank's partition (DeepSpeed `group_paddings`). */
  partition_padding: number;
  /** The model's dtype for these parameters. */
  dtype: string;
  params: SavedFlatParam[];
  fragments: SavedFragment[];
  /** This rank's fp32 partition, `partition_size` elements (padding included, as zeros). */
  fp32: Tensor;
  /**
   * The inner optimizer's state of the partition: per-element tensors of `partition_size`
   * elements (exp_avg, ...) and scalars (step). Empty before the first step.
   */
  optimizer_state: { [key: string]: Tensor | number };
};

/** Hyperparameters of one optimizer param group (lr, betas, ...), without its parameters. */
export type SavedHyperparameters = { [key: string]: number | string | boolean | null | (number | string | boolean | null)[] };

export type ZeroShardState = {
  format: typeof SHARD_FORMAT;
  version: typeof SHARD_VERSION;
  zero_stage: number;
  flats: SavedFlat[];
  optimizer_param_groups: SavedHyperparameters[];
};
