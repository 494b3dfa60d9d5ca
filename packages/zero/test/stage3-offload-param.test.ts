// offload_param: { device: "nvme" } at ZeRO stage 3 on the golden GPT-2 through initialize(): the
// trajectory and final weights equal the run with partitions in memory bit for bit (the same
// rounding writes the same values; only where they are kept changes), at 1 and 2 in-process
// ranks and with the optimizer in memory, "cpu" or on NVMe; memoryReport counts the swap buffers
// instead of the partitions; zeroInit writes partitions as it builds; bad keys name themselves;
// engine.close() removes the swap file.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { functional as F, manualSeed, nn, randn, type Tensor } from '@ds/core';
import { initialize } from '@ds/engine';
import { strategyFromConfig } from '../src/zero.js';
import type { ParamNvmeArgs, ParamNvmeResult } from './fixtures/stage3-param-nvme.js';

const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/stage3-param-nvme.ts');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ds-zero-param-nvme-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${dirs++}`);

function run(nprocs: number, args: ParamNvmeArgs): Promise<ParamNvmeResult[]> {
  return launchInProcess<ParamNvmeResult, ParamNvmeArgs>({ nprocs, script: FIXTURE, exportName: 'paramNvmeRun', args, timeoutMs: 90_000 });
}

function expectSameWeights(a: ParamNvmeResult, b: ParamNvmeResult): void {
  expect(a.params).not.toBeNull();
  expect(Object.keys(a.params!).sort()).toEqual(Object.keys(b.params!).sort());
  for (const [k, v] of Object.entries(a.params!)) {
    const w = b.params![k]!;
    const at = v.findIndex((x, i) => !Object.is(x, w[i]));
    if (at >= 0) expect.fail(`${k}[${at}] = ${v[at]} with offload_param nvme, ${w[at]} in memory`);
  }
}

/** Partitions live on disk: memoryReport counts the swap buffers, not the partitions, and the file holds them all. */
function expectOffloaded(r: ParamNvmeResult, elementBytes: number): void {
  const s = r.swap!;
  expect(s.swappedBytes).toBe(r.partitionBytes);
  expect(r.parameterEntries['zero-3 parameter partitions'] ?? 0).toBe(0);
  expect(r.parameterEntries['zero-3 parameter swap buffers (offload_param nvme)']).toBe(s.capacityBytes);
  // buffer_count x buffer_size elements, each buffer rounded up to the direct-I/O alignment.
  expect(s.capacityBytes).toBeGreaterThanOrEqual(2 * 16_384 * elementBytes);
  expect(s.capacityBytes).toBeLessThan(2 * (16_384 * elementBytes + 4096));
  expect(s.capacityBytes).toBeLessThan(r.partitionBytes);
  expect(s.peakResidentBytes).toBeGreaterThan(0);
  expect(s.peakResidentBytes).toBeLessThanOrEqual(s.capacityBytes);
  // Everything is released at each step, so each step reads every partition at least once
  // (forward; the backward reads again what was released in between), and writes each once.
  expect(s.bytesRead).toBeGreaterThanOrEqual(r.losses.length * s.swappedBytes);
  expect(s.bytesWritten).toBeGreaterThanOrEqual((r.losses.length + 1) * s.swappedBytes);
  // After a step the next pass's first partitions were read ahead (asynchronously) and used.
  expect(s.prefetchHits).toBeGreaterThan(0);
  const files = Object.keys(r.filesDuring);
  expect(files.some((f) => /zero_stage_3\/(float32|bfloat16)params\/rank\d\/partitions\.swp$/.test(f)), files.join(', ')).toBe(true);
  expect(r.filesAfter).toEqual([]);
}

describe('ZeRO-3 offload_param nvme (golden GPT-2, in-process ranks)', () => {
  for (const n of [1, 2]) {
    it(`fp32 on ${n} rank(s): losses and weights equal the in-memory partitions bit for bit`, async () => {
      const mem = await run(n, { paramPath: null, optimizer: 'none', steps: 2 });
      const disk = await run(n, { paramPath: fresh(`fp32-${n}`), optimizer: 'none', steps: 2 });
      for (let r = 0; r < n; r++) {
        expect(disk[r]!.losses).toEqual(mem[r]!.losses);
        expect(disk[r]!.wteHead).toEqual(mem[r]!.wteHead);
        expectOffloaded(disk[r]!, 4);
        expect(mem[r]!.swap).toBeNull();
      }
      expectSameWeights(disk[0]!, mem[0]!);
    }, 60_000);
  }

  it('bf16 with offload_optimizer nvme and cpu on 2 ranks: equal to the in-memory run; model state far above the memory cap', async () => {
    const mem = await run(2, { paramPath: null, optimizer: 'none', steps: 2, bf16: true, halveWte: true });
    // sub_group_size 7000 does not divide the partitions: the NVMe step hands parameters over in pieces.
    const both = await run(2, { paramPath: fresh('bf16-nvme'), optimizer: { nvmePath: fresh('opt') }, steps: 2, bf16: true, zero: { sub_group_size: 7000 }, halveWte: true });
    const cpu = await run(2, { paramPath: fresh('bf16-cpu'), optimizer: 'cpu', steps: 2, bf16: true, halveWte: true });
    for (const r of [0, 1]) {
      expect(both[r]!.losses).toEqual(mem[r]!.losses);
      expect(cpu[r]!.losses).toEqual(mem[r]!.losses);
      expect(both[r]!.wteHead).toEqual(mem[r]!.wteHead);
      expectOffloaded(both[r]!, 2);
      // The memory cap: both swap pools together. The model state they stream (bf16 partitions,
      // fp32 masters and two Adam moments: 14 bytes per element) is more than three times that,
      // and neither partitions nor masters are held in memory.
      const b = both[r]!;
      const cap = b.swap!.capacityBytes + b.optimizerCapacityBytes;
      expect(b.optimizerStateBytes).toBe(12 * b.partitionElements);
      expect(b.swap!.swappedBytes + b.optimizerStateBytes).toBeGreaterThan(3 * cap);
      expect(b.optimizerResidentElements).toBe(0);
      expect(mem[r]!.optimizerResidentElements).toBe(mem[r]!.partitionElements);
    }
    // Halved under withGatheredParameters({ modifierRank: 0 }): the edit reached the swapped partitions.
    expect(both[0]!.params!['transformer.wte.weight']!.slice(0, 8)).toEqual(mem[0]!.wteHead);
    expectSameWeights(both[0]!, mem[0]!);
    expectSameWeights(cpu[0]!, mem[0]!);
  }, 60_000);

  it('zeroInit writes partitions to disk while building (bf16, or fp32 recast in place) and trains like the in-memory zeroInit', async () => {
    const mem = await run(2, { paramPath: null, optimizer: 'none', steps: 2, bf16: true, zeroInit: true });
    const disk = await run(2, { paramPath: fresh('init'), optimizer: 'none', steps: 2, bf16: true, zeroInit: true });
    const recast = await run(1, { paramPath: fresh('recast'), optimizer: 'none', steps: 2, bf16: true, zeroInit: true, initFp32: true });
    const mem1 = await run(1, { paramPath: null, optimizer: 'none', steps: 2, bf16: true, zeroInit: true });
    expect(recast[0]!.losses).toEqual(mem1[0]!.losses);
    // Written as fp32 (4 bytes) and rewritten as bf16 in the same regions.
    expect(recast[0]!.swap!.swappedBytes).toBe(recast[0]!.partitionBytes);
    expectSameWeights(recast[0]!, mem1[0]!);
    for (const r of [0, 1]) {
      expect(disk[r]!.losses).toEqual(mem[r]!.losses);
      expectOffloaded(disk[r]!, 2);
      // Never all partitions in memory: at most the write window (buffer_count x buffer_size
      // elements) plus the parameter being registered whole.
      expect(mem[r]!.constructionPeakElements).toBeGreaterThanOrEqual(mem[r]!.partitionElements);
      expect(disk[r]!.constructionPeakElements).toBeLessThanOrEqual(2 * 16_384 + 16_384);
      expect(disk[r]!.constructionPeakElements).toBeLessThan(disk[r]!.partitionElements);
    }
    expectSameWeights(disk[0]!, mem[0]!);
  }, 60_000);

  it('checkpoints: saved with partitions on NVMe, resumed on NVMe and in memory, continue the 3-step run exactly', async () => {
    const whole = await run(2, { paramPath: null, optimizer: 'none', steps: 3, bf16: true });
    const saved = fresh('ckpt');
    await run(2, { paramPath: fresh('save'), optimizer: 'none', steps: 1, bf16: true, saveDir: saved });
    const onDisk = await run(2, { paramPath: fresh('load'), optimizer: 'none', steps: 2, firstStep: 1, bf16: true, loadDir: saved });
    const inMem = await run(2, { paramPath: null, optimizer: 'none', steps: 2, firstStep: 1, bf16: true, loadDir: saved });
    expect(onDisk[0]!.losses).toEqual(whole[0]!.losses.slice(1));
    expect(inMem[0]!.losses).toEqual(whole[0]!.losses.slice(1));
    expectSameWeights(onDisk[0]!, whole[0]!);
  }, 60_000);
});

describe('ZeRO-3 offload_param nvme: keys', () => {
  function model(): nn.Sequential {
    manualSeed(3);
    return new nn.Sequential(new nn.Linear(64, 64), new nn.GELU(), new nn.Linear(64, 2));
  }
  async function build(offload: Record<string, unknown>, lines: string[] = []) {
    const m = model();
    const config = {
      train_batch_size: 4,
      optimizer: { type: 'AdamW', params: { lr: 0.05 } },
      zero_optimization: { stage: 3, param_persistence_threshold: 100, offload_param: { device: 'nvme', ...offload } },
    };
    const { engine } = await initialize({ model: m, config, log: (l) => lines.push(l) });
    return { engine, model: m };
  }

  it('trains a single process, removes its swap file on close and says what pin_memory does', async () => {
    const dir = fresh('keys');
    const lines: string[] = [];
    const { engine, model: m } = await build({ nvme_path: dir, buffer_count: 1, buffer_size: 4096, pin_memory: true }, lines);
    const y = m.call(randn([4, 64])) as Tensor;
    engine.backward(F.mean(y.mul(y)));
    await engine.step();
    const text = lines.join('\n');
    expect(text).toMatch(/offload_param nvme: 2 parameter partitions \(16896 bytes\)/);
    expect(text).toMatch(/warning: zero_optimization\.offload_param\.pin_memory has no effect/);
    const files = () => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
    expect(files()).toEqual(['partitions.swp']);
    await engine.close();
    // The removal engine.close() starts finishes behind it, on the event loop.
    await new Promise((r) => setTimeout(r, 50));
    expect(files()).toEqual([]);
  });

  it('rejects bad keys, naming them', async () => {
    const dir = fresh('bad');
    await expect(build({})).rejects.toThrow(/zero_optimization\.offload_param\.nvme_path/);
    await expect(build({ nvme_path: dir, buffer_size: 1000 })).rejects.toThrow(
      /zero_optimization\.offload_param\.buffer_size is 1000 elements but parameter '0\.weight' has a partition of 4096/,
    );
    await expect(build({ nvme_path: dir, max_in_cpu: 5 })).rejects.toThrow(/zero_optimization\.offload_param\.max_in_cpu is 5; ds does not implement a CPU tier/);
    await expect(build({ nvme_path: dir, buffer_count: 0 })).rejects.toThrow(/zero_optimization\.offload_param\.buffer_count must be an integer >= 1/);
    expect(() => strategyFromConfig({ zero_optimization: { stage: 3, offload_param: { device: 'nvme', nvme_path: '' } } })).toThrow(/offload_param\.nvme_path is required/);
  });
});
