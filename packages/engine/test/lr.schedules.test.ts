// DeepSpeed's LR-schedule test vectors (spec §4 and the §13 upstream tests), multi-group
// params, momentum cycling, resuming from a state dict, and LambdaLR.
import { optim, zeros } from '@ds/core';
import { describe, expect, it } from 'vitest';
import {
  createScheduler, fromLambda, INITIAL_LR_KEY, LambdaLR, LRRangeTest, OneCycle, WarmupCosineLR, WarmupDecayLR, WarmupLR,
  type LRScheduler, type SchedulableOptimizer,
} from '../src/lr/index.js';

const quiet = { warn: () => {} };

function param() {
  return zeros([2], { requiresGrad: true });
}
function sgd(lr = 0.1, momentum = 0): optim.SGD {
  return new optim.SGD([param()], { lr, momentum });
}
function adam(lr = 1.5e-4): optim.Adam {
  return new optim.Adam([param()], { lr });
}
function lrAt(sched: LRScheduler, opt: SchedulableOptimizer, k: number, group = 0): number {
  if (k >= 0) sched.step(k);
  return opt.paramGroups[group]!.lr as number;
}
/** Values in the spec are rounded; compare to their printed precision. */
function expectNear(actual: number, expected: number, digits: number, what: string): void {
  expect(Math.abs(actual - expected), `${what}: got ${actual}, expected ${expected}`).toBeLessThanOrEqual(0.5 * 10 ** -digits * Math.max(1, Math.abs(expected)) + 1e-15);
}
/** lr after construction, then after each of n steps. */
function trace(sched: LRScheduler, opt: SchedulableOptimizer, n: number): number[] {
  const out = [opt.paramGroups[0]!.lr as number];
  for (let i = 0; i < n; i++) {
    sched.step();
    out.push(opt.paramGroups[0]!.lr as number);
  }
  return out;
}

describe('spec §4 vectors (explicit step(k))', () => {
  it('LRRangeTest min 1e-3, size 10, rate 1: continuous and staircase', () => {
    const ks = [-1, 0, 8, 9, 19];
    const cont = [0.001, 0.0011, 0.0019, 0.002, 0.003];
    const stair = [0.001, 0.001, 0.001, 0.002, 0.003];
    for (const [staircase, want] of [[false, cont], [true, stair]] as const) {
      const opt = sgd();
      const s = new LRRangeTest(opt, { lrRangeTestMinLr: 1e-3, lrRangeTestStepSize: 10, lrRangeTestStepRate: 1, lrRangeTestStaircase: staircase });
      ks.forEach((k, i) => expectNear(lrAt(s, opt, k), want[i]!, 15, `staircase=${staircase} k=${k}`));
    }
  });

  it('OneCycle min 0.01, max 0.1, first 10, decay rate 0.5, decay step 5', () => {
    const opt = sgd();
    const s = new OneCycle(opt, { cycleMinLr: 0.01, cycleMaxLr: 0.1, cycleFirstStepSize: 10, decayLrRate: 0.5, decayStepSize: 5, cycleMomentum: false });
    const ks = [-1, 0, 4, 8, 9, 14, 18, 19, 20, 24, 29];
    const want = [0.01, 0.019, 0.055, 0.091, 0.1, 0.055, 0.019, 0.01, 0.0090909, 0.0066667, 0.005];
    ks.forEach((k, i) => expectNear(lrAt(s, opt, k), want[i]!, 7, `k=${k}`));
  });

  it('WarmupLR min 0.1, max 0.2, W 10: log and linear', () => {
    const ks = [-1, 0, 1, 4, 9, 10, 50];
    const want = {
      log: [0.1, 0.1, 0.130103, 0.169897, 0.2, 0.2, 0.2],
      linear: [0.1, 0.1, 0.11, 0.14, 0.19, 0.2, 0.2],
    };
    for (const type of ['log', 'linear'] as const) {
      const opt = sgd();
      const s = new WarmupLR(opt, { warmupMinLr: 0.1, warmupMaxLr: 0.2, warmupNumSteps: 10, warmupType: type });
      ks.forEach((k, i) => expectNear(lrAt(s, opt, k), want[type][i]!, 6, `${type} k=${k}`));
    }
  });

  it('WarmupDecayLR T 20, W 10, min 0.1, max 0.2 decays back to warmup_min_lr (not 0) and stays there', () => {
    const opt = sgd();
    const s = new WarmupDecayLR(opt, { totalNumSteps: 20, warmupNumSteps: 10, warmupMinLr: 0.1, warmupMaxLr: 0.2 });
    const ks = [9, 10, 11, 15, 19, 20, 25];
    const want = [0.2, 0.2, 0.19, 0.15, 0.11, 0.1, 0.1];
    ks.forEach((k, i) => expectNear(lrAt(s, opt, k), want[i]!, 12, `k=${k}`));
  });

  it('WarmupCosineLR org 0.0015, T 100, W 10: quirk kept, the cosine is not clamped after T so the lr rises again', () => {
    const opt = sgd(0.0015);
    const s = new WarmupCosineLR(opt, { totalNumSteps: 100, warmupNumSteps: 10, warmupMinRatio: 0.2, cosMinRatio: 0.1 });
    const ks = [-1, 0, 1, 9, 10, 54, 99, 100, 120];
    const want = [0.0, 0.0003, 0.000661236, 0.0015, 0.0014995888, 0.000825, 0.00015, 0.0001504112, 0.0003233772];
    ks.forEach((k, i) => expectNear(lrAt(s, opt, k), want[i]!, k === 1 ? 9 : 10, `k=${k}`));
    expect(s.getLrRatio()).toBeGreaterThan(0.2);
  });
});

describe('upstream test_lr_schedulers.py properties (§13)', () => {
  for (const W of [10, 15, 19, 33]) {
    for (const type of ['log', 'linear'] as const) {
      it(`WarmupLR W=${W} ${type}: min after the first step, max from step W on`, () => {
        const opt = adam();
        const s = new WarmupLR(opt, { warmupMinLr: 0.1, warmupMaxLr: 0.2, warmupNumSteps: W, warmupType: type });
        const after = trace(s, opt, 3 * W).slice(1);
        expect(after[0]).toBe(0.1);
        expect(after[W]).toBe(0.2);
        expect(after.slice(W).every((x) => x === 0.2)).toBe(true);
        for (let i = 1; i < W; i++) expect(after[i]!, `warm-up rises at ${i}`).toBeGreaterThan(after[i - 1]!);
      });

      it(`WarmupDecayLR W=${W} T=${2 * W} ${type}: same peak, then strictly decreasing to warmup_min_lr`, () => {
        const opt = adam();
        const s = new WarmupDecayLR(opt, { warmupMinLr: 0.1, warmupMaxLr: 0.2, warmupNumSteps: W, warmupType: type, totalNumSteps: 2 * W });
        const after = trace(s, opt, 3 * W).slice(1);
        expect(after[0]).toBe(0.1);
        expect(after[W]).toBe(0.2);
        for (let i = W + 1; i <= 2 * W; i++) expect(after[i]!, `decay at ${i}`).toBeLessThan(after[i - 1]!);
        expect(after[2 * W]).toBe(0.1);
        expect(after.slice(2 * W).every((x) => x === 0.1)).toBe(true);
      });
    }
  }

  const ranges: [number, number, number, boolean][] = [
    [1e-4, 1e-5, 1, true], [1e-5, 1e-5, 1, false], [1e-4, 1e-3, 10, true], [1e-3, 1e-3, 10, false], [1e-2, 1e-2, 19, true], [1e-2, 1e-2, 19, false],
  ];
  for (const [minLr, rate, size, staircase] of ranges) {
    it(`LRRangeTest min ${minLr} rate ${rate} size ${size} staircase=${staircase}: ${staircase ? 'constant within blocks of step_size' : 'strictly increasing'}`, () => {
      const opt = adam();
      const s = createScheduler('LRRangeTest', opt, { lr_range_test_min_lr: minLr, lr_range_test_step_rate: rate, lr_range_test_step_size: size, lr_range_test_staircase: staircase });
      const before = trace(s, opt, 80);
      expect(before[0]).toBe(minLr);
      for (let i = 1; i < before.length; i++) {
        if (!staircase) expect(before[i]!).toBeGreaterThan(before[i - 1]!);
        else if (i % size === 0) expect(before[i]!, `jump at ${i}`).toBeGreaterThan(before[i - 1]!);
        else expect(before[i], `flat at ${i}`).toBe(before[i - 1]);
      }
    });
  }

  const cycles: [number, number, number, number, number][] = [[1e-5, 1e-2, 1e-3, 10, 10], [1e-3, 1e-1, 0, 21, 21], [1e-3, 1e-1, 1e-1, 21, 21], [1e-5, 1e-1, 0, 10, 0]];
  for (const [min, max, decayRate, cycleStep, decayStep] of cycles) {
    it(`OneCycle lr min ${min} max ${max} decay ${decayRate} cycle ${cycleStep} decay step ${decayStep}: up, down, then ${decayRate > 0 ? 'decaying' : 'flat'}`, () => {
      const opt = adam();
      const s = createScheduler('OneCycle', opt, { cycle_min_lr: min, cycle_max_lr: max, decay_lr_rate: decayRate, cycle_first_step_size: cycleStep, decay_step_size: decayStep });
      const before = trace(s, opt, 4 * cycleStep);
      expect(before[0]).toBe(min);
      expect(before[cycleStep]).toBeCloseTo(max, 15);
      for (let i = 1; i <= cycleStep; i++) expect(before[i]!).toBeGreaterThan(before[i - 1]!);
      for (let i = cycleStep + 1; i <= 2 * cycleStep; i++) expect(before[i]!).toBeLessThan(before[i - 1]!);
      for (let i = 2 * cycleStep + 1; i < before.length; i++) {
        if (decayRate > 0) expect(before[i]!).toBeLessThan(before[i - 1]!);
        else expect(before[i]).toBe(min);
      }
    });
  }

  for (const decay of [1e-3, 0]) {
    for (const step of [10, 21]) {
      it(`OneCycle momentum min 0.08 max 0.09 decay ${decay} step ${step}: getMom() starts at max, bottoms at step ${step}${decay > 0 ? ', grows in decay' : ''}`, () => {
        const opt = adam();
        const s = new OneCycle(opt, { cycleMinLr: 1e-3, cycleMaxLr: 1e-2, cycleMinMom: 0.08, cycleMaxMom: 0.09, decayMomRate: decay, cycleFirstStepSize: step, decayStepSize: step });
        const moms: number[] = [];
        for (let i = 0; i <= 4 * step; i++) {
          moms.push(s.getMom()![0]![0]);
          s.step();
        }
        expect(moms[0]).toBe(0.09);
        expect(moms[step]).toBeCloseTo(0.08, 15);
        for (let i = 1; i <= step; i++) expect(moms[i]!).toBeLessThan(moms[i - 1]!);
        for (let i = step + 1; i <= 2 * step; i++) expect(moms[i]!).toBeGreaterThan(moms[i - 1]!);
        for (let i = 2 * step + 1; i < moms.length; i++) {
          if (decay > 0) expect(moms[i]!).toBeGreaterThan(moms[i - 1]!);
          else expect(moms[i]).toBe(0.09);
        }
      });
    }
  }

  const cosines: [number, number, number, number][] = [[100, 10, 0.1, 0.2], [200, 20, 0.1, 0.2], [500, 30, 0.0, 0.2], [600, 300, 0.1, 0.0], [600, 550, 0.0, 0.0]];
  for (const [T, W, cosMin, warmupMin] of cosines) {
    it(`WarmupCosineLR T ${T} W ${W} cos_min ${cosMin} warmup_min ${warmupMin}: warm-up to 0.0015 then cosine to its floor`, () => {
      const opt = adam(0.0015);
      const s = createScheduler('WarmupCosineLR', opt, { total_num_steps: T, warmup_num_steps: W, cos_min_ratio: cosMin, warmup_min_ratio: warmupMin });
      const after = trace(s, opt, T).slice(1);
      expect(Math.abs(after[0]! - 0.0015 * warmupMin)).toBeLessThan(1e-7);
      expect(Math.abs(after[W - 1]! - 0.0015)).toBeLessThan(1e-7);
      expect(Math.abs(after[T - 1]! - 0.0015 * cosMin)).toBeLessThan(1e-7);
      for (let i = 1; i < W; i++) expect(after[i]!).toBeGreaterThan(after[i - 1]!);
      for (let i = W; i < T; i++) expect(after[i]!).toBeLessThan(after[i - 1]!);
    });
  }

  it('scheduler/optimizer parity: getLr() equals every group lr after each step', () => {
    const cases: [string, Record<string, unknown>][] = [
      ['WarmupLR', {}],
      ['WarmupDecayLR', { warmup_num_steps: 5, total_num_steps: 10 }],
      ['OneCycle', { cycle_min_lr: 0, cycle_max_lr: 0.1, cycle_first_step_size: 5, decay_step_size: 5 }],
      ['LRRangeTest', { lr_range_test_min_lr: 1e-4, lr_range_test_step_size: 1 }],
    ];
    for (const [type, params] of cases) {
      const opt = new optim.Adam([{ params: [param()] }, { params: [param()] }], { lr: 1.5e-4 });
      const s = createScheduler(type, opt, params);
      for (let i = 0; i < 25; i++) {
        s.step();
        expect(s.getLr(), `${type} step ${i + 1}`).toEqual(opt.paramGroups.map((g) => g.lr));
      }
    }
  });
});

describe('param groups and momentum', () => {
  it('list params set each group; scalars are shared', () => {
    const opt = new optim.SGD([{ params: [param()] }, { params: [param()] }], { lr: 1 });
    const s = createScheduler('WarmupLR', opt, { warmup_min_lr: 0.01, warmup_max_lr: [0.1, 0.2], warmup_num_steps: 4, warmup_type: 'linear' });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.01, 0.01]);
    s.step(2);
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.01 + (0.1 - 0.01) * 0.5, 0.01 + (0.2 - 0.01) * 0.5]);
  });

  it('WarmupCosineLR scales each group from its own lr; at construction every group gets 0 (DeepSpeed bug: only the first)', () => {
    const opt = new optim.SGD([{ params: [param()], lr: 0.01 }, { params: [param()], lr: 0.03 }], { lr: 1 });
    const s = new WarmupCosineLR(opt, { totalNumSteps: 20, warmupNumSteps: 4, warmupType: 'linear', warmupMinRatio: 0.5 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0, 0]);
    expect(s.getLr()).toEqual([0, 0]);
    s.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.01 * 0.5, 0.03 * 0.5]);
  });

  it('OneCycle writes betas [mom, 0.99] (beta2 forced); construction writes cycle_min_mom although the cycle starts at max (DeepSpeed quirk kept)', () => {
    const opt = new optim.Adam([{ params: [param()] }, { params: [param()], betas: [0.5, 0.5] }], { lr: 1e-3, betas: [0.9, 0.999] });
    const s = new OneCycle(opt, { cycleMinLr: 0.001, cycleMaxLr: 0.01, cycleFirstStepSize: 4, cycleMinMom: 0.85, cycleMaxMom: 0.95 });
    expect(opt.paramGroups.map((g) => g.betas)).toEqual([[0.85, 0.99], [0.85, 0.99]]);
    expect(s.getMom()).toEqual([[0.95, 0.99], [0.95, 0.99]]);
    s.step(3); // b = 4 = first step size: the peak lr and the lowest momentum
    for (const g of opt.paramGroups) {
      expect(g.lr).toBeCloseTo(0.01, 15);
      expect(g.betas[0]).toBeCloseTo(0.85, 15);
    }
    expect(opt.paramGroups.map((g) => (g.betas as number[])[1])).toEqual([0.99, 0.99]);
  });

  it('OneCycle cycles SGD momentum when the optimizer has momentum on', () => {
    const opt = sgd(0.1, 0.9);
    const s = new OneCycle(opt, { cycleMinLr: 0.01, cycleMaxLr: 0.1, cycleFirstStepSize: 10, cycleMinMom: 0.8, cycleMaxMom: 0.9 }, quiet);
    expect(s.momentumKey).toBe('momentum');
    expect(opt.paramGroups[0]!.momentum).toBe(0.8);
    s.step(4); // b = 5: halfway up, scale 0.5
    expect(opt.paramGroups[0]!.momentum).toBeCloseTo(0.85, 15);
    expect('betas' in opt.paramGroups[0]!).toBe(false);
  });

  it('OneCycle leaves an SGD without momentum alone and warns', () => {
    const warnings: string[] = [];
    const opt = sgd(0.1, 0);
    const s = new OneCycle(opt, { cycleMinLr: 0.01, cycleMaxLr: 0.1 }, { warn: (m) => warnings.push(m) });
    s.step();
    expect(s.getMom()).toBeNull();
    expect(opt.paramGroups[0]!.momentum).toBe(0);
    expect(warnings).toEqual([expect.stringMatching(/cycle_momentum is disabled.*neither betas nor a non-zero momentum/)]);
  });

  it('drives the optimizer inside a wrapper ({ optimizer }) and any structural optimizer', () => {
    const inner = { paramGroups: [{ lr: 5, name: 'head' }] };
    const s = createScheduler('LRRangeTest', { optimizer: inner }, { lr_range_test_min_lr: 0.5, lr_range_test_step_size: 1 });
    s.step();
    expect(inner.paramGroups[0]).toEqual({ lr: 1.0, name: 'head' });
  });
});

describe('state dict and resuming', () => {
  const configs: [string, Record<string, unknown>, () => optim.SGD | optim.Adam][] = [
    ['WarmupLR', { warmup_min_lr: 0.001, warmup_max_lr: 0.01, warmup_num_steps: 50 }, () => sgd()],
    ['WarmupDecayLR', { total_num_steps: 60, warmup_num_steps: 20, warmup_type: 'linear' }, () => sgd()],
    ['WarmupCosineLR', { total_num_steps: 60, warmup_num_steps: 20 }, () => sgd(0.003)],
    ['OneCycle', { cycle_min_lr: 0.001, cycle_max_lr: 0.01, cycle_first_step_size: 15, decay_step_size: 5, decay_lr_rate: 0.1, decay_mom_rate: 0.01 }, () => adam()],
    ['LRRangeTest', { lr_range_test_step_size: 7, lr_range_test_staircase: true }, () => sgd()],
  ];
  for (const [type, params, make] of configs) {
    it(`${type}: a new scheduler loaded from stateDict() mid-schedule continues the same sequence`, () => {
      const optA = make();
      const a = createScheduler(type, optA, params);
      for (let i = 0; i < 37; i++) a.step();
      const saved = JSON.parse(JSON.stringify(a.stateDict())) as Record<string, unknown>;
      expect(saved).toEqual({ last_batch_iteration: 36 });

      const optB = make();
      const b = createScheduler(type, optB, params);
      b.loadStateDict(saved);
      const viaParam = make();
      const c = createScheduler(type, viaParam, { ...params, last_batch_iteration: 36 });
      for (let i = 0; i < 40; i++) {
        a.step();
        b.step();
        c.step();
        expect(optB.paramGroups[0]!.lr, `${type} step ${38 + i}`).toBe(optA.paramGroups[0]!.lr);
        expect(viaParam.paramGroups[0]!.lr).toBe(optA.paramGroups[0]!.lr);
        expect(optB.paramGroups[0]!.betas).toEqual(optA.paramGroups[0]!.betas);
      }
      expect(b.stateDict()).toEqual(a.stateDict());
    });
  }

  it('last_batch_iteration != -1 writes nothing at construction, so getLastLr() has nothing to report yet', () => {
    const opt = sgd(0.7);
    const s = new LRRangeTest(opt, { lastBatchIteration: 5 });
    expect(opt.paramGroups[0]!.lr).toBe(0.7);
    expect(() => s.getLastLr()).toThrow(/LRRangeTest.getLastLr: no lr has been written yet; call step\(\) first/);
    s.step();
    expect(s.getLastLr()).toEqual([1e-3 * (1 + 7 / 2000)]);
  });

  it('step(batchIteration) jumps to that iteration', () => {
    const opt = sgd();
    const s = new WarmupLR(opt, { warmupMinLr: 0, warmupMaxLr: 1, warmupNumSteps: 10, warmupType: 'linear' });
    s.step(7);
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.7, 15);
    s.step();
    expect(s.stateDict()).toEqual({ last_batch_iteration: 8 });
    expect(opt.paramGroups[0]!.lr).toBeCloseTo(0.8, 15);
  });
});

describe('LambdaLR (fromLambda)', () => {
  it('follows torch: construction takes step 0, lr = initial lr x factor(step)', () => {
    const opt = sgd(0.8);
    const s = fromLambda(opt, (step) => 0.5 ** step);
    expect(s).toBeInstanceOf(LambdaLR);
    expect(opt.paramGroups[0]!.lr).toBe(0.8);
    expect(opt.paramGroups[0]![INITIAL_LR_KEY]).toBe(0.8);
    s.step();
    s.step();
    expect(opt.paramGroups[0]!.lr).toBe(0.2);
    expect(s.getLastLr()).toEqual([0.2]);
    expect(s.stateDict()).toEqual({ last_batch_iteration: 2 });
  });

  it('one lambda per group, and a rebuilt scheduler resumes from the stored initial lr', () => {
    const opt = new optim.SGD([{ params: [param()], lr: 1 }, { params: [param()], lr: 2 }], { lr: 1 });
    const a = fromLambda(opt, [(s) => s + 1, (s) => 1 / (s + 1)]);
    for (let i = 0; i < 3; i++) a.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([4, 0.5]);
    const b = fromLambda(opt, [(s) => s + 1, (s) => 1 / (s + 1)]);
    expect(b.baseLrs).toEqual([1, 2]);
    b.loadStateDict(a.stateDict());
    b.step();
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([5, 0.4]);
  });

  it('rejects a wrong number of lambdas and non-finite factors', () => {
    expect(() => fromLambda(sgd(), [() => 1, () => 1])).toThrow(/LambdaLR: expected 1 lr lambdas \(one per param group\), got 2/);
    expect(() => fromLambda(sgd(), (s) => 1 / s)).toThrow(/LambdaLR: lrLambda\(0\) must return a finite number, got Infinity/);
    expect(() => fromLambda(sgd(), 3 as never)).toThrow(/lrLambda must be a function/);
  });
});
