// DeepSpeed's WarmupLR and WarmupDecayLR: lr = min + (max - min) * gamma(k), with gamma
// rising from 0 to 1 over the warm-up (log or linear) and then staying at 1 (WarmupLR) or
// falling linearly back to 0 at total_num_steps (WarmupDecayLR).
import { ScheduleBase } from './base.js';
import { iteration, number, parseOptions, perGroup, warmupType, type Fields, type WarmupType } from './options.js';
import type { OptimizerInput, SchedulerContext } from './types.js';

export interface WarmupLROptions {
  /** Default 0. A list gives one value per param group. */
  warmupMinLr?: number | readonly number[];
  /** Default 0.001. */
  warmupMaxLr?: number | readonly number[];
  /** Default 1000; values below 2 count as 2. */
  warmupNumSteps?: number;
  /** Default 'log': gamma = ln(k+1)/ln(W); 'linear': k/W. */
  warmupType?: WarmupType;
  /** Default -1 (fresh); otherwise the iteration to resume from, and nothing is written at construction. */
  lastBatchIteration?: number;
}

export interface WarmupDecayLROptions extends WarmupLROptions {
  /** The step at which the lr is back at warmup_min_lr. */
  totalNumSteps: number;
}

interface WarmupParsed {
  warmupMinLr: number[];
  warmupMaxLr: number[];
  warmupNumSteps: number;
  warmupType: WarmupType;
  lastBatchIteration: number;
}

interface WarmupDecayParsed extends WarmupParsed {
  totalNumSteps: number;
}

export const WARMUP_LR_FIELDS: Fields<WarmupParsed> = {
  warmupMinLr: perGroup('warmup_min_lr', 0),
  warmupMaxLr: perGroup('warmup_max_lr', 0.001),
  warmupNumSteps: number('warmup_num_steps', 1000, 0),
  warmupType: warmupType('warmup_type'),
  lastBatchIteration: iteration('last_batch_iteration'),
};

export const WARMUP_DECAY_LR_FIELDS: Fields<WarmupDecayParsed> = {
  totalNumSteps: number('total_num_steps', undefined, 0, { about: 'the step at which the lr has decayed back to warmup_min_lr' }),
  ...WARMUP_LR_FIELDS,
};

abstract class WarmupSchedule extends ScheduleBase {
  readonly minLrs: readonly number[];
  readonly deltaLrs: readonly number[];
  /** `max(2, warmup_num_steps)`: ln(1) = 0 would make the log warm-up divide by zero. */
  readonly warmupNumSteps: number;
  readonly warmupType: WarmupType;
  readonly #inverseLogWarmUp: number;

  protected constructor(name: string, optimizer: OptimizerInput, o: WarmupParsed, ctx: SchedulerContext) {
    super(name, optimizer, o.lastBatchIteration, ctx);
    this.minLrs = o.warmupMinLr;
    this.deltaLrs = o.warmupMaxLr.map((max, i) => max - o.warmupMinLr[i]!);
    this.warmupNumSteps = Math.max(2, o.warmupNumSteps);
    this.warmupType = o.warmupType;
    this.#inverseLogWarmUp = 1.0 / Math.log(this.warmupNumSteps);
  }

  /** The warm-up fraction for k < W (same operation order as DeepSpeed, for bit-equal lrs). */
  protected warmupGamma(): number {
    const k = this.lastBatchIteration;
    return this.warmupType === 'log' ? this.#inverseLogWarmUp * Math.log(k + 1) : k / this.warmupNumSteps;
  }

  protected abstract gamma(): number;

  getLr(): number[] {
    // Before the first step DeepSpeed returns the minimum (and logs a warning each time).
    if (this.lastBatchIteration < 0) return [...this.minLrs];
    const gamma = this.gamma();
    return this.minLrs.map((min, i) => min + this.deltaLrs[i]! * gamma);
  }
}

/** Warm up from warmup_min_lr to warmup_max_lr over warmup_num_steps, then hold. */
export class WarmupLR extends WarmupSchedule {
  constructor(optimizer: OptimizerInput, options: WarmupLROptions = {}, ctx: SchedulerContext = {}) {
    const groups = ScheduleBase.groupCount('WarmupLR', optimizer);
    super('WarmupLR', optimizer, parseOptions({ schedule: 'WarmupLR', groups }, WARMUP_LR_FIELDS, options, 'camel'), ctx);
    this.start();
  }

  protected gamma(): number {
    return this.lastBatchIteration < this.warmupNumSteps ? this.warmupGamma() : 1.0;
  }
}

/** WarmupLR, then a linear decay that reaches warmup_min_lr (not 0) at total_num_steps and stays there. */
export class WarmupDecayLR extends WarmupSchedule {
  readonly totalNumSteps: number;

  constructor(optimizer: OptimizerInput, options: WarmupDecayLROptions, ctx: SchedulerContext = {}) {
    const groups = ScheduleBase.groupCount('WarmupDecayLR', optimizer);
    const o = parseOptions({ schedule: 'WarmupDecayLR', groups }, WARMUP_DECAY_LR_FIELDS, options, 'camel');
    super('WarmupDecayLR', optimizer, o, ctx);
    this.totalNumSteps = o.totalNumSteps;
    if (this.totalNumSteps < this.warmupNumSteps) {
      this.warn(`WarmupDecayLR: total_num_steps ${this.totalNumSteps} is less than warmup_num_steps ${this.warmupNumSteps}; the lr drops from its peak straight to warmup_min_lr`);
    }
    this.start();
  }

  protected gamma(): number {
    const k = this.lastBatchIteration;
    if (k < this.warmupNumSteps) return this.warmupGamma();
    return Math.max(0.0, (this.totalNumSteps - k) / Math.max(1.0, this.totalNumSteps - this.warmupNumSteps));
  }
}
