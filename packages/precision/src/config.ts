// The `fp16` and `bf16` sections of a DeepSpeed config, parsed into PrecisionConfig, and the
// strategy they describe. Keys and defaults are DeepSpeed's; unknown keys and wrong types fail
// with the key's full path.
import type { Strategy } from '@ds/strategy';
import { describeValue } from './invalid-argument.js';
import { checkKnownKeys } from './known-keys.js';
import type { NonFiniteMode } from './mixed-precision-updater.js';
import { precision, type PrecisionOptions } from './precision.js';
import type { GradAccumDType, HalfDType } from './kernels/types.js';

export interface PrecisionConfig {
  /** 'float16' when `fp16.enabled`, 'bfloat16' when `bf16.enabled` (or the legacy `bfloat16` section). */
  dtype: HalfDType;
  /** `fp16.auto_cast`: cast floating-point forward inputs to the half dtype. Default false. */
  autoCast: boolean;
  /** `fp16.loss_scale`: 0 (default) = dynamic scaling; > 0 = that static scale. */
  lossScale: number;
  /** `fp16.initial_scale_power`: the dynamic scale starts at 2^power. Default 16. */
  initialScalePower: number;
  /** `fp16.loss_scale_window`: clean steps between two raises of the dynamic scale. Default 1000. */
  lossScaleWindow: number;
  /** `fp16.hysteresis`: overflows tolerated before the scale drops; 1 = drop at once. Default 2. */
  hysteresis: number;
  /** `fp16.consecutive_hysteresis`: refill the hysteresis after every clean step. Default false. */
  consecutiveHysteresis: boolean;
  /** `fp16.min_loss_scale`: floor of the dynamic scale. Default 1. */
  minLossScale: number;
  /** `bf16.nonfinite` (a ds key): 'error' (default) stops on an inf/NaN gradient, 'skip' skips the step. */
  nonfinite: NonFiniteMode;
  /**
   * `data_types.grad_accum_dtype`; default 'float32' for bf16 without ZeRO, else the model dtype.
   * With ZeRO (`zero_optimization.stage` >= 1) always the model dtype here: ZeRO accumulates itself.
   */
  gradAccumDtype: GradAccumDType;
}

const FP16_KEYS = [
  'enabled', 'auto_cast', 'loss_scale', 'initial_scale_power', 'loss_scale_window', 'hysteresis', 'consecutive_hysteresis',
  'min_loss_scale', 'fp16_master_weights_and_grads',
];
const BF16_KEYS = ['enabled', 'immediate_grad_update', 'nonfinite'];

type Section = Readonly<Record<string, unknown>>;

/**
 * The precision settings of a resolved DeepSpeed config, or null when neither `fp16.enabled`
 * nor `bf16.enabled` is true. Keys of a section that is not enabled are still checked.
 */
export function parsePrecisionConfig(config: Readonly<Record<string, unknown>>): PrecisionConfig | null {
  if (config === null || typeof config !== 'object') throw new TypeError(`precision config: expected the config object, got ${describeValue(config)}`);
  const fp16 = section(config, 'fp16');
  // DeepSpeed reads the first of `bf16` and its legacy alias `bfloat16` that is present.
  const bfKey = config.bf16 !== undefined ? 'bf16' : 'bfloat16';
  const bf16 = section(config, bfKey);
  if (fp16) checkKnownKeys(fp16 as Record<string, unknown>, FP16_KEYS, 'config key', 'fp16.');
  if (bf16) checkKnownKeys(bf16 as Record<string, unknown>, BF16_KEYS, 'config key', `${bfKey}.`);
  const fpOn = fp16 ? bool(fp16, 'fp16', 'enabled', false) : false;
  const bfOn = bf16 ? bool(bf16, bfKey, 'enabled', false) : false;
  if (fpOn && bfOn) throw new RangeError(`fp16.enabled and ${bfKey}.enabled are both true; bfloat16 and float16 modes cannot be enabled together`);

  const base: PrecisionConfig = {
    dtype: 'float16', autoCast: false, lossScale: 0, initialScalePower: 16, lossScaleWindow: 1000, hysteresis: 2,
    consecutiveHysteresis: false, minLossScale: 1, nonfinite: 'error', gradAccumDtype: 'float16',
  };
  const accum = gradAccumFrom(config);
  if (bf16) {
    bool(bf16, bfKey, 'immediate_grad_update', false);
    const mode = bf16.nonfinite ?? 'error';
    if (mode !== 'error' && mode !== 'skip') throw new RangeError(`${bfKey}.nonfinite must be "error" or "skip", got ${describeValue(mode)}`);
    base.nonfinite = mode;
  }
  if (fp16) {
    const path = 'fp16';
    base.autoCast = bool(fp16, path, 'auto_cast', false);
    base.lossScale = num(fp16, path, 'loss_scale', 0, 'a number >= 0 (0 = dynamic)', (v) => Number.isFinite(v) && v >= 0);
    base.initialScalePower = num(fp16, path, 'initial_scale_power', 16, 'an integer in [-126, 127]', (v) => Number.isInteger(v) && v >= -126 && v <= 127);
    base.lossScaleWindow = num(fp16, path, 'loss_scale_window', 1000, 'an integer >= 1', (v) => Number.isSafeInteger(v) && v >= 1);
    base.hysteresis = num(fp16, path, 'hysteresis', 2, 'an integer >= 1', (v) => Number.isSafeInteger(v) && v >= 1);
    base.consecutiveHysteresis = bool(fp16, path, 'consecutive_hysteresis', false);
    base.minLossScale = num(fp16, path, 'min_loss_scale', 1, 'a number > 0', (v) => Number.isFinite(v) && v > 0);
    if (bool(fp16, path, 'fp16_master_weights_and_grads', false)) {
      throw new RangeError('fp16.fp16_master_weights_and_grads: true is not supported: @ds/precision keeps fp32 master weights and gradients; remove the key or set it to false');
    }
  }
  const zero = zeroStage(config) >= 1;
  if (fpOn) return { ...base, dtype: 'float16', gradAccumDtype: zero ? 'float16' : (accum ?? 'float16') };
  if (bfOn) return { ...base, dtype: 'bfloat16', gradAccumDtype: zero ? 'bfloat16' : (accum ?? 'float32') };
  return null;
}

const ACCUM_ALIASES: Record<string, GradAccumDType> = {
  fp32: 'float32', float32: 'float32', float: 'float32', 'torch.float32': 'float32', 'torch.float': 'float32',
  fp16: 'float16', float16: 'float16', half: 'float16', 'torch.float16': 'float16', 'torch.half': 'float16',
  bf16: 'bfloat16', bfloat16: 'bfloat16', bfloat: 'bfloat16', 'torch.bfloat16': 'bfloat16',
};

/** `data_types.grad_accum_dtype` in any DeepSpeed spelling, or null when unset. */
function gradAccumFrom(config: Readonly<Record<string, unknown>>): GradAccumDType | null {
  const dataTypes = config.data_types;
  if (dataTypes === undefined || dataTypes === null) return null;
  if (typeof dataTypes !== 'object' || Array.isArray(dataTypes)) {
    throw new TypeError(`data_types: expected an object such as { "grad_accum_dtype": "fp32" }, got ${describeValue(dataTypes)}`);
  }
  const v = (dataTypes as Section).grad_accum_dtype;
  if (v === undefined || v === null) return null;
  const d = typeof v === 'string' ? ACCUM_ALIASES[v.toLowerCase()] : undefined;
  if (!d) throw new RangeError(`data_types.grad_accum_dtype must be "fp32", "fp16" or "bf16" (or null), got ${describeValue(v)}`);
  return d;
}

function zeroStage(config: Readonly<Record<string, unknown>>): number {
  const z = config.zero_optimization as { stage?: unknown } | undefined | null;
  return z && typeof z === 'object' && typeof z.stage === 'number' ? z.stage : 0;
}

/** The options `precision()` takes for a parsed config. */
export function precisionOptionsFrom(c: PrecisionConfig): PrecisionOptions {
  if (c.dtype === 'bfloat16') return { dtype: 'bfloat16', nonfinite: c.nonfinite, gradAccumDtype: c.gradAccumDtype };
  return {
    dtype: 'float16',
    autoCast: c.autoCast,
    gradAccumDtype: c.gradAccumDtype,
    lossScaler: c.lossScale > 0
      ? c.lossScale
      : {
          initScale: 2 ** c.initialScalePower,
          scaleWindow: c.lossScaleWindow,
          hysteresis: c.hysteresis,
          consecutiveHysteresis: c.consecutiveHysteresis,
          minScale: c.minLossScale,
        },
  };
}

/**
 * The precision strategy a resolved DeepSpeed config asks for (its `fp16` / `bf16` sections),
 * or null when it asks for none (fp32 training).
 */
export function precisionFromConfig(config: Readonly<Record<string, unknown>>): Strategy | null {
  const parsed = parsePrecisionConfig(config);
  return parsed ? precision(precisionOptionsFrom(parsed)) : null;
}

function section(config: Readonly<Record<string, unknown>>, key: string): Section | null {
  const v = config[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${key}: expected an object such as { "enabled": true }, got ${describeValue(v)}`);
  return v as Section;
}

function bool(s: Section, path: string, key: string, dflt: boolean): boolean {
  const v = s[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'boolean') throw new TypeError(`${path}.${key} must be true or false, got ${describeValue(v)}`);
  return v;
}

function num(s: Section, path: string, key: string, dflt: number, valid: string, ok: (v: number) => boolean): number {
  const v = s[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number') throw new TypeError(`${path}.${key} must be ${valid}, got ${describeValue(v)}`);
  if (!ok(v)) throw new RangeError(`${path}.${key} must be ${valid}, got ${v}`);
  return v;
}
