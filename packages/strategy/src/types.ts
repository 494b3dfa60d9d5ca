// The contract between the engine and the strategies. The engine builds a set of parts for
// a training step (the model, the optimizer, how gradients are synchronised, how the update
// is applied, the loss scale, extra checkpoint state) and hands them to each strategy in
// turn; a strategy replaces or wraps the parts it owns. Nothing here knows a particular
// strategy, so ours and third-party ones plug in the same way.
import type { nn, optim, Tensor } from '@ds/core';

type Module = nn.Module;
// Any optimizer: its hyperparameter type is its own business.
type Optimizer = optim.Optimizer<object>;
import type { ProcessGroup } from '@ds/comm';

/** What one optimizer step did. */
export interface StepResult {
  /** False when the step was skipped (fp16 overflow); the engine then does not step the LR scheduler. */
  applied: boolean;
  /** Global L2 norm of the (unscaled) gradients before clipping, when it was computed. */
  gradNorm: number | null;
}

/**
 * Gradient synchronisation across data-parallel ranks. The default all-reduces gradients in
 * buckets while backward runs; ZeRO replaces it with reduce-scatter onto partitions.
 */
export interface GradientSync {
  readonly name: string;
  /** Called before each micro-batch's backward; `boundary` marks the last micro-batch of a step. */
  beforeBackward(boundary: boolean): void;
  /**
   * Called after each micro-batch's backward returned, before `finish` at the boundary. A
   * strategy that accumulates gradients outside autograd (see `setGradHolder`) folds the
   * micro-batch's gradients into its buffers here; a wrapper must forward the call.
   */
  afterBackward?(boundary: boolean): void;
  /** Resolves when every gradient of the step is reduced (averaged) and in place. Called at the boundary. */
  finish(): Promise<void>;
  /** Remove hooks and free buffers. */
  close(): void;
}

/** Applies the optimizer at an accumulation boundary, gradients already synchronised. */
export interface Updater {
  readonly name: string;
  step(): Promise<StepResult>;
  /** Clear the gradients the next accumulation starts from. */
  zeroGrad(): void;
}

/** The loss scale the engine multiplies the loss by before backward (1 when unscaled). */
export interface LossScale {
  readonly scale: number;
}

/** A value a checkpoint can hold: tensors, JSON scalars, arrays and records of them. */
export type StateValue = Tensor | number | string | boolean | null | StateValue[] | { [key: string]: StateValue };

/** State a strategy asks the engine to save and restore with every checkpoint. */
export interface Checkpointable {
  stateDict(): StateValue;
  loadStateDict(state: StateValue): void;
  /** The model's weights were loaded without this state (a weights-only load): re-derive from them. */
  afterModuleLoad?(): void;
  /**
   * True when the state differs between data-parallel ranks (a ZeRO partition): every rank
   * saves its own and loads its own. At another data-parallel size the engine passes every
   * saved rank's state to `loadShardedStateDict`; without it such a load is an error.
   */
  readonly sharded?: boolean;
  loadShardedStateDict?(states: StateValue[]): void;
}

/** The mutable parts of a training step, handed to each strategy in order. */
export interface EngineParts {
  model: Module;
  /**
   * The torch-style optimizer whose `paramGroups` the LR scheduler drives (null when the
   * engine trains without one). A strategy may swap the tensors in its groups (fp32 masters).
   */
  optimizer: Optimizer | null;
  gradSync: GradientSync;
  updater: Updater;
  lossScale: LossScale;
  /**
   * Global L2 norm of the given gradients as every rank must see it. The default treats
   * gradients as replicated (a local norm); strategies that shard gradients replace it.
   */
  gradNorm(grads: readonly Tensor[]): Promise<number>;
  /** Extra state saved with checkpoints, keyed by a stable name (e.g. "loss_scaler"). */
  state: Map<string, Checkpointable>;
  /**
   * Whether the engine saves `optimizer.stateDict()` itself (true by default). A strategy that
   * shards the optimizer sets it to false and saves the optimizer in its own sharded state.
   */
  checkpointOptimizer: boolean;
}

/** What a strategy may read about the run. */
export interface StrategyContext {
  world: ProcessGroup;
  /** The group gradients are averaged over unless a parameter names its own (see params.ts). */
  dataParallel: ProcessGroup;
  /** The fully resolved DeepSpeed-style config (the engine's schema; read only your section). */
  config: Readonly<Record<string, unknown>>;
  gradientAccumulationSteps: number;
  /** `gradient_clipping` (0 = off). */
  gradientClipping: number;
  /** Rank-0 info log and warnings, routed through the engine's logger. */
  log(message: string): void;
  warn(message: string): void;
}

/** A parallelism or precision strategy. */
export interface Strategy {
  readonly name: string;
  /** Replace or wrap parts. Runs once, at engine construction, in the engine's strategy order. */
  apply(parts: EngineParts, ctx: StrategyContext): void | Promise<void>;
}
