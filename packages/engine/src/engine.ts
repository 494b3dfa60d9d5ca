// The training engine: DeepSpeed's forward / backward / step loop with its gradient
// accumulation boundary, counters and LR scheduling, over parts that strategies assembled.
import { noGrad, type nn, type optim, type Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import type { EngineParts } from '@ds/strategy';
import type { EngineSettings } from './settings.js';
import type { EngineReporter } from './report.js';
import {
  loadCheckpoint, saveCheckpoint, type LoadCheckpointOptions, type LoadCheckpointResult, type SaveCheckpointOptions,
} from './checkpoint/index.js';

/** A learning-rate scheduler the engine steps once per applied optimizer step. */
export interface SchedulerLike {
  step(batchIteration?: number): void;
  stateDict(): Record<string, unknown>;
  loadStateDict(state: Record<string, unknown>): void;
}

export class Engine {
  readonly module: nn.Module;
  readonly world: ProcessGroup;
  readonly dataParallel: ProcessGroup;
  readonly settings: EngineSettings;
  readonly parts: EngineParts;
  lrScheduler: SchedulerLike | null;

  /** Optimizer steps taken, skipped ones included (DeepSpeed `global_steps`). */
  globalSteps = 0;
  /** Samples consumed: `train_batch_size` per optimizer step (DeepSpeed `global_samples`). */
  globalSamples = 0;
  /** `step()` calls, one per micro-batch. */
  microSteps = 0;
  /** Optimizer steps skipped because of an fp16 overflow. */
  skippedSteps = 0;
  /** Gradient norm of the last applied step when it was computed (clipping on). */
  globalGradNorm: number | null = null;

  #boundaryOverride: boolean | null = null;
  #stepLoss = 0;
  #stepLossCount = 0;
  #lastApplied = true;
  #reporter: EngineReporter;

  constructor(init: {
    module: nn.Module;
    world: ProcessGroup;
    dataParallel: ProcessGroup;
    settings: EngineSettings;
    parts: EngineParts;
    lrScheduler: SchedulerLike | null;
    reporter: EngineReporter;
  }) {
    this.module = init.module;
    this.world = init.world;
    this.dataParallel = init.dataParallel;
    this.settings = init.settings;
    this.parts = init.parts;
    this.lrScheduler = init.lrScheduler;
    this.#reporter = init.reporter;
  }

  get optimizer(): optim.Optimizer<object> | null {
    return this.parts.optimizer;
  }

  get trainBatchSize(): number {
    return this.settings.trainBatchSize;
  }

  get trainMicroBatchSizePerGpu(): number {
    return this.settings.microBatchSize;
  }

  get gradientAccumulationSteps(): number {
    return this.settings.gradientAccumulationSteps;
  }

  /** Runs the model (with its forward hooks); the output is returned unchanged. */
  forward<A extends unknown[], R>(...args: A): R {
    this.#reporter.timers.start('fwd');
    try {
      return (this.module as unknown as { call(...a: A): R }).call(...args);
    } finally {
      this.#reporter.timers.stop('fwd');
    }
  }

  /** True when the current micro-batch is the last of an accumulation (DeepSpeed semantics). */
  isGradientAccumulationBoundary(): boolean {
    if (this.#boundaryOverride !== null) return this.#boundaryOverride;
    return (this.microSteps + 1) % this.settings.gradientAccumulationSteps === 0;
  }

  /** Sticky override of the boundary (DeepSpeed `set_gradient_accumulation_boundary`); null restores the default. */
  setGradientAccumulationBoundary(boundary: boolean | null): void {
    this.#boundaryOverride = boundary;
  }

  /**
   * Backward of `loss` divided by the accumulation steps (and multiplied by the loss scale);
   * gradient reduction starts from hooks while backward runs, and gradients accumulated outside
   * autograd (bf16 into fp32) are folded in right after it. Returns the GAS-scaled loss.
   */
  backward(loss: Tensor): Tensor {
    this.#requireOptimizer('backward');
    if (loss.numel !== 1) throw new RangeError(`engine.backward: loss must have one element, got shape [${loss.shape.join(', ')}]`);
    const gas = this.settings.gradientAccumulationSteps;
    const scaledForGas = gas > 1 ? loss.div(gas) : loss;
    const value = loss.toFloat32Array()[0]!;
    this.#stepLoss += value;
    this.#stepLossCount++;
    const scale = this.parts.lossScale.scale;
    const boundary = this.isGradientAccumulationBoundary();
    const sync = this.parts.gradSync;
    sync.beforeBackward(boundary);
    this.#reporter.timers.start('bwd');
    (scale !== 1 ? scaledForGas.mul(scale) : scaledForGas).backward();
    sync.afterBackward?.(boundary);
    this.#reporter.timers.stop('bwd');
    return scaledForGas;
  }

  /**
   * Call after every micro-batch's backward. At the accumulation boundary it waits for the
   * gradient reduction, applies the update (or skips it on fp16 overflow) and steps the LR
   * scheduler; otherwise it only counts the micro-step.
   */
  async step(): Promise<void> {
    this.#requireOptimizer('step');
    if (this.isGradientAccumulationBoundary()) {
      const t = this.#reporter.timers;
      t.start('bwd_allreduce');
      await this.parts.gradSync.finish();
      t.stop('bwd_allreduce');
      t.start('step');
      const result = await this.parts.updater.step();
      this.parts.updater.zeroGrad();
      t.stop('step');
      this.#lastApplied = result.applied;
      if (result.applied) {
        this.globalGradNorm = result.gradNorm;
        this.lrScheduler?.step();
      } else {
        this.skippedSteps++;
      }
      this.globalSteps++;
      this.globalSamples += this.settings.trainBatchSize;
      const loss = this.#stepLossCount > 0 ? this.#stepLoss / this.#stepLossCount : null;
      this.#stepLoss = 0;
      this.#stepLossCount = 0;
      this.#reporter.microStepDone(true);
      this.#reporter.afterStep(this, loss);
    } else {
      this.#reporter.microStepDone(false);
    }
    this.microSteps++;
  }

  /** True when the last optimizer step was applied (not skipped by an overflow). */
  wasStepApplied(): boolean {
    return this.#lastApplied;
  }

  /** Learning rate of every param group (0 where a group has none). */
  getLr(): number[] {
    return (this.parts.optimizer?.paramGroups ?? []).map((g) => (typeof g.lr === 'number' ? g.lr : 0));
  }

  /** The current loss scale (1 unless fp16). */
  get lossScale(): number {
    return this.parts.lossScale.scale;
  }

  zeroGrad(): void {
    this.parts.updater.zeroGrad();
  }

  train(mode = true): this {
    this.module.train(mode);
    return this;
  }

  eval(): this {
    this.module.eval();
    return this;
  }

  /**
   * Save model, optimizer, scheduler, strategy state (loss scaler, fp32 masters), RNG and
   * counters under `<dir>/<tag>` and point `<dir>/latest` at it. Call on every rank.
   */
  saveCheckpoint(dir: string, opts: SaveCheckpointOptions = {}): Promise<string> {
    return saveCheckpoint(this, dir, opts);
  }

  /** Restore what saveCheckpoint wrote (the `latest` tag by default). Call on every rank. */
  loadCheckpoint(dir: string, opts: LoadCheckpointOptions = {}): Promise<LoadCheckpointResult> {
    return loadCheckpoint(this, dir, opts);
  }

  /** Remove hooks and flush monitors; the process group stays the caller's. */
  async close(): Promise<void> {
    this.parts.gradSync.close();
    await this.#reporter.close();
  }

  #requireOptimizer(what: string): void {
    if (!this.parts.optimizer) {
      throw new Error(`engine.${what}: the engine has no optimizer; pass one to initialize() or add an "optimizer" section to the config`);
    }
  }
}

/** Broadcast every parameter and buffer from data-parallel rank 0 so all replicas start equal. */
export async function broadcastModel(module: nn.Module, group: ProcessGroup): Promise<void> {
  if (group.size === 1) return;
  const tensors = [...module.parameters(), ...module.buffers()];
  const seen = new Set<Tensor>();
  for (const t of tensors) {
    if (seen.has(t)) continue;
    seen.add(t);
    await noGrad(() => group.broadcast(t, 0));
  }
}
