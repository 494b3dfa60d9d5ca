// The ZeRO-1/2 optimizer step (spec §1.7): with the averaged partition gradients in place,
// unscale and agree on overflow (mixed precision), clip by the global norm over partitions,
// step the inner optimizer on this rank's fp32 partitions only, round them into the 16-bit
// flat buffers, and gather every rank's partition so all ranks hold the whole model again.
import { noGrad } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import type { EngineParts, StepResult, Updater } from '@ds/strategy';
import { masterToHalf, NonFiniteGradientError, overflowAcross, type HalfDType, type LossScaler, type NonFiniteMode } from '@ds/precision';
import { allFinite } from './elements.js';
import type { FlatGroup } from './flat-group.js';
import { gatherPartitions, type GatherOptions } from './gather-partitions.js';
import type { PartitionedGradSync } from './partitioned-grad-sync.js';

export interface ZeroUpdaterInit {
  parts: EngineParts;
  flats: readonly FlatGroup[];
  gradSync: PartitionedGradSync;
  /** The loss scaler precision set up, or null for fp32 training (no overflow check). */
  scaler: LossScaler | null;
  /** The 16-bit dtype under mixed precision. */
  halfDtype: HalfDType | null;
  /** bfloat16: what an inf/NaN gradient does. */
  nonfinite: NonFiniteMode;
  /** Ranks that must agree on skipping a step. */
  world: ProcessGroup;
  /** `gradient_clipping` (0 = off). */
  gradientClipping: number;
  gather: GatherOptions;
  stage: 1 | 2;
  log(message: string): void;
}

export class ZeroUpdater implements Updater {
  readonly name: string;
  readonly #init: ZeroUpdaterInit;
  #offloadStep: (() => Promise<void>) | null = null;

  constructor(init: ZeroUpdaterInit) {
    this.#init = init;
    this.name = `zero stage ${init.stage}${init.halfDtype ? ` (${init.halfDtype} with fp32 partitions)` : ''}`;
  }

  async step(): Promise<StepResult> {
    const { parts, flats, scaler } = this.#init;
    const optimizer = parts.optimizer;
    if (!optimizer) throw new Error('engine.step: the engine has no optimizer; pass one to initialize() or add an "optimizer" section to the config');
    if (scaler) {
      const step = scaler.curIter + 1;
      const usedScale = scaler.scale;
      const inv = Math.fround(1 / usedScale);
      let bad: FlatGroup | null = null;
      for (const f of flats) {
        const g = f.grad.data<'float32'>();
        if (inv !== 1) noGrad(() => f.grad.mul_(inv));
        if (!bad && !allFinite(g)) bad = f;
      }
      if (await overflowAcross(bad !== null, [this.#init.world])) {
        if (this.#init.halfDtype === 'bfloat16' && this.#init.nonfinite === 'error') throw this.#nonFinite(step, bad);
        scaler.update(true);
        this.#logSkip(step, usedScale);
        this.zeroGrad();
        return { applied: false, gradNorm: null };
      }
    }
    let gradNorm: number | null = null;
    const clip = this.#init.gradientClipping;
    if (clip > 0) {
      const grads = flats.map((f) => f.grad);
      gradNorm = await parts.gradNorm(grads);
      // The same coefficient, rounded the same way, as the engine's fp32 clipping.
      const coef = Math.fround(clip / (gradNorm + 1e-6));
      if (coef < 1) noGrad(() => grads.forEach((g) => g.mul_(coef)));
    }
    // The partition gradients stay attached even if someone called optimizer.zeroGrad() (which drops `.grad`).
    for (const f of flats) f.master.grad = f.grad;
    if (this.#offloadStep) {
      // NVMe offload: the step streams the partitions from disk and writes the model's weights itself.
      await this.#offloadStep();
    } else {
      optimizer.step();
      for (const f of flats) {
        if (f.master !== f.partition) masterToHalf(f.master.data<'float32'>(), f.partition.data() as Uint16Array, f.dtype as HalfDType);
      }
    }
    await gatherPartitions(flats, this.#init.gather);
    scaler?.update(false);
    return { applied: true, gradNorm };
  }

  /** Replace the in-memory optimizer step (unscaled, clipped gradients in place) by another, e.g. NVMe offload's. */
  setOptimizerStep(step: (() => Promise<void>) | null): void {
    this.#offloadStep = step;
  }

  zeroGrad(): void {
    this.#init.gradSync.zeroGrad();
  }

  #nonFinite(step: number, bad: FlatGroup | null): NonFiniteGradientError {
    let what = 'a parameter on another rank';
    if (bad) {
      const g = bad.grad.data<'float32'>();
      const at = g.findIndex((v) => !Number.isFinite(v));
      const f = bad.fragments().find((x) => at >= x.partStart && at < x.partStart + x.length);
      if (f) what = `'${bad.names[f.param]}' (element ${f.paramStart + at - f.partStart})`;
    }
    return new NonFiniteGradientError(
      `bf16: non-finite (inf or NaN) gradient at step ${step} in ${what}. bfloat16 has no loss scaling, so this is not an overflow to skip: ` +
        'check the inputs, the loss and the learning rate, or set bf16.nonfinite to "skip" to skip such steps',
    );
  }

  #logSkip(step: number, before: number): void {
    const { scaler, log, halfDtype } = this.#init;
    if (halfDtype === 'bfloat16') log(`[zero] step ${step}: non-finite (inf/NaN) gradient, skipping the step (bf16.nonfinite = "skip")`);
    else if (scaler && scaler.scale !== before) log(`[zero] step ${step}: gradient overflow, skipping the step; attempted loss scale ${before}, reducing to ${scaler.scale}`);
    else log(`[zero] step ${step}: gradient overflow, skipping the step; loss scale stays ${before}`);
  }
}
