// A fixed loss scale (DeepSpeed `fp16.loss_scale > 0`): overflowing steps are still detected
// and skipped, but the scale never moves.
import type { StateValue } from '@ds/strategy';
import { describeValue } from './invalid-argument.js';
import { isCount, stateNumber, stateRecord, type LossScaler } from './loss-scaler.js';

export class StaticLossScaler implements LossScaler {
  readonly dynamic = false;
  readonly #scale: number;
  #curIter = 0;

  constructor(scale: number) {
    if (typeof scale !== 'number' || !Number.isFinite(scale) || scale <= 0) {
      throw new RangeError(`StaticLossScaler: 'scale' must be a positive finite number (fp16.loss_scale), got ${describeValue(scale)}`);
    }
    this.#scale = scale;
  }

  get scale(): number {
    return this.#scale;
  }
  get curIter(): number {
    return this.#curIter;
  }

  update(_overflow: boolean): void {
    this.#curIter += 1;
  }

  stateDict(): StateValue {
    return { dynamic: false, cur_scale: this.#scale, cur_iter: this.#curIter };
  }

  /** Restores the step count; the scale is configuration and stays the one given to the constructor. */
  loadStateDict(state: StateValue): void {
    const where = 'StaticLossScaler.loadStateDict';
    const rec = stateRecord(state, where);
    if (rec.dynamic === true) {
      throw new RangeError(`${where}: the checkpoint holds a dynamic loss scaler but this run uses a static scale (fp16.loss_scale = ${this.#scale}); set fp16.loss_scale to 0 to resume dynamic scaling`);
    }
    this.#curIter = stateNumber(rec, 'cur_iter', where, 'an integer >= 0', isCount);
  }
}
