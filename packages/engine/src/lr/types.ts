// The shape every ds LR scheduler shares, and the minimal optimizer shape it drives. The
// optimizer side is structural so any object with `paramGroups` works (@ds/core's
// optim.Optimizer, a mixed-precision wrapper's inner optimizer, a hand-rolled one).

/**
 * One parameter group as a scheduler sees it. Schedulers write `lr`; OneCycle with momentum
 * cycling also writes `betas` (Adam-style: `[beta1, beta2]`) or `momentum` (SGD-style).
 * The index signature keeps every other key the optimizer stores untouched and lets
 * optimizers whose hyperparameter types are open (`Record<string, unknown>`) be scheduled;
 * the values a scheduler reads are checked when it reads them.
 */
export interface SchedulableParamGroup {
  [key: string]: unknown;
}

/** Anything with parameter groups (`lr: number` in each group; `betas` or `momentum` for OneCycle). */
export interface SchedulableOptimizer {
  readonly paramGroups: SchedulableParamGroup[];
  /** Hyperparameter defaults; OneCycle looks here first for `betas`/`momentum`, as DeepSpeed does. */
  readonly defaults?: object;
}

/** A wrapper (precision, ZeRO) exposing the optimizer it drives; schedulers unwrap it like DeepSpeed. */
export interface WrappedOptimizer {
  readonly optimizer: SchedulableOptimizer;
}

export type OptimizerInput = SchedulableOptimizer | WrappedOptimizer;

/** What a scheduler checkpoints: DeepSpeed's `{'last_batch_iteration': k}`. */
export type LRSchedulerState = { last_batch_iteration: number };

/** The common interface of every ds LR scheduler (DeepSpeed's lr_schedules API in camelCase). */
export interface LRScheduler {
  /** `k = batchIteration ?? k + 1`, then write the lr for `k` into the optimizer's groups. */
  step(batchIteration?: number): void;
  /** The lr per group for the current `k` (recomputed, not read back from the optimizer). */
  getLr(): number[];
  /** Every group's lr as of the last write; throws before the first one. */
  getLastLr(): number[];
  stateDict(): LRSchedulerState;
  loadStateDict(state: Record<string, unknown>): void;
}

/** Where non-fatal notes about a schedule go (DeepSpeed logs them as warnings). */
export type WarnFn = (message: string) => void;

export interface SchedulerContext {
  /** Default: `process.emitWarning`. */
  warn?: WarnFn;
}
