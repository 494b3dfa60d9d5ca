// Bad schedule input is rejected with the key, what was wrong and what would be valid.
import { optim, zeros } from '@ds/core';
import { describe, expect, it } from 'vitest';
import { createScheduler, LRRangeTest, schedulerParamNames, WarmupCosineLR, WarmupDecayLR, WarmupLR } from '../src/lr/index.js';

const opt = () => new optim.SGD([zeros([2], { requiresGrad: true })], { lr: 0.1 });

describe('createScheduler: names', () => {
  it('suggests the right spelling of a schedule type (DeepSpeed names are case-sensitive)', () => {
    expect(() => createScheduler('WarmupLr', opt())).toThrow(/unknown schedule 'WarmupLr' \(did you mean 'WarmupLR'\?\)/);
    expect(() => createScheduler('warmup_cosine_lr', opt())).toThrow(/did you mean 'WarmupCosineLR'/);
  });

  it('lists the valid types for a torch scheduler name and points at client schedulers', () => {
    expect(() => createScheduler('CosineAnnealingLR', opt())).toThrow(
      /unknown schedule 'CosineAnnealingLR'; valid names are 'LRRangeTest', 'OneCycle', 'WarmupLR', 'WarmupDecayLR', 'WarmupCosineLR'\. .*fromLambda/,
    );
  });

  it('rejects unknown params with the closest DeepSpeed name, including camelCase spellings', () => {
    expect(() => createScheduler('WarmupLR', opt(), { warmup_max_lrr: 1 })).toThrow(/scheduler 'WarmupLR': unknown param 'warmup_max_lrr' \(did you mean 'warmup_max_lr'\?\)/);
    expect(() => createScheduler('WarmupLR', opt(), { warmupMinLr: 0 })).toThrow(/unknown param 'warmupMinLr' \(did you mean 'warmup_min_lr'\?\)/);
    expect(() => createScheduler('OneCycle', opt(), { cycle_min_lr: 0, cycle_max_lr: 1, cycle_min_mon: 0.8 })).toThrow(/did you mean 'cycle_min_mom'/);
  });

  it('lists the valid params when nothing is close', () => {
    expect(() => createScheduler('WarmupLR', opt(), { foo: 0 })).toThrow(
      /unknown param 'foo'; valid names are 'warmup_min_lr', 'warmup_max_lr', 'warmup_num_steps', 'warmup_type', 'last_batch_iteration'/,
    );
    expect(schedulerParamNames('WarmupDecayLR')).toEqual(['total_num_steps', 'warmup_min_lr', 'warmup_max_lr', 'warmup_num_steps', 'warmup_type', 'last_batch_iteration']);
  });

  it('class constructors take camelCase and suggest it for snake_case keys', () => {
    expect(() => new WarmupLR(opt(), { warmup_min_lr: 0 } as never)).toThrow(/WarmupLR: unknown option 'warmup_min_lr' \(did you mean 'warmupMinLr'\?\)/);
  });

  it('requires params without a default, saying what they are', () => {
    expect(() => createScheduler('WarmupDecayLR', opt(), {})).toThrow(/scheduler 'WarmupDecayLR': missing required param 'total_num_steps' \(the step at which/);
    expect(() => createScheduler('OneCycle', opt(), { cycle_max_lr: 1 })).toThrow(/missing required param 'cycle_min_lr'/);
    expect(() => new WarmupDecayLR(opt(), {} as never)).toThrow(/WarmupDecayLR: missing required option 'totalNumSteps'/);
  });
});

describe('createScheduler: values', () => {
  it('a list param must have one entry per param group (DeepSpeed ValueError)', () => {
    expect(() => createScheduler('WarmupLR', opt(), { warmup_max_lr: [0.1, 0.2] })).toThrow(/expected 1 value for warmup_max_lr \(one per param group\), got 2: \[0\.1,0\.2\]/);
    expect(() => createScheduler('LRRangeTest', opt(), { lr_range_test_min_lr: [] })).toThrow(/expected 1 value for lr_range_test_min_lr/);
  });

  it('names the param and the valid range', () => {
    expect(() => createScheduler('WarmupLR', opt(), { warmup_num_steps: -1 })).toThrow(/warmup_num_steps must be a finite number >= 0, got -1/);
    expect(() => createScheduler('WarmupLR', opt(), { warmup_min_lr: -0.1 })).toThrow(/warmup_min_lr must be a non-negative number or a list of 1/);
    expect(() => createScheduler('WarmupLR', opt(), { warmup_min_lr: [Number.NaN] })).toThrow(/warmup_min_lr\[0\] must be a non-negative number, got NaN/);
    expect(() => createScheduler('LRRangeTest', opt(), { lr_range_test_step_size: 0 })).toThrow(/lr_range_test_step_size must be a finite number > 0, got 0/);
    expect(() => createScheduler('OneCycle', opt(), { cycle_min_lr: 0, cycle_max_lr: 1, cycle_momentum: 'yes' })).toThrow(/cycle_momentum must be true or false, got 'yes'/);
    expect(() => createScheduler('WarmupLR', opt(), { last_batch_iteration: -2 })).toThrow(/last_batch_iteration must be an integer >= -1/);
    expect(() => createScheduler('WarmupLR', opt(), [] as never)).toThrow(/params must be an object of named values, got \[\]/);
  });

  it('rejects an unknown warmup_type instead of silently using log as DeepSpeed does', () => {
    expect(() => createScheduler('WarmupLR', opt(), { warmup_type: 'cosine' })).toThrow(/warmup_type must be 'log' or 'linear', got 'cosine'/);
    expect(() => createScheduler('WarmupCosineLR', opt(), { total_num_steps: 9, warmup_type: 'linaer' })).toThrow(/got 'linaer' \(did you mean 'linear'\?\)/);
  });

  it('WarmupCosineLR with total_num_steps == warmup_num_steps fails at construction (DeepSpeed divides by zero at step W)', () => {
    expect(() => createScheduler('WarmupCosineLR', opt(), { total_num_steps: 10, warmup_num_steps: 10 })).toThrow(/total_num_steps \(10\) must differ from warmup_num_steps \(10/);
  });

  it('warns when the schedule ends before the warm-up does', () => {
    const warnings: string[] = [];
    new WarmupDecayLR(opt(), { totalNumSteps: 5, warmupNumSteps: 10 }, { warn: (m) => warnings.push(m) });
    new WarmupCosineLR(opt(), { totalNumSteps: 5, warmupNumSteps: 10 }, { warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringMatching(/^WarmupDecayLR: total_num_steps 5 is less than warmup_num_steps 10/), expect.stringMatching(/^WarmupCosineLR: total_num_steps 5/)]);
  });
});

describe('optimizer, step and state errors', () => {
  it('needs param groups', () => {
    expect(() => createScheduler('WarmupLR', {} as never)).toThrow(/WarmupLR: optimizer must have 'paramGroups' \(an optim.Optimizer\) or wrap one as '.optimizer', got \{\}/);
    expect(() => new WarmupLR({ paramGroups: [] })).toThrow(/WarmupLR: the optimizer has no param groups/);
    expect(() => new WarmupCosineLR({ paramGroups: [{ lr: 'x' }] }, { totalNumSteps: 5000 })).toThrow(/optimizer.paramGroups\[0\].lr must be a finite number, got 'x'/);
  });

  it('step() and loadStateDict() check the iteration', () => {
    const s = new LRRangeTest(opt());
    expect(() => s.step(2.5)).toThrow(/LRRangeTest.step: batchIteration must be an integer >= -1, got 2.5/);
    expect(() => s.loadStateDict({})).toThrow(/LRRangeTest.loadStateDict: state has no 'last_batch_iteration' \(keys: none\)/);
    expect(() => s.loadStateDict({ lastBatchIteration: 3 })).toThrow(/state has no 'last_batch_iteration' \(keys: 'lastBatchIteration'\)/);
    expect(() => s.loadStateDict({ last_batch_iteration: '3' })).toThrow(/state.last_batch_iteration must be an integer >= -1, got '3'/);
    expect(s.stateDict()).toEqual({ last_batch_iteration: -1 });
  });
});
