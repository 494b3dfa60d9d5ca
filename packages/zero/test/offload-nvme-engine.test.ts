// offload_optimizer: { device: "nvme" } through initialize() at ZeRO stages 1-3 on 2 in-process
// ranks: the same trajectory and weights as the in-memory partitions, the state on disk, a
// resident-byte cap far below the optimizer state, and checkpoints in both directions.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { zero } from '../src/zero.js';
import { GOLDEN, type NvmeRun, type NvmeRunArgs } from './fixtures/gpt2-nvme.js';

const FIXTURE = path.resolve(import.meta.dirname, 'fixtures/gpt2-nvme.ts');
const TRAJ = JSON.parse(readFileSync(path.join(GOLDEN, 'trajectories.json'), 'utf8')) as {
  tolerance: { loss: { atol: number; rtol: number } };
  setups: Record<string, { loss: number[] }>;
};
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ds-zero-nvme-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let dirs = 0;
const fresh = (name: string) => path.join(tmp, `${name}-${dirs++}`);

function run(args: NvmeRunArgs): Promise<NvmeRun[]> {
  return launchInProcess<NvmeRun, NvmeRunArgs>({ nprocs: 2, script: FIXTURE, exportName: 'nvmeRun', args, timeoutMs: 90_000 });
}

function expectSameWeights(a: NvmeRun, b: NvmeRun): void {
  expect(a.params).not.toBeNull();
  expect(Object.keys(a.params!).sort()).toEqual(Object.keys(b.params!).sort());
  for (const [k, v] of Object.entries(a.params!)) {
    const w = b.params![k]!;
    const at = v.findIndex((x, i) => !Object.is(x, w[i]));
    if (at >= 0) expect.fail(`${k}[${at}] = ${v[at]} on NVMe, ${w[at]} in memory`);
  }
}

describe('offload_optimizer nvme at ZeRO stages 1-3 (GPT-2, 2 in-process ranks)', () => {
  for (const stage of [1, 2, 3] as const) {
    it(`stage ${stage}: fp32 trajectory and weights equal the in-memory run and follow the golden losses`, async () => {
      const nvmePath = fresh(`s${stage}`);
      const [mem, disk] = [await run({ stage, nvmePath: null, steps: 4 }), await run({ stage, nvmePath, steps: 4 })];
      expect(disk[0]!.updater).toMatch(stage === 3 ? /ZeRO-3/ : new RegExp(`zero stage ${stage}`));
      for (const r of [0, 1]) expect(disk[r]!.losses).toEqual(mem[r]!.losses);
      const tol = TRAJ.tolerance.loss;
      disk[0]!.losses.forEach((l, i) => {
        const e = TRAJ.setups.a_adamw!.loss[i]!;
        expect(Math.abs(l - e), `loss[${i}]`).toBeLessThanOrEqual(tol.atol + tol.rtol * Math.abs(e));
      });
      expectSameWeights(disk[0]!, mem[0]!);
      // Each rank wrote its own swap file: fp32 params + two moments of its partition, 4 steps read and written.
      for (const r of [0, 1]) {
        const s = disk[r]!.stats!;
        const file = path.join('zero_stage_3', 'optimizer', `rank${r}`, 'param_group_0.swp');
        expect(disk[r]!.swapFiles[file], `rank ${r}'s swap file`).toBeGreaterThanOrEqual(s.stateBytes);
        expect(s.stateBytes).toBeGreaterThan(12 * 50_000);
        expect(s.bytesRead).toBeGreaterThanOrEqual(4 * s.stateBytes);
        expect(s.bytesWritten).toBeGreaterThanOrEqual(5 * s.stateBytes);
      }
      expect(mem[0]!.stats).toBeNull();
    }, 60_000);
  }

  it('state larger than the buffer cap: resident bytes never exceed buffer_count x sub-group, bf16 weights match', async () => {
    const nvmePath = fresh('cap');
    const zeroKeys = { sub_group_size: 4096 };
    const extra = { bf16: { enabled: true } };
    const [mem, disk] = [
      await run({ stage: 2, nvmePath: null, steps: 3, zero: zeroKeys, extra }),
      await run({ stage: 2, nvmePath, steps: 3, zero: zeroKeys, extra, offload: { buffer_count: 4 } }),
    ];
    for (const r of [0, 1]) {
      const s = disk[r]!.stats!;
      expect(s.capacityBytes).toBe(4 * 4096 * 4);
      expect(s.stateBytes).toBeGreaterThan(10 * s.capacityBytes);
      expect(s.peakResidentBytes).toBeGreaterThan(0);
      expect(s.peakResidentBytes).toBeLessThanOrEqual(s.capacityBytes);
      // bf16 weights: the fp32 masters are not held in memory at all.
      expect(disk[r]!.residentMasterElements).toBe(0);
      expect(mem[r]!.residentMasterElements).toBeGreaterThan(50_000);
      expect(disk[r]!.losses).toEqual(mem[r]!.losses);
    }
    expectSameWeights(disk[0]!, mem[0]!);
  }, 60_000);

  it('stage 3 under bf16 with many sub-groups matches the in-memory run', async () => {
    const zeroKeys = { sub_group_size: 10_000 };
    const extra = { bf16: { enabled: true } };
    const [mem, disk] = [
      await run({ stage: 3, nvmePath: null, steps: 3, zero: zeroKeys, extra }),
      await run({ stage: 3, nvmePath: fresh('s3bf16'), steps: 3, zero: zeroKeys, extra, offload: { buffer_count: 3 } }),
    ];
    expect(disk[0]!.losses).toEqual(mem[0]!.losses);
    expect(disk[0]!.residentMasterElements).toBe(0);
    expect(disk[0]!.stats!.peakResidentBytes).toBeLessThanOrEqual(disk[0]!.stats!.capacityBytes);
    expectSameWeights(disk[0]!, mem[0]!);
  }, 60_000);

  it('checkpoints (bf16): NVMe -> NVMe, in-memory -> NVMe and NVMe -> in-memory resumes continue the 4-step run exactly', async () => {
    const extra = { bf16: { enabled: true } };
    for (const stage of [2, 3] as const) {
      const whole = await run({ stage, nvmePath: null, steps: 4, extra });
      const saved = fresh(`ckpt-nvme-s${stage}`);
      await run({ stage, nvmePath: fresh(`a${stage}`), steps: 2, saveDir: saved, extra });
      const resumed = await run({ stage, nvmePath: stage === 3 ? fresh(`b${stage}`) : null, steps: 2, firstStep: 2, loadDir: saved, extra });
      expect(resumed[0]!.losses, `stage ${stage}, saved on NVMe`).toEqual(whole[0]!.losses.slice(2));
      expectSameWeights(resumed[0]!, whole[0]!);
      if (stage === 3) {
        const fromMem = fresh(`ckpt-mem-s${stage}`);
        await run({ stage, nvmePath: null, steps: 2, saveDir: fromMem, extra });
        const loaded = await run({ stage, nvmePath: fresh(`c${stage}`), steps: 2, firstStep: 2, loadDir: fromMem, extra });
        expect(loaded[0]!.losses, `stage ${stage}, saved in memory`).toEqual(whole[0]!.losses.slice(2));
        expectSameWeights(loaded[0]!, whole[0]!);
      }
    }
  }, 60_000);

  it('requires nvme_path and names the key', () => {
    for (const stage of [1, 2, 3] as const) {
      expect(() => zero({ stage, offload_optimizer: { device: 'nvme' } })).toThrow(
        /zero_optimization\.offload_optimizer\.nvme_path is required when zero_optimization\.offload_optimizer\.device is "nvme"/,
      );
    }
    expect(() => zero({ stage: 2, offload_optimizer: { device: 'nvme', nvme_path: '' } })).toThrow(/nvme_path is required/);
  });
});
