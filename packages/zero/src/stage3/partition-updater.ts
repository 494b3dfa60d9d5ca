// The stage-3 optimizer step: the optimizer updates this rank's fp32 slices only; the slices
// are written back into the model-dtype partitions; parameters kept gathered are rebuilt. Under
// mixed precision it also unscales, agrees on overflow across ranks and drives the loss scaler.
// 16-bit gradient partitions (data_types.grad_accum_dtype) are never made fp32 as a whole: as in
// DeepSpeed's stage 3, each sub-group's fp32 gradient is made (unscaled and clipped) just before
// that sub-group steps.
import { noGrad, Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { NonFiniteGradientError, overflowAcross, unscaleToMaster, type LossScaler } from '@ds/precision';
import type { EngineParts, StepResult, Updater } from '@ds/strategy';
import type { ParameterCoordinator } from './coordinator.js';
import type { FlatPartition } from './flat-partitions.js';
import { fromFp32, type ParamSwap } from './param-swap.js';

/** What mixed precision handed over: the scaler stays precision's, the masters become partitions. */
export interface MixedPrecisionState {
  dtype: 'float16' | 'bfloat16';
  scaler: LossScaler;
  /** bf16.nonfinite: an inf/NaN gradient is an error, or skips the step. float16 always skips. */
  nonfinite: 'error' | 'skip';
  /** Ranks that must agree on skipping a step. */
  world: ProcessGroup;
}

export interface PartitionUpdaterInit {
  parts: EngineParts;
  flats: readonly FlatPartition[];
  coordinator: ParameterCoordinator;
  gradientClipping: number;
  mixed: MixedPrecisionState | null;
  /** offload_param "nvme": where the model-dtype partitions live (written back after each step). */
  paramSwap?: ParamSwap | null;
  log(message: string): void;
}

export class PartitionUpdater implements Updater {
  readonly name: string;
  readonly #init: PartitionUpdaterInit;
  #offloadStep: (() => Promise<void>) | null = null;

  constructor(init: PartitionUpdaterInit) {
    this.#init = init;
    this.name = init.mixed ? `ZeRO-3 partitioned optimizer (${init.mixed.dtype} with fp32 master partitions)` : 'ZeRO-3 partitioned optimizer';
  }

  async step(): Promise<StepResult> {
    const { parts, flats, coordinator, mixed } = this.#init;
    const optimizer = parts.optimizer;
    if (!optimizer) throw new Error('engine.step: the engine has no optimizer; pass one to initialize() or add an "optimizer" section to the config');
    const half = flats.some((f) => f.gradDtype !== 'float32');
    if (!half) for (const f of flats) f.master.grad = f.grad;

    const usedScale = mixed ? mixed.scaler.scale : 1;
    if (mixed) {
      let finite = true;
      if (half) {
        finite = allFinite(flats, 1 / usedScale);
      } else {
        for (const f of flats) {
          const g = f.grad.data<'float32'>();
          if (!unscaleToMaster(g, 'float32', g, 1 / usedScale)) finite = false;
        }
      }
      if (await overflowAcross(!finite, [mixed.world])) {
        const step = mixed.scaler.curIter + 1;
        if (mixed.dtype === 'bfloat16' && mixed.nonfinite === 'error') {
          throw new NonFiniteGradientError(
            `bf16: non-finite (inf or NaN) gradient at step ${step} (found in the ZeRO-3 gradient partitions). ` +
              'bfloat16 has no loss scaling, so this is not an overflow to skip: check the inputs, the loss and the learning rate, ' +
              'or set bf16.nonfinite to "skip" to skip such steps',
          );
        }
        mixed.scaler.update(true);
        this.#init.log(`[zero] step ${step}: gradient overflow (inf/NaN), skipping the step; loss scale ${usedScale} -> ${mixed.scaler.scale}`);
        this.zeroGrad();
        await coordinator.afterUpdate();
        return { applied: false, gradNorm: null };
      }
    }

    let gradNorm: number | null = null;
    let coef = 1;
    const clip = this.#init.gradientClipping;
    if (clip > 0) {
      const grads = flats.map((f) => f.grad);
      gradNorm = await parts.gradNorm(grads);
      // 16-bit partitions are still scaled: the norm of the scaled values, unscaled (DeepSpeed's order).
      if (half) gradNorm = Math.fround(gradNorm / usedScale);
      // The engine's coefficient, rounded the same way, so fp32 runs match data parallelism.
      coef = Math.fround(clip / (gradNorm + 1e-6));
      if (coef < 1 && !half) noGrad(() => grads.forEach((g) => g.mul_(coef)));
    }
    // What widening a 16-bit partition to fp32 multiplies by this step (fp32 ones were scaled above).
    for (const f of flats) {
      f.stepScale.inv = 1 / usedScale;
      f.stepScale.clip = half ? coef : 1;
    }
    const swap = this.#init.paramSwap ?? null;
    // Partitions on NVMe are rewritten below: no gather may still be reading one.
    if (swap) {
      await coordinator.drain();
      await swap.dropReadAhead();
    }
    if (this.#offloadStep) {
      // NVMe offload: the step streams the partitions from disk and writes the model's weights itself.
      await this.#offloadStep();
    } else if (half) {
      // One sub-group at a time (DeepSpeed's _optimizer_step): only its fp32 gradient exists while it steps.
      const scratch = new Float32Array(flats.reduce((n, f) => Math.max(n, f.numel), 0));
      for (const f of flats) {
        f.master.grad = new Tensor(f.gradFloat32(0, f.numel, scratch), [f.numel], 'float32');
        try {
          optimizer.step();
        } finally {
          f.master.grad = null;
        }
        await writeBack(f, swap);
      }
    } else {
      optimizer.step();
      for (const f of flats) await writeBack(f, swap);
    }
    if (swap) {
      // The next pass's first partitions are read behind the write-backs still in flight.
      swap.readAhead(coordinator.nextTrainingFetches(swap.swapper.pool.count));
      await swap.flush();
      await swap.settleReadAhead();
    }
    await coordinator.afterUpdate();
    mixed?.scaler.update(false);
    return { applied: true, gradNorm };
  }

  /** Replace the in-memory optimizer step (unscaled, clipped gradients in place) by another, e.g. NVMe offload's. */
  setOptimizerStep(step: (() => Promise<void>) | null): void {
    this.#offloadStep = step;
  }

  zeroGrad(): void {
    for (const f of this.#init.flats) {
      (f.grad.data() as Float32Array | Uint16Array).fill(0);
      f.master.grad = null;
      for (const rec of f.recs) rec.param.grad = null;
    }
  }
}

/** The updated fp32 slices into the model-dtype partitions (in memory, or on NVMe). */
async function writeBack(f: FlatPartition, swap: ParamSwap | null): Promise<void> {
  for (const rec of f.recs) {
    if (swap?.holds(rec)) await swap.store(rec, rec.master!.data<'float32'>());
    else if (rec.partition !== rec.master) fromFp32(rec.master!.data<'float32'>(), rec.partition.data(), rec.dtype);
  }
}

/** Whether every 16-bit gradient, times `inv`, is finite (widened a piece at a time). */
function allFinite(flats: readonly FlatPartition[], inv: number): boolean {
  const scratch = new Float32Array(1 << 20);
  let finite = true;
  for (const f of flats) {
    const g = f.grad.data() as Uint16Array;
    const dtype = f.gradDtype as 'float16' | 'bfloat16';
    for (let a = 0; a < g.length; a += scratch.length) {
      const b = Math.min(g.length, a + scratch.length);
      if (!unscaleToMaster(g.subarray(a, b), dtype, scratch.subarray(0, b - a), inv)) finite = false;
    }
  }
  return finite;
}
