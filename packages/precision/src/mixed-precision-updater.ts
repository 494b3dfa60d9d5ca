// The optimizer step under mixed precision: unscale the 16-bit gradients into fp32 master
// gradients (or, with fp32 accumulation, the fp32 sums already there), agree across ranks on
// overflow, skip (or fail) on inf/NaN, clip, step the fp32 masters, round them back into the
// model, and let the loss scaler learn from the outcome.
import { noGrad, tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import type { EngineParts, StepResult, Updater } from '@ds/strategy';
import type { LossScaler } from './loss-scaler.js';
import { DynamicLossScaler } from './dynamic-loss-scaler.js';
import type { MasterWeights } from './master-weights.js';
import { overflowAcross } from './overflow-across.js';
import type { GradAccumDType, HalfDType } from './kernels/types.js';

/** What a bfloat16 step does when a gradient is inf or NaN. */
export type NonFiniteMode = 'error' | 'skip';

export interface MixedPrecisionUpdaterInit {
  dtype: HalfDType;
  /** The engine parts: the optimizer and the global norm are read from them at every step. */
  parts: EngineParts;
  /** The updater this one replaces; only its `zeroGrad` is still called. */
  inner: Updater;
  masters: MasterWeights;
  scaler: LossScaler;
  /** Ranks that must agree on skipping a step (the whole world). */
  groups: readonly ProcessGroup[];
  /** `gradient_clipping` (0 = off). */
  gradientClipping: number;
  /** bfloat16 only: 'error' (default) or 'skip'. float16 always skips. */
  nonfinite: NonFiniteMode;
  /**
   * Where gradients accumulate across micro-batches: 'float32' when the masters' gradients
   * already hold the (reduced) fp32 sums (`MasterWeights.foldGrads`), else the 16-bit `.grad`
   * the step unscales from (default).
   */
  gradAccumDtype?: GradAccumDType;
  log(message: string): void;
}

/** Thrown by a bfloat16 step that met an inf or NaN gradient with `nonfinite: 'error'`. */
export class NonFiniteGradientError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NonFiniteGradientError';
  }
}

export class MixedPrecisionUpdater implements Updater {
  readonly name: string;
  readonly #init: MixedPrecisionUpdaterInit;

  constructor(init: MixedPrecisionUpdaterInit) {
    this.#init = init;
    this.name = `mixed precision (${init.dtype}) over ${init.inner.name}`;
  }

  /** What a bfloat16 step does with an inf/NaN gradient (ZeRO keeps the same policy when it takes over). */
  get nonfinite(): NonFiniteMode {
    return this.#init.nonfinite;
  }

  async step(): Promise<StepResult> {
    const { parts, masters, scaler, groups, dtype } = this.#init;
    const optimizer = parts.optimizer;
    if (!optimizer) throw new Error('engine.step: the engine has no optimizer; pass one to initialize() or add an "optimizer" section to the config');
    const step = scaler.curIter + 1;
    // NOTE: unscale with the scale the gradients were produced with, read before the scaler
    // updates. DeepSpeed divides by the scale after its update (issue #2686), which is off by the
    // scale factor on every step where the scale was just raised.
    const usedScale = scaler.scale;
    let firstBad: number;
    if (this.#init.gradAccumDtype === 'float32') {
      // Normally nothing is left to fold: gradient sync folded every micro-batch.
      masters.foldGrads();
      firstBad = masters.unscaleMasterGrads(1 / usedScale);
    } else {
      firstBad = masters.unscaleGrads(1 / usedScale);
    }
    const overflow = await overflowAcross(firstBad >= 0, groups);
    if (overflow) {
      if (dtype === 'bfloat16' && this.#init.nonfinite === 'error') await this.#throwNonFinite(step, firstBad);
      scaler.update(true);
      this.#logSkip(step, usedScale);
      masters.zeroGrad();
      return { applied: false, gradNorm: null };
    }

    let gradNorm: number | null = null;
    const clip = this.#init.gradientClipping;
    if (clip > 0) {
      const grads = masters.masterGrads();
      gradNorm = await parts.gradNorm(grads);
      // The same coefficient, rounded the same way, as the engine's fp32 clipping.
      const coef = Math.fround(clip / (gradNorm + 1e-6));
      if (coef < 1) noGrad(() => grads.forEach((g) => g.mul_(coef)));
    }
    optimizer.step();
    masters.copyToHalf();
    scaler.update(false);
    return { applied: true, gradNorm };
  }

  zeroGrad(): void {
    this.#init.masters.zeroGrad();
    this.#init.inner.zeroGrad();
  }

  #logSkip(step: number, before: number): void {
    const { scaler, log, dtype } = this.#init;
    if (dtype === 'bfloat16') {
      log(`[precision] step ${step}: non-finite (inf/NaN) gradient, skipping the step (bf16.nonfinite = "skip")`);
    } else if (!scaler.dynamic) {
      log(`[precision] step ${step}: gradient overflow (inf/NaN), skipping the step; static loss scale ${before}`);
    } else if (scaler.scale !== before) {
      log(`[precision] step ${step}: gradient overflow, skipping the step; attempted loss scale ${before}, reducing to ${scaler.scale}`);
    } else if (scaler instanceof DynamicLossScaler && scaler.scale !== scaler.minScale) {
      log(`[precision] step ${step}: gradient overflow, skipping the step; loss scale stays ${before} (hysteresis: ${scaler.curHysteresis} more overflow(s) before it drops)`);
    } else {
      log(`[precision] step ${step}: gradient overflow, skipping the step; loss scale stays at its minimum ${before}`);
    }
  }

  async #throwNonFinite(step: number, localFirstBad: number): Promise<never> {
    const { masters, groups } = this.#init;
    // Every rank names the same parameter: the lowest index any rank saw (-1 -> none here).
    const index = await firstAcross(localFirstBad, masters.pairs.length, groups);
    const pair = masters.pairs[index];
    const what = pair ? `'${pair.name}' (shape [${pair.half.shape.join(', ')}])` : `parameter #${index}`;
    const where = localFirstBad === index ? '' : ' on another rank';
    throw new NonFiniteGradientError(
      `bf16: non-finite (inf or NaN) gradient at step ${step}: the first parameter with one is ${what}${where}. ` +
        'bfloat16 has no loss scaling, so this is not an overflow to skip: check the inputs, the loss and the learning rate, ' +
        'or set bf16.nonfinite to "skip" (precision({ dtype: "bfloat16", nonfinite: "skip" })) to skip such steps',
    );
  }
}

async function firstAcross(local: number, count: number, groups: readonly ProcessGroup[]): Promise<number> {
  const t = tensor([local >= 0 ? local : count]);
  for (const g of groups) if (g.size > 1) await g.allReduce(t, 'min', { logName: 'nonfinite_param_allreduce' });
  return t.item();
}
