// ZeRO-3 checkpoints: every rank saves its own fp32 slices and their optimizer state; a run saved
// at 4 data-parallel ranks resumes at 2 (resharded) and at 4 (as saved) on the golden (a)
// trajectory; the per-rank files consolidate into the full fp32 model (zero_to_fp32).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { loadSafetensors, Tensor } from '@ds/core';
import type { StateValue } from '@ds/strategy';
import { consolidateStage3States } from '../src/stage3/index.js';
import { GOLDEN } from './fixtures/stage3-gpt2.js';
import type { PhaseArgs, PhaseResult } from './fixtures/stage3-checkpoint.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, 'fixtures', 'stage3-checkpoint.ts');
const traj = JSON.parse(readFileSync(path.join(GOLDEN, 'trajectories.json'), 'utf8'));
const TOL = traj.tolerance.loss as { atol: number; rtol: number };
const GOLDEN_LOSS = traj.setups.a_adamw.loss as number[];

function phase(n: number, args: PhaseArgs): Promise<PhaseResult[]> {
  return launchInProcess<PhaseResult, PhaseArgs>({ nprocs: n, script: FIXTURE, exportName: 'phase', args, timeoutMs: 60_000 });
}

function expectGolden(losses: number[], from: number): void {
  losses.forEach((l, i) => {
    const e = GOLDEN_LOSS[from + i]!;
    if (!(Math.abs(l - e) <= TOL.atol + TOL.rtol * Math.abs(e))) expect.fail(`loss[${from + i}] = ${l}, expected ${e}`);
  });
}

/** The engine's per-rank file: JSON with tensors referenced by name into the safetensors file. */
async function readRankState(dir: string, rank: number): Promise<StateValue> {
  const tensors = await loadSafetensors(path.join(dir, `zero_pp_rank_${rank}_mp_rank_00_optim_states.safetensors`));
  const json = JSON.parse(await readFile(path.join(dir, `zero_pp_rank_${rank}_mp_rank_00_optim_states.json`), 'utf8'));
  const unpack = (v: unknown): StateValue => {
    if (Array.isArray(v)) return v.map(unpack);
    if (v !== null && typeof v === 'object') {
      const ref = (v as Record<string, unknown>).__tensor__;
      if (typeof ref === 'string') return tensors[ref]!;
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unpack(x)]));
    }
    return v as StateValue;
  };
  return unpack(json.strategies.zero);
}

describe('ZeRO-3 checkpoints', () => {
  let dir: string;
  let saved: PhaseResult[];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ds-zero3-ckpt-'));
    saved = await phase(4, { dir, from: 0, to: 4, save: true });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('saved at 4 ranks after 4 golden steps', () => {
    expectGolden(saved[0]!.losses, 0);
    expect(saved[0]!.globalSteps).toBe(4);
  });

  it('resumes at 2 ranks (resharded) on the golden trajectory', async () => {
    const out = await phase(2, { dir, from: 4, to: 8, load: true });
    for (const r of out) {
      expect(r.globalSteps).toBe(8);
      expectGolden(r.losses, 4);
    }
  });

  it('resumes at 4 ranks (as saved) on the golden trajectory', async () => {
    const out = await phase(4, { dir, from: 4, to: 6, load: true });
    expectGolden(out[0]!.losses, 4);
  });

  it('consolidates the per-rank files into the full fp32 model', async () => {
    const tag = path.join(dir, 'ckpt');
    const states = await Promise.all([0, 1, 2, 3].map((r) => readRankState(tag, r)));
    const full = consolidateStage3States(states);
    const expected = saved[0]!.saved!;
    expect(Object.keys(full).sort()).toEqual(Object.keys(expected).sort());
    for (const [name, values] of Object.entries(expected)) {
      expect(full[name]).toBeInstanceOf(Tensor);
      expect(Array.from(full[name]!.toFloat32Array()), name).toEqual(values);
    }
    // A partial set of ranks cannot be consolidated.
    expect(() => consolidateStage3States(states.slice(0, 3))).toThrow(/slice 3 of 4 of parameter '.*' is missing/);
  });
});
