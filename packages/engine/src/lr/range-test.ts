// DeepSpeed's LRRangeTest: grow the lr from lr_range_test_min_lr without bound, to find the
// largest lr that still trains (Smith, "Cyclical Learning Rates for Training Neural Networks").
import { ScheduleBase } from './base.js';
import { boolean, iteration, number, parseOptions, perGroup, type Fields } from './options.js';
import type { OptimizerInput, SchedulerContext } from './types.js';

export interface LRRangeTestOptions {
  /** Default 0.001; a list gives one per param group. */
  lrRangeTestMinLr?: number | readonly number[];
  /** Steps per unit of increase; default 2000. */
  lrRangeTestStepSize?: number;
  /** Increase per step_size steps, as a multiple of the min lr; default 1. */
  lrRangeTestStepRate?: number;
  /** Default false: grow every step; true: grow in jumps every step_size steps. */
  lrRangeTestStaircase?: boolean;
  lastBatchIteration?: number;
}

interface RangeTestParsed {
  lrRangeTestMinLr: number[];
  lrRangeTestStepSize: number;
  lrRangeTestStepRate: number;
  lrRangeTestStaircase: boolean;
  lastBatchIteration: number;
}

export const LR_RANGE_TEST_FIELDS: Fields<RangeTestParsed> = {
  lrRangeTestMinLr: perGroup('lr_range_test_min_lr', 1e-3),
  lrRangeTestStepSize: number('lr_range_test_step_size', 2000, 0, { exclusive: true }),
  lrRangeTestStepRate: number('lr_range_test_step_rate', 1.0, 0),
  lrRangeTestStaircase: boolean('lr_range_test_staircase', false),
  lastBatchIteration: iteration('last_batch_iteration'),
};

/** lr = min_lr * (1 + step_rate * interval), interval = (k+1)/step_size (floored when staircase). */
export class LRRangeTest extends ScheduleBase {
  readonly minLrs: readonly number[];
  readonly stepSize: number;
  readonly stepRate: number;
  readonly staircase: boolean;

  constructor(optimizer: OptimizerInput, options: LRRangeTestOptions = {}, ctx: SchedulerContext = {}) {
    const groups = ScheduleBase.groupCount('LRRangeTest', optimizer);
    const o = parseOptions({ schedule: 'LRRangeTest', groups }, LR_RANGE_TEST_FIELDS, options, 'camel');
    super('LRRangeTest', optimizer, o.lastBatchIteration, ctx);
    this.minLrs = o.lrRangeTestMinLr;
    this.stepSize = o.lrRangeTestStepSize;
    this.stepRate = o.lrRangeTestStepRate;
    this.staircase = o.lrRangeTestStaircase;
    this.start();
  }

  getLr(): number[] {
    const interval = (this.lastBatchIteration + 1) / this.stepSize;
    const increase = 1 + this.stepRate * (this.staircase ? Math.floor(interval) : interval);
    return this.minLrs.map((lr) => lr * increase);
  }
}
