// ZeRO-Infinity's optimizer step with the Adam state on disk: a partition whose parameters and
// moments are far larger than the memory the test allows (at most two sub-groups resident),
// stepped sub-group by sub-group with prefetch and write-behind, must end bit for bit where an
// in-memory Adam over the whole partition ends.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Generator, nn, optim, randn, tensor } from '@ds/core';
import { NvmeAdamState, nativeFileIO, nvmeOptimizerStep, referenceFileIO, swapPath, type CpuAdamOptions, type FileIO } from '../src/offload/index.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'ds-zero-nvme-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

const native = nativeFileIO();
const IMPLS: [string, FileIO][] = [['reference', referenceFileIO], ...(native ? [['native', native] as [string, FileIO]] : [])];

const NUMEL = 100_003; // not a multiple of the sub-group size: the last sub-group is short
const SUB_GROUP = 8_192;
const STEPS = 4;

function gradsFor(step: number): Float32Array {
  return randn([NUMEL], { generator: new Generator(1000 + step) }).toFloat32Array();
}

/** The reference: the same partition as one in-memory parameter stepped by @ds/core's Adam. */
function inMemory(init: Float32Array, hyper: CpuAdamOptions) {
  const p = new nn.Parameter(tensor(init.slice()));
  const o = { lr: hyper.lr, betas: hyper.betas, eps: hyper.eps, weightDecay: hyper.weightDecay, biasCorrection: hyper.biasCorrection };
  const opt = hyper.adamwMode === false ? new optim.Adam([p], o) : new optim.AdamW([p], o);
  for (let s = 0; s < STEPS; s++) {
    p.grad = tensor(gradsFor(s));
    opt.step();
  }
  const st = opt.state.get(p)!;
  return { param: p.toFloat32Array(), expAvg: (st.expAvg as nn.Parameter).toFloat32Array(), expAvgSq: (st.expAvgSq as nn.Parameter).toFloat32Array() };
}

describe.each(IMPLS)('nvmeOptimizerStep (%s I/O)', (_l, io) => {
  it('steps a partition held on disk within a two-sub-group memory cap and matches in-memory AdamW exactly', async () => {
    const init = randn([NUMEL], { generator: new Generator(7) }).toFloat32Array();
    const hyper: CpuAdamOptions = { lr: 1e-2, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.1, adamwMode: true, biasCorrection: true };
    const dir = swapPath(path.join(root, `run${counter++}`), 'optimizer', 0);
    // The cap: two sub-groups of param + exp_avg + exp_avg_sq; the state is 13 sub-groups (~1.2 MB).
    const subGroupBytes = SUB_GROUP * 4;
    const cap = 2 * 3 * subGroupBytes;
    const state = await NvmeAdamState.create({ dir, numel: NUMEL, subGroupSize: SUB_GROUP, bufferCount: 6, init, io });
    expect(state.subGroups.length).toBe(13);
    expect(state.subGroups.at(-1)).toEqual({ index: 12, start: 12 * SUB_GROUP, numel: NUMEL - 12 * SUB_GROUP });
    expect(state.swapper.pool.capacityBytes).toBe(cap);
    expect(3 * NUMEL * 4).toBeGreaterThan(5 * cap);
    expect(statSync(state.swapper.file.path).size).toBeGreaterThanOrEqual(3 * NUMEL * 4);

    const seen: number[] = [];
    for (let s = 0; s < STEPS; s++) {
      const g = gradsFor(s);
      await nvmeOptimizerStep(state, g, hyper, { onUpdated: (start, params) => void (s === 0 && seen.push(start, params.length)) });
      // Never more than the cap resident, at any point of the step.
      expect(state.swapper.pool.peakResidentBytes).toBeLessThanOrEqual(cap);
      expect(state.swapper.pool.inUse).toBe(0);
    }
    // The next sub-group's reads did run while one was resident: the cap was reached.
    expect(state.swapper.pool.peakResidentBytes).toBe(cap);
    expect(state.swapper.stats.prefetchHits).toBe(STEPS * 13 * 3);
    expect(state.stepCount).toBe(STEPS);
    expect(seen.filter((_, i) => i % 2 === 0)).toEqual(state.subGroups.map((g) => g.start));

    const want = inMemory(init, hyper);
    expect(await state.read('param')).toEqual(want.param);
    expect(await state.read('exp_avg')).toEqual(want.expAvg);
    expect(await state.read('exp_avg_sq')).toEqual(want.expAvgSq);
    await state.close();
  });

  it('gives the same bits with L2 decay and no bias correction, without pipelining, and with DeepSpeed\'s default 4 buffers', async () => {
    const init = randn([NUMEL], { generator: new Generator(8) }).toFloat32Array();
    const hyper: CpuAdamOptions = { lr: 3e-3, betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0.05, adamwMode: false, biasCorrection: false };
    const want = inMemory(init, hyper);
    for (const variant of [{ bufferCount: 3, pipelineRead: false, pipelineWrite: false }, { bufferCount: 4 }]) {
      const dir = path.join(root, `run${counter++}`);
      const state = await NvmeAdamState.create({ dir, numel: NUMEL, subGroupSize: SUB_GROUP, init: (start, out) => out.set(init.subarray(start, start + out.length)), io, ...variant });
      for (let s = 0; s < STEPS; s++) {
        const g = gradsFor(s);
        await nvmeOptimizerStep(state, (start, n) => g.subarray(start, start + n), hyper);
      }
      expect(state.swapper.pool.peakResidentBytes).toBeLessThanOrEqual(variant.bufferCount * SUB_GROUP * 4);
      if (variant.pipelineRead === false) expect(state.swapper.stats.prefetchHits).toBe(0);
      expect(await state.read('param')).toEqual(want.param);
      expect(await state.read('exp_avg_sq')).toEqual(want.expAvgSq);
      await state.close();
    }
  });

  it('loads state written from outside (a checkpoint) and rejects what cannot work', async () => {
    const dir = path.join(root, `run${counter++}`);
    await expect(NvmeAdamState.create({ dir, numel: 10, subGroupSize: 4, bufferCount: 2, init: new Float32Array(10), io })).rejects.toThrow(
      /buffer_count must be >= 3 \(param, exp_avg and exp_avg_sq of one sub-group are resident together\), got 2/,
    );
    await expect(NvmeAdamState.create({ dir, numel: 10, subGroupSize: 4, bufferCount: 3, init: new Float32Array(9), io })).rejects.toThrow(/init has 9 elements but numel is 10/);
    const state = await NvmeAdamState.create({ dir, numel: 10, subGroupSize: 4, bufferCount: 3, init: new Float32Array(10), io });
    await state.write('param', Float32Array.from({ length: 10 }, (_, i) => i));
    expect(Array.from(await state.read('param'))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await expect(nvmeOptimizerStep(state, new Float32Array(9))).rejects.toThrow(/grads has 9 elements but the partition has 10/);
    await expect(nvmeOptimizerStep(state, () => new Float32Array(1))).rejects.toThrow(/the gradient of sub-group 0 \(elements 0\.\.4\) must be a Float32Array of 4/);
    await expect(state.read('momentum' as never)).rejects.toThrow(/unknown array 'momentum'; valid: 'param', 'exp_avg', 'exp_avg_sq'/);
    await state.close();
  });
});
