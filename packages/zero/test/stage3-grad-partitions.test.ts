// ZeRO-3 gradient partitions: held in fp32, or in bf16 under `data_types.grad_accum_dtype`
// (DeepSpeed's gradient-accumulation dtype) and widened to fp32 one sub-group at a time when the
// optimizer steps. On one rank with one micro-batch a bf16 partition holds exactly the bf16
// gradient the fp32 one holds widened, so both train identically (clipping included); with more
// ranks or micro-batches it holds the fp32 sum rounded once. NVMe offload of parameters and
// optimizer gives the in-memory result bit for bit. Autograd keeps no gradient after ZeRO took it,
// and one rank (nothing to reduce) trains as plain data parallelism does.
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { masterToHalf, unscaleToMaster } from '@ds/precision';
import type { GradPartitionArgs, GradPartitionResult, RetentionResult } from './fixtures/stage3-grad-partitions.js';
import type { Stage3Args, Stage3Trajectory } from './fixtures/stage3-gpt2.js';

const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/stage3-grad-partitions.ts');
const TRAJECTORY = path.resolve(import.meta.dirname, 'fixtures/stage3-gpt2.ts');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ds-zero-grad-partitions-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${dirs++}`);

function run(nprocs: number, args: GradPartitionArgs): Promise<GradPartitionResult[]> {
  return launchInProcess<GradPartitionResult, GradPartitionArgs>({ nprocs, script: FIXTURE, exportName: 'gradPartitionsRun', args, timeoutMs: 90_000 });
}

function expectSameWeights(a: GradPartitionResult, b: GradPartitionResult, what: string): void {
  expect(a.params).not.toBeNull();
  expect(Object.keys(a.params!).sort()).toEqual(Object.keys(b.params!).sort());
  for (const [k, v] of Object.entries(a.params!)) {
    const w = b.params![k]!;
    const at = v.findIndex((x, i) => !Object.is(x, w[i]));
    if (at >= 0) expect.fail(`${what}: ${k}[${at}] = ${v[at]} vs ${w[at]}`);
  }
}

/** fp32 values rounded to bf16 (round to nearest even) and widened back. */
function bf16Round(values: readonly number[]): number[] {
  const bits = new Uint16Array(values.length);
  masterToHalf(Float32Array.from(values), bits, 'bfloat16');
  const out = new Float32Array(values.length);
  unscaleToMaster(bits, 'bfloat16', out, 1);
  return Array.from(out);
}

function expectRoundedOnce(half: GradPartitionResult, full: GradPartitionResult, what: string): void {
  expect(half.firstGrads.length).toBe(full.firstGrads.length);
  const want = bf16Round(full.firstGrads);
  const at = half.firstGrads.findIndex((x, i) => !Object.is(x, want[i]) && !(x === 0 && want[i] === 0));
  if (at >= 0) expect.fail(`${what}: gradient partition element ${at} is ${half.firstGrads[at]}, the fp32 sum ${full.firstGrads[at]} rounded to bf16 is ${want[at]}`);
  // The rounding is visible: some sums are not bf16 values.
  expect(full.firstGrads.some((x, i) => x !== want[i])).toBe(true);
}

describe('ZeRO-3 gradient partitions in the gradient-accumulation dtype (bf16 golden GPT-2)', () => {
  it('1 rank, 1 micro-batch, clipping on: bf16 partitions train exactly as fp32 ones, in memory and with parameters and optimizer on NVMe', async () => {
    const base = { gas: 1, gradientClipping: 0.5, steps: 3 };
    const [fp32] = await run(1, { ...base, accum: null });
    const [bf16] = await run(1, { ...base, accum: 'bf16' });
    // sub_group_size 7000 does not divide the flats: the NVMe step widens gradients in pieces spanning partitions.
    const [nvme] = await run(1, { ...base, accum: 'bfloat16', paramPath: fresh('p'), optimizerPath: fresh('o'), subGroupSize: 7000 });
    // Parameters on NVMe, optimizer in memory: each sub-group's partitions are written back as it steps.
    const [params] = await run(1, { ...base, accum: 'bf16', paramPath: fresh('p'), subGroupSize: 7000 });
    expect(fp32!.gradDtype).toBe('float32');
    expect(bf16!.gradDtype).toBe('bfloat16');
    // Clipping was in force (pre-clip norms above 0.5), so the coefficient reached the widened gradients.
    expect(fp32!.gradNorms.every((n) => n !== null && n > 0.5)).toBe(true);
    expect(bf16!.firstGrads).toEqual(fp32!.firstGrads);
    for (const r of [bf16!, nvme!, params!]) {
      expect(r.losses).toEqual(fp32!.losses);
      expect(r.gradNorms).toEqual(fp32!.gradNorms);
    }
    expectSameWeights(bf16!, fp32!, 'bf16 partitions vs fp32');
    expectSameWeights(nvme!, fp32!, 'bf16 partitions on NVMe vs fp32 in memory');
    expectSameWeights(params!, fp32!, 'bf16 partitions, parameters on NVMe vs fp32 in memory');
    // Two bytes per partition element instead of four.
    expect(bf16!.gradientEntries['zero-3 bfloat16 partition gradients']).toBe(2 * bf16!.gradElements);
    expect(bf16!.gradientEntries['zero-3 fp32 partition gradients']).toBeUndefined();
    expect(fp32!.gradientEntries['zero-3 fp32 partition gradients']).toBe(4 * fp32!.gradElements);
  }, 90_000);

  it('2 ranks: each partition holds the reduced fp32 gradient rounded once to bf16; 2 micro-batches with clipping on NVMe equal memory bit for bit', async () => {
    const [full] = await run(2, { accum: 'fp32', gas: 1, gradientClipping: 0, steps: 1 });
    const [half] = await run(2, { accum: 'bf16', gas: 1, gradientClipping: 0, steps: 1 });
    expect(full!.gradDtype).toBe('float32');
    expectRoundedOnce(half!, full!, '2 ranks');

    const accum = { accum: 'bf16', gas: 2, gradientClipping: 0.5, steps: 3 };
    const mem = await run(2, accum);
    const nvme = await run(2, { ...accum, paramPath: fresh('p2'), optimizerPath: fresh('o2'), subGroupSize: 7000 });
    const ref = await run(2, { ...accum, accum: null });
    for (const r of [0, 1]) {
      expect(nvme[r]!.losses).toEqual(mem[r]!.losses);
      expect(nvme[r]!.gradNorms).toEqual(mem[r]!.gradNorms);
      // 16-bit sums stay close to the fp32 ones.
      mem[r]!.losses.forEach((l, i) => expect(Math.abs(l - ref[r]!.losses[i]!)).toBeLessThan(2e-2 * Math.abs(ref[r]!.losses[i]!)));
    }
    expectSameWeights(nvme[0]!, mem[0]!, '2 ranks, 2 micro-batches: NVMe vs memory');
  }, 120_000);

  it('1 rank, 2 micro-batches: the second micro-batch adds in fp32 and rounds the sum once', async () => {
    const [full] = await run(1, { accum: null, gas: 2, gradientClipping: 0, steps: 1 });
    const [half] = await run(1, { accum: 'bf16', gas: 2, gradientClipping: 0, steps: 1 });
    expectRoundedOnce(half!, full!, '2 micro-batches');
  }, 60_000);

  it('fp16 with a dynamic loss scale on 1 rank: fp16 partitions stay scaled until the step, which unscales them and skips overflows as fp32 ones do', async () => {
    const base = { gas: 1, gradientClipping: 0, steps: 4, model: 'fp16' as const, extra: { fp16: { enabled: true, initial_scale_power: 32 } } };
    const [fp32] = await run(1, { ...base, accum: null });
    const [fp16] = await run(1, { ...base, accum: 'fp16' });
    expect(fp16!.gradDtype).toBe('float16');
    // 2^32 overflows fp16 gradients: the first steps are skipped while the scale comes down.
    expect(fp32!.skippedSteps).toBeGreaterThan(0);
    expect(fp16!.skippedSteps).toBe(fp32!.skippedSteps);
    expect(fp16!.losses).toEqual(fp32!.losses);
    expectSameWeights(fp16!, fp32!, 'fp16 partitions vs fp32');
  }, 60_000);

  it('a 16-bit grad_accum_dtype must be the dtype the model trains in', async () => {
    const [fp16] = await launchInProcess<string | null, GradPartitionArgs>({
      nprocs: 1, script: FIXTURE, exportName: 'gradPartitionsConfigError', args: { accum: 'fp16', gas: 1, gradientClipping: 0, steps: 0 },
    });
    expect(fp16).toMatch(/data_types\.grad_accum_dtype is "fp16" but the model trains in bfloat16/);
    const [fp32Model] = await launchInProcess<string | null, GradPartitionArgs>({
      nprocs: 1, script: FIXTURE, exportName: 'gradPartitionsConfigError', args: { accum: 'bf16', gas: 1, gradientClipping: 0, steps: 0, model: 'fp32' },
    });
    expect(fp32Model).toMatch(/data_types\.grad_accum_dtype is "bf16" but the model trains in float32/);
  }, 60_000);
});

describe('ZeRO-3 gradient handover', () => {
  it('autograd keeps no gradient ZeRO has taken: live memory at the last gradient is not the model\'s gradients', async () => {
    const [r] = await launchInProcess<RetentionResult>({ nprocs: 1, script: FIXTURE, exportName: 'gradientRetentionRun', args: {}, timeoutMs: 90_000 });
    const { gradientBytes, liveAtFirst, liveAtLast } = r!;
    expect(gradientBytes).toBeGreaterThan(10e6);
    expect(r!.largestParamBytes).toBeLessThan(0.1 * gradientBytes);
    // Held until backward returned, the gradients would add nearly all of gradientBytes between
    // the two; only the last gradient (live while its hooks run) may be there.
    expect(liveAtLast - liveAtFirst).toBeLessThan(r!.largestParamBytes + 0.1 * gradientBytes);
    expect(r!.gradsLeft).toBe(0);
    expect(r!.hookL1).toBeGreaterThan(0);
    // One staging buffer, as long as the largest parameter.
    expect(r!.stagingBytes).toBe(r!.largestParamBytes);
  }, 90_000);

  for (const setup of ['a_adamw', 'c_adamw_accum2'] as const) {
    it(`${setup} on 1 rank: gradients go straight into the partitions and training equals plain data parallelism bit for bit`, async () => {
      const args = (zero: Stage3Args['zero']): Stage3Args => ({ setup, steps: 4, zero });
      const [z3] = await launchInProcess<Stage3Trajectory, Stage3Args>({ nprocs: 1, script: TRAJECTORY, exportName: 'trajectory', args: args({ param_persistence_threshold: 0 }), timeoutMs: 90_000 });
      const [dp] = await launchInProcess<Stage3Trajectory, Stage3Args>({ nprocs: 1, script: TRAJECTORY, exportName: 'trajectory', args: args(null), timeoutMs: 90_000 });
      expect(z3!.mode).toBe('partitioned');
      expect(z3!.gas).toBe(setup === 'c_adamw_accum2' ? 2 : 1);
      expect(z3!.losses).toEqual(dp!.losses);
    }, 90_000);
  }
});
