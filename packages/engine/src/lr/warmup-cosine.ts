// DeepSpeed's WarmupCosineLR: a ratio of each group's lr at construction (there is no max-lr
// param). The ratio warms up from warmup_min_ratio to 1, then follows a half cosine from 1
// down to cos_min_ratio at total_num_steps.
import { ScheduleBase, readLr } from './base.js';
import { iteration, number, parseOptions, warmupType, type Fields, type WarmupType } from './options.js';
import type { OptimizerInput, SchedulerContext } from './types.js';

export interface WarmupCosineLROptions {
  /** The step at which the ratio reaches cos_min_ratio. */
  totalNumSteps: number;
  /** Ratio at the start of the warm-up; default 0. */
  warmupMinRatio?: number;
  /** Default 1000; values below 2 count as 2. */
  warmupNumSteps?: number;
  /** Ratio at total_num_steps; default 0.0001. */
  cosMinRatio?: number;
  warmupType?: WarmupType;
  lastBatchIteration?: number;
}

interface WarmupCosineParsed {
  totalNumSteps: number;
  warmupMinRatio: number;
  warmupNumSteps: number;
  cosMinRatio: number;
  warmupType: WarmupType;
  lastBatchIteration: number;
}

export const WARMUP_COSINE_LR_FIELDS: Fields<WarmupCosineParsed> = {
  totalNumSteps: number('total_num_steps', undefined, 0, { about: 'the step at which the lr reaches cos_min_ratio of its peak' }),
  warmupMinRatio: number('warmup_min_ratio', 0.0, 0),
  warmupNumSteps: number('warmup_num_steps', 1000, 0),
  cosMinRatio: number('cos_min_ratio', 0.0001, 0),
  warmupType: warmupType('warmup_type'),
  lastBatchIteration: iteration('last_batch_iteration'),
};

export class WarmupCosineLR extends ScheduleBase {
  readonly totalNumSteps: number;
  readonly warmupMinRatio: number;
  /** `max(2, warmup_num_steps)`, as in WarmupLR. */
  readonly warmupNumSteps: number;
  readonly cosMinRatio: number;
  readonly warmupType: WarmupType;
  /** Each group's lr when the schedule was built: the peak the ratio multiplies. */
  readonly orgLrs: readonly number[];
  readonly #inverseLogWarmUp: number;

  constructor(optimizer: OptimizerInput, options: WarmupCosineLROptions, ctx: SchedulerContext = {}) {
    const groups = ScheduleBase.groupCount('WarmupCosineLR', optimizer);
    const o = parseOptions({ schedule: 'WarmupCosineLR', groups }, WARMUP_COSINE_LR_FIELDS, options, 'camel');
    super('WarmupCosineLR', optimizer, o.lastBatchIteration, ctx);
    this.totalNumSteps = o.totalNumSteps;
    this.warmupMinRatio = o.warmupMinRatio;
    this.warmupNumSteps = Math.max(2, o.warmupNumSteps);
    this.cosMinRatio = o.cosMinRatio;
    this.warmupType = o.warmupType;
    this.#inverseLogWarmUp = 1.0 / Math.log(this.warmupNumSteps);
    // The cosine divides by T - W; DeepSpeed raises ZeroDivisionError at step W instead.
    if (this.totalNumSteps === this.warmupNumSteps) {
      throw new RangeError(`WarmupCosineLR: total_num_steps (${this.totalNumSteps}) must differ from warmup_num_steps (${this.warmupNumSteps}, at least 2): the cosine phase would have no length`);
    }
    if (this.totalNumSteps < this.warmupNumSteps) {
      this.warn(`WarmupCosineLR: total_num_steps ${this.totalNumSteps} is less than warmup_num_steps ${this.warmupNumSteps}; the cosine phase runs backwards`);
    }
    this.orgLrs = this.optimizer.paramGroups.map((_, i) => readLr('WarmupCosineLR', this.optimizer, i));
    this.start();
  }

  /**
   * The multiplier at the current k (k >= 0). Quirk kept from DeepSpeed (the golden data
   * holds it): past total_num_steps the cosine is not clamped, so the ratio climbs again.
   */
  getLrRatio(): number {
    const k = this.lastBatchIteration;
    if (k < this.warmupNumSteps) {
      const r = this.warmupType === 'log' ? this.#inverseLogWarmUp * Math.log(k + 1) : k / this.warmupNumSteps;
      return this.warmupMinRatio + r * (1.0 - this.warmupMinRatio);
    }
    const realLastStep = k - this.warmupNumSteps + 1;
    const realTotalSteps = this.totalNumSteps - this.warmupNumSteps;
    const cos = (1 + Math.cos((Math.PI * realLastStep) / realTotalSteps)) / 2;
    return Math.max(0.0, this.cosMinRatio + (1.0 - this.cosMinRatio) * cos);
  }

  /**
   * Before the first step the lr is 0 for every group. DeepSpeed returns the one-element
   * list [0.0] there, so only the first group gets 0 and the others keep their peak lr
   * until the first step; ds zeroes them all.
   */
  getLr(): number[] {
    if (this.lastBatchIteration < 0) return this.orgLrs.map(() => 0.0);
    const ratio = this.getLrRatio();
    return this.orgLrs.map((lr) => lr * ratio);
  }
}
