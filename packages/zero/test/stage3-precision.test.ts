// ZeRO-3 under mixed precision takes over precision's fp32 masters (as partitions) and its loss
// scaler: bf16 and fp16 runs of the golden GPT-2 setup (b) must track the same run under plain
// data parallelism with the same precision — the same skipped fp16 steps, losses equal to the
// 16-bit rounding, gradient norms within 2e-3 (ZeRO-3 reduces gradients in fp32, data
// parallelism in the 16-bit dtype, so the sums round differently).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import type { Stage3Args, Stage3Trajectory } from './fixtures/stage3-gpt2.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'stage3-gpt2.ts');

function run(args: Stage3Args): Promise<Stage3Trajectory[]> {
  return launchInProcess<Stage3Trajectory, Stage3Args>({ nprocs: 2, script: FIXTURE, exportName: 'trajectory', args, timeoutMs: 60_000 });
}

describe('ZeRO-3 with mixed precision', () => {
  for (const [key, ulp] of [['bf16', 2 ** -5], ['fp16', 2 ** -8]] as const) {
    it(`${key}: tracks data parallelism with ${key}`, async () => {
      const extra = { [key]: { enabled: true } };
      const [z3] = await run({ setup: 'b_adamw_clip', zero: { param_persistence_threshold: 0 }, extra });
      const [dp] = await run({ setup: 'b_adamw_clip', zero: null, extra });
      expect(z3!.mode).toBe('partitioned');
      expect(dp!.mode).toBe('data-parallel');
      // The fp32 masters live as this rank's partitions only; precision's full copies are gone.
      expect(z3!.stateNames).toEqual(['loss_scaler', 'zero']);
      expect(dp!.stateNames).toEqual(['fp32_master_weights', 'loss_scaler']);
      expect(z3!.optimizerParamElements).toBe(z3!.partitionElements);
      // The model's partitions are 16-bit: Ψ·2/W bytes per rank (plus padding).
      expect(z3!.partitionBytes).toBe(2 * z3!.partitionElements);
      expect(z3!.partitionBytes).toBeLessThan(z3!.modelElements + 2 * 28);
      expect(dp!.optimizerParamElements).toBe(dp!.modelElements);
      expect(z3!.skippedSteps).toBe(dp!.skippedSteps);
      if (key === 'fp16') expect(z3!.skippedSteps).toBeGreaterThan(0); // the initial 2^16 scale overflows
      z3!.losses.forEach((l, i) => expect(Math.abs(l - dp!.losses[i]!), `loss ${i}`).toBeLessThanOrEqual(ulp * 4));
      z3!.gradNorms.forEach((g, i) => {
        const d = dp!.gradNorms[i];
        if (d === null) expect(g, `grad norm ${i} (skipped step)`).toBeNull();
        else expect(Math.abs(g! - d) / d, `grad norm ${i}`).toBeLessThan(2e-3);
      });
      // The partitioned run really trained: the loss went down from step 0.
      expect(z3!.losses[7]).toBeLessThan(z3!.losses[0]!);
    });
  }
});
