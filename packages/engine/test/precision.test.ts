// fp16 and bf16 through the config: the engine loads @ds/precision for the fp16 / bf16
// sections, and mixed-precision runs on several ranks track the fp32 reference trajectory.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { Generator, nn } from '@ds/core';
import { initialize } from '../src/index.js';
import { GOLDEN, type Trajectory, type TrajectoryArgs } from './fixtures/gpt2-dp.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'gpt2-dp.ts');
const ref = JSON.parse(readFileSync(path.join(GOLDEN, 'trajectories.json'), 'utf8')).setups.b_adamw_clip.loss as number[];

const run = (n: number, extra: Record<string, unknown>) =>
  launchInProcess<Trajectory, TrajectoryArgs>({ nprocs: n, script: FIXTURE, exportName: 'trajectory', args: { setup: 'b_adamw_clip', extra }, timeoutMs: 60_000 });

// A 16-bit run rounds every activation and weight to 8 (bf16) or 11 (fp16) significant bits;
// over 8 AdamW steps the losses of this model stay within 1 % of the fp32 reference (measured:
// ~2e-3 for bf16, ~5e-4 for fp16 without overflow), while a broken master-weight or unscale
// path is off by far more (a skipped update alone moves the loss by ~0.4 %, a wrong scale by
// orders of magnitude).
const TOL = 1e-2;

describe('mixed precision from the config', () => {
  it('bf16 on 2 ranks: fp32 masters, no loss scaling, tracks the fp32 trajectory', async () => {
    const out = await run(2, { bf16: { enabled: true } });
    for (const r of out) {
      r.losses.forEach((l, i) => expect(Math.abs(l - ref[i]!) / ref[i]!, `step ${i}`).toBeLessThan(TOL));
      expect(r.lossScale).toBe(1);
      expect(r.skippedSteps).toBe(0);
    }
  });

  it('fp16 on 2 ranks with a scale that never overflows tracks the fp32 trajectory', async () => {
    const out = await run(2, { fp16: { enabled: true, initial_scale_power: 8 } });
    for (const r of out) {
      r.losses.forEach((l, i) => expect(Math.abs(l - ref[i]!) / ref[i]!, `step ${i}`).toBeLessThan(TOL));
      expect(r.skippedSteps).toBe(0);
      expect(r.lossScale).toBe(256);
    }
  });

  it('fp16 with the default 2^16 scale overflows at first: steps are skipped on every rank, the scale drops, the scheduler waits', async () => {
    const scheduler = { type: 'LRRangeTest', params: { lr_range_test_min_lr: 1e-3, lr_range_test_step_size: 1000 } };
    const out = await run(2, { fp16: { enabled: true }, scheduler });
    expect(out[0]!.skippedSteps).toBeGreaterThan(0);
    // constructed at -1, stepped once per applied step only
    expect(out[0]!.schedulerIteration).toBe(8 - out[0]!.skippedSteps - 1);
    expect(out[1]!.skippedSteps).toBe(out[0]!.skippedSteps);
    expect(out[0]!.lossScale).toBeLessThan(65536);
    expect(out[1]!.lossScale).toBe(out[0]!.lossScale);
  });

  it('a section whose package is not installed says which package to add', async () => {
    const model = new nn.Linear(2, 1, { generator: new Generator(0) });
    await expect(initialize({ model, config: { train_batch_size: 1, optimizer: { type: 'AdamW' }, pipeline: { stages: 2 } }, log: () => {} }))
      .rejects.toThrow(/config section "pipeline" .*needs @ds\/pipeline, which is not installed: pnpm add @ds\/pipeline/);
  });
});
