// What every loss scaler offers the mixed-precision updater, and the checks their state dicts share.
import type { Checkpointable, LossScale, StateValue } from '@ds/strategy';
import { describeValue } from './invalid-argument.js';

/**
 * A loss scale that learns from each optimizer step's outcome. The engine multiplies the loss
 * by `scale` before backward; the updater divides the gradients by the same value, then calls
 * `update(overflow)` once per optimizer step (skipped steps included).
 */
export interface LossScaler extends LossScale, Checkpointable {
  /** True when the scale changes with overflows (DeepSpeed `dynamic_loss_scale`). */
  readonly dynamic: boolean;
  /** Optimizer steps recorded so far (DeepSpeed `cur_iter`). */
  readonly curIter: number;
  /** Record one step: `overflow` true when some gradient was inf or NaN (the step was skipped). */
  update(overflow: boolean): void;
}

/** The record a scaler's state dict must be, or a TypeError naming what it got. */
export function stateRecord(state: StateValue, where: string): { [key: string]: StateValue } {
  if (state === null || typeof state !== 'object' || Array.isArray(state) || !isPlainRecord(state)) {
    throw new TypeError(`${where}: expected a record of loss-scaler state (cur_scale, cur_iter, ...), got ${describeValue(state)}`);
  }
  return state;
}

function isPlainRecord(v: object): v is { [key: string]: StateValue } {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A number field of a state record that satisfies `ok`, or an error naming the key and what is valid. */
export function stateNumber(rec: { [key: string]: StateValue }, key: string, where: string, valid: string, ok: (v: number) => boolean): number {
  const v = rec[key];
  if (typeof v !== 'number') throw new TypeError(`${where}: '${key}' must be a number (${valid}), got ${describeValue(v)}`);
  if (!ok(v)) throw new RangeError(`${where}: '${key}' must be ${valid}, got ${v}`);
  return v;
}

export const isPositiveFinite = (v: number): boolean => Number.isFinite(v) && v > 0;
export const isCount = (v: number): boolean => Number.isSafeInteger(v) && v >= 0;
