// Acceptance: golden GPT-2 trajectories (a), (b), (c) under ZeRO stages 1 and 2 through a
// DeepSpeed config, at 2 and 4 in-process ranks: every rank trains on its slice of the same
// global batch, and losses (and (b)'s pre-clip gradient norms, computed over partitions) match
// the single-process PyTorch reference within the manifest tolerance. The same runs measure
// what each rank holds: optimizer state for 1/D of the parameters, and (stage 2) no full gradients.
import { describe, expect, it } from 'vitest';
import { planFlatLayout } from '../src/stage12/partition-layout.js';
import type { Setup, ZeroRun } from './fixtures/gpt2-zero.js';
import { checkGolden, runInProcess } from './fixtures/run-ranks.js';

// (c) needs 2 micro-batches of the 4-row global batch: with 4 ranks a micro-batch would be half a row.
const cases: [Setup, number[]][] = [
  ['a_adamw', [2, 4]],
  ['b_adamw_clip', [2, 4]],
  ['c_adamw_accum2', [2]],
];

/** GPT-2's parameters form one optimizer group on one reduce group: one flat, padded to 2·D. */
function expectPartitioned(r: ZeroRun, n: number, stage: 1 | 2): void {
  const psi = r.modelElements;
  const ps = planFlatLayout([psi], n).partitionSize;
  expect(r.optimizerElements).toBe(ps);
  // AdamW keeps exp_avg and exp_avg_sq in fp32: 8 bytes per element of this rank's partition.
  expect(r.optimizerStateBytes).toBe(8 * ps);
  expect(r.optimizerStateBytes).toBeGreaterThanOrEqual((8 * psi) / n);
  expect(r.optimizerStateBytes).toBeLessThan((8 * (psi + 2 * n)) / n);
  // The partition's fp32 gradient: Ψ/D elements, not Ψ.
  expect(r.optimizerGradBytes).toBe(4 * ps);
  // Stage 2 frees each full gradient as soon as it is packed for reduction; stage 1 keeps them to the boundary.
  expect(r.gradsAfterFirstBackward).toBe(stage === 2 ? 0 : 28);
}

describe('ZeRO stages 1 and 2: golden GPT-2 trajectories through initialize()', () => {
  for (const stage of [1, 2] as const) {
    for (const [setup, sizes] of cases) {
      for (const n of sizes) {
        it(`stage ${stage}, ${setup} on ${n} in-process ranks`, async () => {
          const out = await runInProcess(n, { setup, stage });
          expect(out[0]!.microBatch * out[0]!.gas * n).toBe(4);
          expect(out[0]!.updater).toBe(`zero stage ${stage}`);
          checkGolden(setup, out);
          for (const r of out) expectPartitioned(r, n, stage);
        });
      }
    }
  }

  it('without ZeRO the same run keeps optimizer state for every parameter on every rank (8Ψ bytes)', async () => {
    const [r] = await runInProcess(2, { setup: 'a_adamw', stage: 0, steps: 1 });
    expect(r!.optimizerStateBytes).toBe(8 * r!.modelElements);
  });
});
