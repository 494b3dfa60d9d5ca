// The precision strategy: run the model in float16 or bfloat16 with fp32 master weights, and
// (float16) a loss scale that keeps small gradients from flushing to zero.
import { isFloating, Tensor } from '@ds/core';
import type { EngineParts, Strategy, StrategyContext } from '@ds/strategy';
import { castModule, castTensorInPlace } from './cast-module.js';
import { DynamicLossScaler, type DynamicLossScalerOptions } from './dynamic-loss-scaler.js';
import { describeValue } from './invalid-argument.js';
import { checkKnownKeys } from './known-keys.js';
import type { LossScaler } from './loss-scaler.js';
import { MasterWeights } from './master-weights.js';
import { Fp32GradAccumulation } from './fp32-grad-accumulation.js';
import { MixedPrecisionUpdater, type NonFiniteMode } from './mixed-precision-updater.js';
import { StaticLossScaler } from './static-loss-scaler.js';
import type { GradAccumDType, HalfDType } from './kernels/types.js';

export interface PrecisionOptions {
  /** The dtype the model's parameters and computation use. */
  dtype: HalfDType;
  /**
   * float16 only. A scaler, a static scale (a number > 0, DeepSpeed `fp16.loss_scale`), or the
   * options of a DynamicLossScaler. Default: dynamic, init 2^16, window 1000, hysteresis 2, min 1.
   * bfloat16 never scales the loss.
   */
  lossScaler?: LossScaler | number | DynamicLossScalerOptions;
  /** bfloat16 only: an inf/NaN gradient is an 'error' (default) or skips the step ('skip'). */
  nonfinite?: NonFiniteMode;
  /** Cast floating-point tensor arguments of the model's forward to `dtype` (DeepSpeed `fp16.auto_cast`). Default false. */
  autoCast?: boolean;
  /**
   * The dtype gradients accumulate in across micro-batches (DeepSpeed `data_types.grad_accum_dtype`):
   * 'float32' adds every micro-batch's 16-bit gradient into the fp32 master's gradient right after
   * backward; `dtype` sums them in the parameters' 16-bit `.grad`. Default: 'float32' for
   * bfloat16, 'float16' for float16.
   */
  gradAccumDtype?: GradAccumDType;
}

/** What applyPrecision set up (the parts it replaced are in `parts`). */
export interface AppliedPrecision {
  scaler: LossScaler;
  /** The fp32 masters, null when the engine has no optimizer. */
  masters: MasterWeights | null;
  /** The updater now in `parts.updater`, null when the engine has no optimizer. */
  updater: MixedPrecisionUpdater | null;
}

const OPTION_KEYS = ['dtype', 'lossScaler', 'nonfinite', 'autoCast', 'gradAccumDtype'];

/**
 * Mixed precision as a strategy: `precision({ dtype: 'float16' })` (dynamic loss scaling),
 * `precision({ dtype: 'float16', lossScaler: 128 })` (static), `precision({ dtype: 'bfloat16' })`.
 */
export function precision(options: PrecisionOptions): Strategy {
  checkOptions(options);
  return {
    name: `precision (${options.dtype})`,
    apply(parts: EngineParts, ctx: StrategyContext): void {
      applyPrecision(parts, ctx, options);
    },
  };
}

/**
 * Cast the model to `options.dtype` in place, put fp32 masters in the optimizer's groups, set
 * the loss scale, wrap the updater, and register the scaler and the masters for checkpoints
 * (`loss_scaler`, `fp32_master_weights`).
 */
export function applyPrecision(parts: EngineParts, ctx: StrategyContext, options: PrecisionOptions): AppliedPrecision {
  checkOptions(options);
  const { dtype } = options;
  if (parts.updater instanceof MixedPrecisionUpdater) {
    throw new Error(`precision: mixed precision is already applied (${parts.updater.name}); enable only one of fp16 and bf16`);
  }
  const names = castModule(parts.model, dtype);
  const optimizer = parts.optimizer;
  if (optimizer) {
    for (const g of optimizer.paramGroups) for (const p of g.params) if (isFloating(p.dtype)) castTensorInPlace(p, dtype);
  }
  const scaler = makeScaler(options);
  parts.lossScale = scaler;
  parts.state.set('loss_scaler', scaler);
  if (options.autoCast) {
    parts.model.registerForwardPreHook((_m, args) => args.map((a) => (a instanceof Tensor && a.dtype === 'float32' ? a.to(dtype) : a)));
  }
  if (!optimizer) {
    ctx.warn(`precision: the model runs in ${dtype}, but there is no optimizer, so no fp32 master weights were made`);
    return { scaler, masters: null, updater: null };
  }
  const masters = MasterWeights.swapIntoOptimizer(optimizer, dtype, names);
  parts.state.set('fp32_master_weights', masters);
  const gradAccumDtype = gradAccumDtypeOf(options);
  // No checkpoint holds the fp32 sums: the engine saves at accumulation boundaries, after the
  // step cleared them, just as it never saved the 16-bit gradients they replace.
  if (gradAccumDtype === 'float32') parts.gradSync = new Fp32GradAccumulation(parts.gradSync, masters);
  const updater = new MixedPrecisionUpdater({
    dtype,
    parts,
    inner: parts.updater,
    masters,
    scaler,
    groups: [ctx.world],
    gradientClipping: ctx.gradientClipping,
    nonfinite: options.nonfinite ?? 'error',
    gradAccumDtype,
    log: (m) => ctx.log(m),
  });
  parts.updater = updater;
  ctx.log(
    `[precision] ${dtype}: ${masters.pairs.length} parameters with fp32 master weights; loss scale: ${describeScaler(scaler)}; ` +
      `gradients accumulate in ${gradAccumDtype}`,
  );
  return { scaler, masters, updater };
}

function gradAccumDtypeOf(options: PrecisionOptions): GradAccumDType {
  return options.gradAccumDtype ?? (options.dtype === 'bfloat16' ? 'float32' : options.dtype);
}

function makeScaler(options: PrecisionOptions): LossScaler {
  if (options.dtype === 'bfloat16') return new StaticLossScaler(1);
  const s = options.lossScaler;
  if (s === undefined) return new DynamicLossScaler();
  if (typeof s === 'number') return new StaticLossScaler(s);
  if (isScaler(s)) return s;
  return new DynamicLossScaler(s);
}

function isScaler(s: LossScaler | DynamicLossScalerOptions): s is LossScaler {
  return typeof (s as LossScaler).update === 'function' && typeof (s as LossScaler).stateDict === 'function';
}

function describeScaler(s: LossScaler): string {
  if (s instanceof DynamicLossScaler) {
    return `dynamic (initial ${s.scale}, window ${s.scaleWindow}, hysteresis ${s.hysteresis}, min ${s.minScale})`;
  }
  return s.dynamic ? `dynamic (initial ${s.scale})` : `static ${s.scale}`;
}

function checkOptions(options: PrecisionOptions): void {
  const where = 'precision';
  if (options === null || typeof options !== 'object') {
    throw new TypeError(`${where}: options must be an object such as { dtype: 'float16' }, got ${describeValue(options)}`);
  }
  checkKnownKeys(options as unknown as Record<string, unknown>, OPTION_KEYS, 'precision() option');
  const { dtype, lossScaler, nonfinite, autoCast, gradAccumDtype } = options;
  if (dtype !== 'float16' && dtype !== 'bfloat16') {
    throw new RangeError(`${where}: 'dtype' must be 'float16' or 'bfloat16', got ${describeValue(dtype)}`);
  }
  if (dtype === 'bfloat16' && lossScaler !== undefined) {
    throw new RangeError(`${where}: 'lossScaler' applies to float16 only; bfloat16 has float32's range and is never loss-scaled`);
  }
  if (lossScaler !== undefined && typeof lossScaler !== 'number' && (lossScaler === null || typeof lossScaler !== 'object')) {
    throw new TypeError(`${where}: 'lossScaler' must be a LossScaler, a static scale (number > 0) or DynamicLossScaler options, got ${describeValue(lossScaler)}`);
  }
  if (nonfinite !== undefined) {
    if (dtype !== 'bfloat16') {
      throw new RangeError(`${where}: 'nonfinite' applies to bfloat16 only; float16 always skips a step whose gradients overflow and lowers the loss scale`);
    }
    if (nonfinite !== 'error' && nonfinite !== 'skip') {
      throw new RangeError(`${where}: 'nonfinite' must be 'error' or 'skip', got ${describeValue(nonfinite)}`);
    }
  }
  if (gradAccumDtype !== undefined && gradAccumDtype !== 'float32' && gradAccumDtype !== dtype) {
    throw new RangeError(`${where}: 'gradAccumDtype' must be 'float32' or the model dtype '${dtype}', got ${describeValue(gradAccumDtype)}`);
  }
  if (autoCast !== undefined && typeof autoCast !== 'boolean') {
    throw new TypeError(`${where}: 'autoCast' must be a boolean, got ${describeValue(autoCast)}`);
  }
}
