// LR schedules: DeepSpeed's five (same formulas, same float results) plus LambdaLR for
// client schedules, all behind the LRScheduler interface.
export type {
  LRScheduler, LRSchedulerState, SchedulableOptimizer, SchedulableParamGroup, WrappedOptimizer, OptimizerInput, SchedulerContext, WarnFn,
} from './types.js';
export type { WarmupType } from './options.js';
export { WarmupLR, WarmupDecayLR, type WarmupLROptions, type WarmupDecayLROptions } from './warmup.js';
export { WarmupCosineLR, type WarmupCosineLROptions } from './warmup-cosine.js';
export { OneCycle, type OneCycleOptions } from './one-cycle.js';
export { LRRangeTest, type LRRangeTestOptions } from './range-test.js';
export { LambdaLR, fromLambda, INITIAL_LR_KEY, type LrLambda } from './lambda.js';
export { createScheduler, schedulerParamNames, LR_SCHEDULE_NAMES, type LRScheduleName } from './create.js';
