// The "scheduler" section (spec §1.4, §4): DeepSpeed's five LR schedules, each with the
// parameter names and defaults of its constructor.
import * as z from 'zod';
import { bool, strict } from './common.js';

export const schedulerSectionSchema = strict({
  type: z.string().min(1),
  params: z.record(z.string(), z.unknown()).nullable().default(null),
});

/** A learning rate for every param group, or one list entry per group. */
const lrOrList = (def: number) =>
  z.union([z.number().min(0), z.array(z.number().min(0)).min(1)], { error: 'expected a learning rate or a list of them (one per param group)' }).default(def);
const steps = (def: number) => z.number().int().min(0).default(def);
const totalSteps = z.number().int().min(1);
const warmupType = z.enum(['log', 'linear']).default('log');
const lastBatchIteration = z.number().int().min(-1).default(-1);

const lrRangeTest = strict({
  lr_range_test_min_lr: lrOrList(1e-3),
  lr_range_test_step_size: z.number().int().min(1).default(2000),
  lr_range_test_step_rate: z.number().min(0).default(1),
  lr_range_test_staircase: bool(false),
  last_batch_iteration: lastBatchIteration,
});

const oneCycle = strict({
  cycle_min_lr: z.number().min(0),
  cycle_max_lr: z.number().min(0),
  decay_lr_rate: z.number().min(0).default(0),
  cycle_first_step_size: z.number().int().min(1).default(2000),
  /** Absent → equal to cycle_first_step_size. */
  cycle_second_step_size: z.number().int().min(1).optional(),
  /** Accepted and stored, unused (as in DeepSpeed). */
  cycle_first_stair_count: z.number().int().default(0),
  cycle_second_stair_count: z.number().int().optional(),
  decay_step_size: z.number().int().min(0).default(0),
  cycle_momentum: bool(true),
  cycle_min_mom: z.number().min(0).max(1).default(0.8),
  cycle_max_mom: z.number().min(0).max(1).default(0.9),
  decay_mom_rate: z.number().min(0).default(0),
  last_batch_iteration: lastBatchIteration,
});

const warmupLR = strict({
  warmup_min_lr: lrOrList(0),
  warmup_max_lr: lrOrList(0.001),
  warmup_num_steps: steps(1000),
  warmup_type: warmupType,
  last_batch_iteration: lastBatchIteration,
});

const warmupDecayLR = strict({
  total_num_steps: totalSteps,
  warmup_min_lr: lrOrList(0),
  warmup_max_lr: lrOrList(0.001),
  warmup_num_steps: steps(1000),
  warmup_type: warmupType,
  last_batch_iteration: lastBatchIteration,
});

const warmupCosineLR = strict({
  total_num_steps: totalSteps,
  warmup_min_ratio: z.number().min(0).max(1).default(0),
  warmup_num_steps: steps(1000),
  cos_min_ratio: z.number().min(0).max(1).default(0.0001),
  warmup_type: warmupType,
  last_batch_iteration: lastBatchIteration,
});

export const SCHEDULER_PARAMS = {
  LRRangeTest: lrRangeTest,
  OneCycle: oneCycle,
  WarmupLR: warmupLR,
  WarmupDecayLR: warmupDecayLR,
  WarmupCosineLR: warmupCosineLR,
} as const;

export type SchedulerType = keyof typeof SCHEDULER_PARAMS;
export const SCHEDULER_TYPES = Object.keys(SCHEDULER_PARAMS) as SchedulerType[];

/** A resolved scheduler section: a known type and every constructor parameter with its default. */
export type SchedulerConfig = {
  [T in SchedulerType]: { type: T; params: z.output<(typeof SCHEDULER_PARAMS)[T]> };
}[SchedulerType];

export type SchedulerConfigInput = z.input<typeof schedulerSectionSchema>;
export type WarmupLRParams = z.output<typeof warmupLR>;
export type WarmupDecayLRParams = z.output<typeof warmupDecayLR>;
export type WarmupCosineLRParams = z.output<typeof warmupCosineLR>;
export type OneCycleParams = z.output<typeof oneCycle>;
export type LRRangeTestParams = z.output<typeof lrRangeTest>;
