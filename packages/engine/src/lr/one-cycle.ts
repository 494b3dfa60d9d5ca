// DeepSpeed's OneCycle (Smith's 1cycle policy): one triangular lr cycle min -> max -> min
// over cycle_first_step_size + cycle_second_step_size steps, with momentum cycling the
// opposite way, then an optional inverse-time decay of the lr (and growth of the momentum).
import { ScheduleBase } from './base.js';
import { boolean, iteration, number, optionalNumber, parseOptions, perGroup, type Field, type Fields } from './options.js';
import { show } from './suggest.js';
import type { OptimizerInput, SchedulableOptimizer, SchedulerContext } from './types.js';

export interface OneCycleOptions {
  cycleMinLr: number | readonly number[];
  cycleMaxLr: number | readonly number[];
  /** lr decay after the cycle: lr = min / (1 + rate * d / decay_step_size); default 0 (hold min). */
  decayLrRate?: number;
  /** Steps from min to max lr; default 2000. */
  cycleFirstStepSize?: number;
  /** Steps from max back to min; default (null) = cycle_first_step_size. */
  cycleSecondStepSize?: number | null;
  /** Accepted for DeepSpeed compatibility; has no effect (see OneCycle). */
  cycleFirstStairCount?: number | null;
  /** Accepted for DeepSpeed compatibility; has no effect. */
  cycleSecondStairCount?: number | null;
  /** Default 0: no decay phase (lr stays at cycle_min_lr, momentum at cycle_max_mom). */
  decayStepSize?: number;
  /** Default true. Needs `betas` (Adam-style) or a non-zero `momentum` (SGD-style) in the optimizer. */
  cycleMomentum?: boolean;
  /** Default 0.8. */
  cycleMinMom?: number | readonly number[];
  /** Default 0.9. */
  cycleMaxMom?: number | readonly number[];
  /** Momentum growth after the cycle: mom = max * (1 + rate * d / decay_step_size); default 0. */
  decayMomRate?: number;
  lastBatchIteration?: number;
}

interface OneCycleParsed {
  cycleMinLr: number[];
  cycleMaxLr: number[];
  decayLrRate: number;
  cycleFirstStepSize: number;
  cycleSecondStepSize: number | null;
  cycleFirstStairCount: number | null;
  cycleSecondStairCount: number | null;
  decayStepSize: number;
  cycleMomentum: boolean;
  cycleMinMom: number[];
  cycleMaxMom: number[];
  decayMomRate: number;
  lastBatchIteration: number;
}

function stairCount(snake: string, dflt: number | null): Field<number | null> {
  return {
    snake,
    default: dflt,
    read(v, key, ctx) {
      // DeepSpeed's CLI default is -1, so any finite number is accepted.
      if (v === null || (typeof v === 'number' && Number.isFinite(v))) return v;
      throw new RangeError(`${ctx.schedule}: ${key} must be a number or null, got ${show(v)}`);
    },
  };
}

export const ONE_CYCLE_FIELDS: Fields<OneCycleParsed> = {
  cycleMinLr: perGroup('cycle_min_lr', undefined, 'the lr at the start and end of the cycle'),
  cycleMaxLr: perGroup('cycle_max_lr', undefined, 'the lr at the peak of the cycle'),
  decayLrRate: number('decay_lr_rate', 0, 0),
  cycleFirstStepSize: number('cycle_first_step_size', 2000, 0, { exclusive: true }),
  cycleSecondStepSize: optionalNumber('cycle_second_step_size', 0, true),
  cycleFirstStairCount: stairCount('cycle_first_stair_count', 0),
  cycleSecondStairCount: stairCount('cycle_second_stair_count', null),
  decayStepSize: number('decay_step_size', 0, 0),
  cycleMomentum: boolean('cycle_momentum', true),
  cycleMinMom: perGroup('cycle_min_mom', 0.8),
  cycleMaxMom: perGroup('cycle_max_mom', 0.9),
  decayMomRate: number('decay_mom_rate', 0, 0),
  lastBatchIteration: iteration('last_batch_iteration'),
};

/** DeepSpeed forces beta2 to this value whenever OneCycle writes betas. */
const BETA2 = 0.99;

type MomentumKey = 'betas' | 'momentum';

/**
 * DeepSpeed cycles `betas` and disables cycling (with a warning) when the optimizer has
 * none. ds also cycles SGD-style `momentum`, but only where it is already on: writing it
 * into an SGD without momentum would silently switch momentum on.
 */
function momentumKey(opt: SchedulableOptimizer): MomentumKey | null {
  const defaults = opt.defaults !== undefined && opt.defaults !== null && typeof opt.defaults === 'object' ? (opt.defaults as Record<string, unknown>) : null;
  if ((defaults !== null && 'betas' in defaults) || opt.paramGroups.some((g) => 'betas' in g)) return 'betas';
  if (opt.paramGroups.some((g) => typeof g.momentum === 'number' && g.momentum > 0)) return 'momentum';
  return null;
}

/**
 * lr (and momentum) per step k, with b = k + 1 and T = first + second step size:
 * during the cycle (k < T) x = the position in the cycle, scale = x/ratio rising, then
 * (x-1)/(ratio-1) falling; lr = min + (max-min)*scale, mom = max_mom - (max_mom-min_mom)*scale.
 * Afterwards d = k - T + 1 and lr = min / (1 + decay_lr_rate * d / decay_step_size).
 *
 * Stair counts are accepted but ignored, as in DeepSpeed: the lr moves linearly within each
 * phase. A non-zero count gets a warning.
 */
export class OneCycle extends ScheduleBase {
  readonly minLrs: readonly number[];
  readonly maxLrs: readonly number[];
  readonly decayLrRate: number;
  readonly totalSize: number;
  readonly stepRatio: number;
  readonly decayStepSize: number;
  readonly decayMomRate: number;
  /** `[min_mom, 0.99]` per group. */
  readonly minMoms: readonly [number, number][];
  readonly maxMoms: readonly [number, number][];
  /** Which group key momentum cycling writes; null when it is off. */
  readonly momentumKey: MomentumKey | null;
  readonly #skipLrDecay: boolean;
  readonly #skipMomDecay: boolean;

  constructor(optimizer: OptimizerInput, options: OneCycleOptions, ctx: SchedulerContext = {}) {
    const groups = ScheduleBase.groupCount('OneCycle', optimizer);
    const o = parseOptions({ schedule: 'OneCycle', groups }, ONE_CYCLE_FIELDS, options, 'camel');
    super('OneCycle', optimizer, o.lastBatchIteration, ctx);
    const first = o.cycleFirstStepSize;
    const second = o.cycleSecondStepSize ?? first;
    this.totalSize = first + second;
    this.stepRatio = first / this.totalSize;
    if ((o.cycleFirstStairCount ?? 0) !== 0 || (o.cycleSecondStairCount ?? 0) !== 0) {
      this.warn('OneCycle: cycle_first_stair_count/cycle_second_stair_count have no effect (as in DeepSpeed): the lr changes linearly within each phase');
    }
    this.minLrs = o.cycleMinLr;
    this.maxLrs = o.cycleMaxLr;
    this.decayLrRate = o.decayLrRate;
    this.decayStepSize = o.decayStepSize;
    this.decayMomRate = o.decayMomRate;
    this.#skipLrDecay = o.decayStepSize === 0 || o.decayLrRate === 0;
    this.#skipMomDecay = o.decayStepSize === 0 || o.decayMomRate === 0;
    this.minMoms = o.cycleMinMom.map((m) => [m, BETA2]);
    this.maxMoms = o.cycleMaxMom.map((m) => [m, BETA2]);
    let key: MomentumKey | null = null;
    if (o.cycleMomentum) {
      key = momentumKey(this.optimizer);
      if (key === null) {
        this.warn('OneCycle: cycle_momentum is disabled because the optimizer has neither betas nor a non-zero momentum');
      }
    }
    this.momentumKey = key;
    this.start();
  }

  /**
   * Quirk kept from DeepSpeed (the golden data holds it): construction writes cycle_min_mom,
   * while the cycle (and getMom() at k = -1) starts at cycle_max_mom, so the first training
   * step runs with the low momentum and the second jumps to almost the high one.
   */
  protected override start(): void {
    if (this.lastBatchIteration !== -1) return;
    this.writeLr(this.minLrs);
    this.#writeMom(this.minMoms);
  }

  protected override apply(): void {
    this.writeLr(this.getLr());
    const mom = this.getMom();
    if (mom !== null) this.#writeMom(mom);
  }

  #writeMom(moms: readonly (readonly [number, number])[]): void {
    if (this.momentumKey === null) return;
    const groups = this.optimizer.paramGroups;
    const n = Math.min(groups.length, moms.length);
    for (let i = 0; i < n; i++) {
      const [m, beta2] = moms[i]!;
      if (this.momentumKey === 'betas') groups[i]!.betas = [m, beta2];
      else groups[i]!.momentum = m;
    }
  }

  #scaleFactor(): number {
    const b = this.lastBatchIteration + 1;
    const cycle = Math.floor(1 + b / this.totalSize);
    const x = 1.0 + b / this.totalSize - cycle;
    return x <= this.stepRatio ? x / this.stepRatio : (x - 1) / (this.stepRatio - 1);
  }

  getLr(): number[] {
    const k = this.lastBatchIteration;
    if (k < this.totalSize) {
      const sf = this.#scaleFactor();
      return this.minLrs.map((min, i) => min + (this.maxLrs[i]! - min) * sf);
    }
    if (this.#skipLrDecay) return [...this.minLrs];
    const factor = 1 + this.decayLrRate * ((k - this.totalSize + 1) / this.decayStepSize);
    return this.minLrs.map((min) => min / factor);
  }

  /** `[beta1, 0.99]` per group for the current k (the first entry is `momentum` for SGD-style optimizers); null when not cycling. */
  getMom(): [number, number][] | null {
    if (this.momentumKey === null) return null;
    const k = this.lastBatchIteration;
    if (k < this.totalSize) {
      const sf = this.#scaleFactor();
      return this.minMoms.map(([min, beta2], i) => {
        const max = this.maxMoms[i]![0];
        return [max - (max - min) * sf, beta2];
      });
    }
    if (this.#skipMomDecay) return this.maxMoms.map(([m, b]) => [m, b]);
    const factor = 1 + this.decayMomRate * ((k - this.totalSize + 1) / this.decayStepSize);
    return this.maxMoms.map(([m, b]) => [m * factor, b]);
  }
}
