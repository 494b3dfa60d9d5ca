// DeepSpeed's DynamicLossScaler (runtime/fp16/loss_scaler.py, the ZeRO path), step for step:
// halve the scale on overflow (after `hysteresis` overflows in a row), double it after
// `scaleWindow` clean steps, never go below `minScale`, and stop the run when the scale is
// already at its minimum and the gradients still overflow.
import type { StateValue } from '@ds/strategy';
import { describeValue } from './invalid-argument.js';
import { isCount, isPositiveFinite, stateNumber, stateRecord, type LossScaler } from './loss-scaler.js';
import { checkKnownKeys } from './known-keys.js';

export interface DynamicLossScalerOptions {
  /** Scale of the first step (DeepSpeed `2 ** fp16.initial_scale_power`). Default 2^16. */
  initScale?: number;
  /** Factor the scale is divided by on overflow and multiplied by after a clean window. Default 2. */
  scaleFactor?: number;
  /** Clean steps (since the last overflow) between two raises (`fp16.loss_scale_window`). Default 1000. */
  scaleWindow?: number;
  /** Floor of the scale (`fp16.min_loss_scale`). Default 1. */
  minScale?: number;
  /** Overflows tolerated before the scale drops (`fp16.hysteresis`, DeepSpeed's delayed_shift); 1 = drop at once. Default 2. */
  hysteresis?: number;
  /** Refill the hysteresis after every clean step rather than only when the scale rises (`fp16.consecutive_hysteresis`). Default false. */
  consecutiveHysteresis?: boolean;
  /** Throw when an overflow happens with the scale already at `minScale` (false: keep skipping at the floor). Default true. */
  raiseErrorAtMinScale?: boolean;
}

const OPTION_KEYS = ['initScale', 'scaleFactor', 'scaleWindow', 'minScale', 'hysteresis', 'consecutiveHysteresis', 'raiseErrorAtMinScale'];

/** Thrown when the gradients overflow while the loss scale is already at its minimum. */
export class LossScaleAtMinimumError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LossScaleAtMinimumError';
  }
}

export class DynamicLossScaler implements LossScaler {
  readonly dynamic = true;
  readonly scaleFactor: number;
  readonly scaleWindow: number;
  readonly minScale: number;
  /** DeepSpeed `delayed_shift`. */
  readonly hysteresis: number;
  readonly consecutiveHysteresis: boolean;
  readonly raiseErrorAtMinScale: boolean;
  #curScale: number;
  #curIter = 0;
  #lastOverflowIter = -1;
  #curHysteresis: number;

  constructor(opts: DynamicLossScalerOptions = {}) {
    const where = 'DynamicLossScaler';
    if (opts === null || typeof opts !== 'object') throw new TypeError(`${where}: options must be an object, got ${describeValue(opts)}`);
    checkKnownKeys(opts as Record<string, unknown>, OPTION_KEYS, `${where} option`);
    this.#curScale = positive(where, 'initScale', opts.initScale ?? 2 ** 16);
    this.scaleFactor = positive(where, 'scaleFactor', opts.scaleFactor ?? 2);
    if (!(this.scaleFactor > 1)) throw new RangeError(`${where}: 'scaleFactor' must be > 1, got ${this.scaleFactor}`);
    this.scaleWindow = positiveInteger(where, 'scaleWindow', opts.scaleWindow ?? 1000);
    this.minScale = positive(where, 'minScale', opts.minScale ?? 1);
    this.hysteresis = positiveInteger(where, 'hysteresis', opts.hysteresis ?? 2);
    this.consecutiveHysteresis = flag(where, 'consecutiveHysteresis', opts.consecutiveHysteresis ?? false);
    this.raiseErrorAtMinScale = flag(where, 'raiseErrorAtMinScale', opts.raiseErrorAtMinScale ?? true);
    this.#curHysteresis = this.hysteresis;
  }

  /** The scale the next backward multiplies the loss by (DeepSpeed `cur_scale`). */
  get scale(): number {
    return this.#curScale;
  }
  get curIter(): number {
    return this.#curIter;
  }
  /** The step of the last overflow, -1 before the first (DeepSpeed `last_overflow_iter`). */
  get lastOverflowIter(): number {
    return this.#lastOverflowIter;
  }
  /** Overflows left before the scale drops (DeepSpeed `cur_hysteresis`). */
  get curHysteresis(): number {
    return this.#curHysteresis;
  }

  update(overflow: boolean): void {
    if (overflow) {
      if (this.hysteresis === 1 || this.#curHysteresis === 1) {
        if (this.#curScale === this.minScale && this.raiseErrorAtMinScale) {
          throw new LossScaleAtMinimumError(
            'Current loss scale already at minimum - cannot decrease scale anymore. Exiting run. ' +
              `(the gradients overflowed at step ${this.#curIter + 1} with the loss scale already at min_loss_scale = ${this.minScale}; ` +
              'lower fp16.min_loss_scale, lower the learning rate, check the inputs for inf/NaN, or train in bf16)',
          );
        }
        this.#curScale = Math.max(this.#curScale / this.scaleFactor, this.minScale);
      } else {
        this.#curHysteresis -= 1;
      }
      this.#lastOverflowIter = this.#curIter;
    } else {
      if (this.consecutiveHysteresis) this.#curHysteresis = this.hysteresis;
      if ((this.#curIter - this.#lastOverflowIter) % this.scaleWindow === 0) {
        if (!this.consecutiveHysteresis) this.#curHysteresis = this.hysteresis;
        this.#curScale *= this.scaleFactor;
      }
    }
    this.#curIter += 1;
  }

  /** DeepSpeed's attribute names; the hyperparameters are saved for reference and not restored. */
  stateDict(): StateValue {
    return {
      dynamic: true,
      cur_scale: this.#curScale,
      cur_iter: this.#curIter,
      last_overflow_iter: this.#lastOverflowIter,
      cur_hysteresis: this.#curHysteresis,
      scale_factor: this.scaleFactor,
      scale_window: this.scaleWindow,
      min_scale: this.minScale,
      delayed_shift: this.hysteresis,
      consecutive_hysteresis: this.consecutiveHysteresis,
    };
  }

  /** Restores the scale and counters; the hyperparameters stay those this scaler was built with. */
  loadStateDict(state: StateValue): void {
    const where = 'DynamicLossScaler.loadStateDict';
    const rec = stateRecord(state, where);
    if (rec.dynamic === false) {
      throw new RangeError(`${where}: the checkpoint holds a static loss scale (fp16.loss_scale > 0) but this run uses dynamic loss scaling; set fp16.loss_scale to ${String(rec.cur_scale)} to resume it, or start the scaler afresh`);
    }
    const curScale = stateNumber(rec, 'cur_scale', where, 'a positive finite number', isPositiveFinite);
    const curIter = stateNumber(rec, 'cur_iter', where, 'an integer >= 0', isCount);
    const lastOverflowIter = stateNumber(rec, 'last_overflow_iter', where, `an integer in [-1, cur_iter)`, (v) => Number.isSafeInteger(v) && v >= -1 && v < curIter);
    const curHysteresis = stateNumber(rec, 'cur_hysteresis', where, 'an integer >= 1', (v) => Number.isSafeInteger(v) && v >= 1);
    this.#curScale = curScale;
    this.#curIter = curIter;
    this.#lastOverflowIter = lastOverflowIter;
    this.#curHysteresis = curHysteresis;
  }
}

function positive(where: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new RangeError(`${where}: '${key}' must be a positive finite number, got ${describeValue(v)}`);
  }
  return v;
}

function positiveInteger(where: string, key: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
    throw new RangeError(`${where}: '${key}' must be an integer >= 1, got ${describeValue(v)}`);
  }
  return v;
}

function flag(where: string, key: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${where}: '${key}' must be a boolean, got ${describeValue(v)}`);
  return v;
}
