// Every schedule in ../shared/golden/lr/schedules.json (recorded from DeepSpeed's own classes),
// driven through createScheduler with the recorded snake_case params on real @ds/core optimizers.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { optim, zeros } from '@ds/core';
import { describe, expect, it } from 'vitest';
import { createScheduler, OneCycle, type LRScheduler } from '../src/lr/index.js';

const GOLDEN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/golden');

interface GoldenCase {
  schedule: string;
  params: Record<string, unknown>;
  optimizer: string;
  optimizer_initial_lr: number;
  lr: number[];
  beta1?: number[];
}

const golden = JSON.parse(readFileSync(path.join(GOLDEN, 'lr/schedules.json'), 'utf8')) as {
  steps: number;
  tolerance: { atol: number; rtol: number };
  cases: Record<string, GoldenCase>;
};
const { rtol, atol } = golden.tolerance;

function expectClose(actual: number, expected: number, what: string): void {
  const err = Math.abs(actual - expected);
  if (err > atol + rtol * Math.abs(expected)) {
    expect.fail(`${what}: got ${actual}, expected ${expected} (|diff| ${err} > atol ${atol} + rtol ${rtol} * |expected|)`);
  }
}

function optimizerFor(c: GoldenCase): optim.SGD | optim.Adam {
  const param = zeros([3], { requiresGrad: true });
  if (c.optimizer.startsWith('torch.optim.Adam(')) return new optim.Adam([param], { lr: c.optimizer_initial_lr });
  if (c.optimizer.startsWith('torch.optim.SGD(')) return new optim.SGD([param], { lr: c.optimizer_initial_lr });
  throw new Error(`golden case uses an optimizer this test does not build: ${c.optimizer}`);
}

describe('LR schedules reproduce DeepSpeed (golden/lr/schedules.json)', () => {
  it('covers every schedule type and both momentum variants', () => {
    const types = new Set(Object.values(golden.cases).map((c) => c.schedule));
    expect([...types].sort()).toEqual(['LRRangeTest', 'OneCycle', 'WarmupCosineLR', 'WarmupDecayLR', 'WarmupLR']);
    expect(Object.values(golden.cases).some((c) => c.beta1 !== undefined)).toBe(true);
  });

  for (const [name, c] of Object.entries(golden.cases)) {
    it(`${name}: lr after construction and after each of ${golden.steps} steps`, () => {
      expect(c.lr.length).toBe(golden.steps + 1);
      const opt = optimizerFor(c);
      const warnings: string[] = [];
      const sched: LRScheduler = createScheduler(c.schedule, opt, c.params, { warn: (m) => warnings.push(m) });
      // DeepSpeed ignores OneCycle's stair counts (the data is linear within each phase); ds says so.
      const stairs = Object.keys(c.params).some((k) => k.endsWith('stair_count'));
      expect(warnings.map((w) => /stair_count.*no effect/.test(w))).toEqual(stairs ? [true] : []);
      const group = opt.paramGroups[0]!;
      for (let k = 0; k <= golden.steps; k++) {
        if (k > 0) sched.step();
        expectClose(group.lr as number, c.lr[k]!, `${name} lr[${k}]`);
        expect(sched.getLastLr(), `${name} getLastLr after ${k} steps`).toEqual([group.lr]);
        if (c.beta1) {
          const betas = group.betas as [number, number];
          expectClose(betas[0], c.beta1[k]!, `${name} beta1[${k}]`);
          expect(betas[1], `${name} beta2[${k}] is forced to 0.99`).toBe(0.99);
        }
        // Scheduler/optimizer parity (DeepSpeed's TestSchedulerOptimizerParity), from the first step on.
        if (k > 0) expect(sched.getLr()).toEqual([group.lr]);
      }
      expect(sched.stateDict()).toEqual({ last_batch_iteration: golden.steps - 1 });
    });
  }

  it('OneCycle getMom() after each step matches the recorded beta1', () => {
    for (const [name, c] of Object.entries(golden.cases)) {
      if (!c.beta1) continue;
      const sched = createScheduler(c.schedule, optimizerFor(c), c.params, { warn: () => {} }) as OneCycle;
      expect(sched).toBeInstanceOf(OneCycle);
      for (let k = 1; k <= golden.steps; k++) {
        sched.step();
        const mom = sched.getMom();
        expect(mom).not.toBeNull();
        expectClose(mom![0]![0], c.beta1[k]!, `${name} getMom()[0][0] after ${k} steps`);
      }
    }
  });
});
