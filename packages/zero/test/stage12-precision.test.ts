// ZeRO over mixed precision: ZeRO takes precision's fp32 masters over (each rank keeps fp32
// masters and optimizer state for its partition only), reuses its loss scaler, agrees on
// overflow across ranks, and a skipped step changes nothing.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import type { TinyArgs, TinyResult } from './fixtures/tiny-zero.js';
import { TRAJECTORIES, runInProcess } from './fixtures/run-ranks.js';

const TINY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'tiny-zero.ts');
const tiny = (n: number, args: TinyArgs) => launchInProcess<TinyResult, TinyArgs>({ nprocs: n, script: TINY, exportName: 'tinyRun', args, timeoutMs: 60_000 });
const ref = TRAJECTORIES.setups.b_adamw_clip!.loss;

// A 16-bit run rounds every activation and weight to 8 (bf16) or 11 (fp16) significant bits;
// over 8 AdamW steps this model's losses stay within 1 % of the fp32 reference (measured:
// ~2e-3 for bf16, ~2e-4 for fp16 without overflow), while a broken master-weight or unscale
// path is off by far more (a skipped update alone moves the loss by ~0.4 %, a wrong scale by
// orders of magnitude).
const TRACK = 1e-2;

function expectTracks(losses: readonly number[]): void {
  losses.forEach((l, i) => expect(Math.abs(l - ref[i]!) / ref[i]!, `step ${i}: ${l} vs ${ref[i]}`).toBeLessThan(TRACK));
}

describe('ZeRO with bf16 / fp16 (GPT-2, trajectory (b))', () => {
  it('bf16, stage 2 on 2 ranks: fp32 partitions only, no loss scaling, tracks fp32 and matches plain data parallelism', async () => {
    const extra = { bf16: { enabled: true } };
    const [zeroRuns, dpRuns] = [await runInProcess(2, { setup: 'b_adamw_clip', stage: 2, extra }), await runInProcess(2, { setup: 'b_adamw_clip', stage: 0, extra })];
    for (const r of zeroRuns) {
      expect(r.updater).toBe('zero stage 2 (bfloat16 with fp32 partitions)');
      expectTracks(r.losses);
      expect(r.lossScale).toBe(1);
      expect(r.skippedSteps).toBe(0);
      // The optimizer steps fp32 partitions of Ψ/2 elements, not the 16-bit model nor full masters.
      expect(r.optimizerElements).toBe(r.modelElements / 2);
      expect(r.optimizerStateBytes).toBe(8 * (r.modelElements / 2));
      // With one micro-batch the bf16 gradients are reduced in bf16 either way: the same numbers
      // up to the order of additions (measured: identical to 1e-6).
      r.losses.forEach((l, i) => expect(Math.abs(l - dpRuns[0]!.losses[i]!)).toBeLessThan(1e-4));
    }
  });

  it('bf16 with communication_data_type "fp32": gradients are reduced in fp32 (a different, still tracking trajectory)', async () => {
    const run = (extra: Record<string, unknown>) => runInProcess(2, { setup: 'b_adamw_clip', stage: 2, extra: { bf16: { enabled: true }, ...extra }, steps: 4, returnParams: true });
    const [bf16, wide] = [await run({}), await run({ communication_data_type: 'fp32' })];
    expectTracks(wide[0]!.losses);
    // The model weights are bf16 either way; sums of bf16 gradients rounded to bf16 (or not)
    // move some of them to a neighbouring bf16 value.
    const a = bf16[0]!.params!['transformer.h.0.mlp.c_fc.weight']!;
    const b = wide[0]!.params!['transformer.h.0.mlp.c_fc.weight']!;
    expect(a.some((v, i) => v !== b[i])).toBe(true);
    expect(wide[1]!.params!['transformer.h.0.mlp.c_fc.weight']).toEqual(b);
  });

  it('fp16 with a scale that never overflows, stage 1 on 2 ranks: tracks fp32, no skipped step', async () => {
    const out = await runInProcess(2, { setup: 'b_adamw_clip', stage: 1, extra: { fp16: { enabled: true, initial_scale_power: 8 } } });
    for (const r of out) {
      expectTracks(r.losses);
      expect(r.skippedSteps).toBe(0);
      expect(r.lossScale).toBe(256);
    }
  });

  it('fp16 with the default 2^16 scale: overflowing steps are skipped on every rank as without ZeRO, and the scale drops', async () => {
    const extra = { fp16: { enabled: true } };
    const zeroRuns = await runInProcess(2, { setup: 'b_adamw_clip', stage: 2, extra });
    const [dp] = await runInProcess(2, { setup: 'b_adamw_clip', stage: 0, extra });
    expect(dp!.skippedSteps).toBeGreaterThan(0);
    for (const r of zeroRuns) {
      expect(r.skippedSteps).toBe(dp!.skippedSteps);
      expect(r.lossScale).toBe(dp!.lossScale);
      expect(r.lossScale).toBeLessThan(65536);
    }
  });
});

describe('a skipped step changes nothing', () => {
  for (const stage of [1, 2] as const) {
    it(`stage ${stage}: an fp16 overflow leaves weights, fp32 partitions and optimizer state untouched and halves the scale`, async () => {
      const out = await tiny(2, { zero: { stage }, precision: { dtype: 'float16', lossScaler: { initScale: 256, hysteresis: 1 } }, overflowAt: 2, steps: 4 });
      for (const r of out) {
        expect(r.skipped).toBe(1);
        expect(r.lossScale).toBe(128);
        expect(r.overflow!.weightsEqual).toBe(true);
        expect(r.overflow!.stateEqual).toBe(true);
        expect(r.overflow!.stepCountsAfter).toEqual(r.overflow!.stepCountsBefore);
        // Adam took 2 steps before the overflow (steps 0 and 1) and kept counting after it.
        expect(r.overflow!.stepCountsBefore.every((s) => s === 2)).toBe(true);
      }
      expect(out[1]!.params).toEqual(out[0]!.params);
    });
  }

  it('bf16 with a non-finite gradient stops with an error naming the parameter (bf16.nonfinite "error")', async () => {
    await expect(tiny(2, { zero: { stage: 2 }, precision: { dtype: 'bfloat16' }, overflowAt: 1 })).rejects.toThrow(
      /NonFiniteGradientError: bf16: non-finite \(inf or NaN\) gradient at step 2 in '(body|mid|head)\.(weight|bias)'/,
    );
  });
});
