// ZeRO checkpoints: every rank saves its fp32 partitions and their optimizer state; a run with
// another data-parallel size reshards them on load and continues on the golden trajectory;
// zero_to_fp32 consolidation gives the full fp32 weights under the model's (Hugging Face) names.
import { copyFile, mkdtemp, mkdir, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bf16BitsToF32, f32ToBf16Bits, loadSafetensors, type Tensor } from '@ds/core';
import { GPT2LMHeadModel } from '@ds/models';
import { consolidateZeroCheckpoint, writeFp32Checkpoint, zeroToFp32Main } from '../src/checkpoint/index.js';
import { GOLDEN, type ZeroRun } from './fixtures/gpt2-zero.js';
import { TRAJECTORIES, checkGolden, expectClose, runInProcess } from './fixtures/run-ranks.js';

let dir: string;
let saved: ZeroRun[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ds-zero-ckpt-'));
  // Stage 2 on 4 ranks, trajectory (a), checkpoints after step 4 and step 8.
  saved = await runInProcess(4, { setup: 'a_adamw', stage: 2, saveDir: path.join(dir, 'run'), saveAfter: [4, 8], returnParams: true });
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('ZeRO-2 checkpoints across data-parallel sizes', () => {
  it('writes one partition file per rank and no replicated optimizer state', async () => {
    checkGolden('a_adamw', saved);
    const files = await readdir(path.join(dir, 'run', 'global_step4'));
    for (let r = 0; r < 4; r++) expect(files).toContain(`zero_pp_rank_${r}_mp_rank_00_optim_states.safetensors`);
    const optim = await loadSafetensors(path.join(dir, 'run', 'global_step4', 'mp_rank_00_optim_states.safetensors'));
    expect(Object.keys(optim)).toEqual([]);
    // Rank 1's file holds its partition (Ψ/4 elements) of the masters and of both Adam moments.
    const shard = await loadSafetensors(path.join(dir, 'run', 'global_step4', 'zero_pp_rank_1_mp_rank_00_optim_states.safetensors'));
    const quarter = saved[0]!.modelElements / 4;
    expect(Object.values(shard).map((t) => t.numel)).toEqual([quarter, quarter, quarter]);
  });

  it('saved at 4 ranks, loaded at 2: the resumed run continues the uninterrupted trajectory', async () => {
    const out = await runInProcess(2, { setup: 'a_adamw', stage: 2, loadDir: path.join(dir, 'run'), loadTag: 'global_step4', firstStep: 4, steps: 4 });
    checkGolden('a_adamw', out, 4);
    for (const r of out) expectClose(r.losses, saved[0]!.losses.slice(4), TRAJECTORIES.tolerance.loss, 'resumed vs uninterrupted loss');
  });

  it('saved at 4 ranks, loaded at 4 ranks under stage 1 (same partition layout): the same trajectory', async () => {
    const out = await runInProcess(4, { setup: 'a_adamw', stage: 1, loadDir: path.join(dir, 'run'), loadTag: 'global_step4', firstStep: 4, steps: 2 });
    checkGolden('a_adamw', out, 4);
  });
});

describe('zero_to_fp32 consolidation', () => {
  let full: Record<string, Tensor>;
  beforeAll(async () => {
    full = await consolidateZeroCheckpoint(path.join(dir, 'run'));
  });

  it('gives exactly the fp32 weights the 4-rank run ended with, under the model state-dict names', () => {
    const live = saved[0]!.params!;
    expect(Object.keys(full).sort()).toEqual(Object.keys(live).sort());
    for (const [name, values] of Object.entries(live)) expect(full[name]!.toFloat32Array(), name).toEqual(values);
  });

  it('matches the single-process reference weights after 8 steps (golden final_params_a_adamw)', async () => {
    const golden = await loadSafetensors(path.join(GOLDEN, 'final_params_a_adamw.safetensors'));
    for (const [name, t] of Object.entries(golden)) {
      expectClose(Array.from(full[name]!.toFloat32Array()), Array.from(t.toFloat32Array()), { atol: 1e-4, rtol: 1e-3 }, name);
    }
  });

  it('writes one safetensors file that a plain GPT-2 loads, and the CLI does the same for a chosen tag', async () => {
    const out = path.join(dir, 'hf');
    await mkdir(out);
    expect(await writeFp32Checkpoint(path.join(dir, 'run'), path.join(out, 'model.safetensors'))).toBe(Object.keys(full).length);
    await copyFile(path.join(GOLDEN, 'config.json'), path.join(out, 'config.json'));
    const model = await GPT2LMHeadModel.fromPretrained(out);
    for (const [name, p] of model.namedParameters()) expect(p.toFloat32Array(), name).toEqual(full[name]!.toFloat32Array());

    const lines: string[] = [];
    const io = { log: (l: string) => lines.push(l), error: (l: string) => lines.push(`E ${l}`) };
    expect(await zeroToFp32Main([path.join(dir, 'run'), path.join(out, 'step4.safetensors'), '--tag', 'global_step4'], io)).toBe(0);
    const step4 = await loadSafetensors(path.join(out, 'step4.safetensors'));
    expect(step4['transformer.wte.weight']!.toFloat32Array()).not.toEqual(full['transformer.wte.weight']!.toFloat32Array());
    expect(await zeroToFp32Main([path.join(dir, 'run')], io)).toBe(2);
    expect(lines.at(-1)).toMatch(/^E expected a checkpoint directory and an output file, got 1 argument\(s\)\nusage: zero_to_fp32/);
    expect(await zeroToFp32Main([path.join(dir, 'run'), path.join(out, 'x.safetensors'), '-t', 'global_step9'], io)).toBe(1);
    expect(lines.at(-1)).toMatch(/^E zero_to_fp32: zero checkpoint: no tag "global_step9" in /);
  });

  it('refuses a checkpoint with a rank file missing or corrupt', async () => {
    const copy = path.join(dir, 'broken');
    await mkdir(copy);
    const src = path.join(dir, 'run', 'global_step8');
    for (const f of await readdir(src)) await copyFile(path.join(src, f), path.join(copy, f));
    await writeFile(path.join(copy, 'zero_pp_rank_2_mp_rank_00_optim_states.safetensors'), 'garbage');
    await expect(consolidateZeroCheckpoint(copy)).rejects.toThrow(/zero_pp_rank_2_mp_rank_00_optim_states\.safetensors has 7 bytes but was saved with \d+; the file is truncated or corrupt/);
    await unlink(path.join(copy, 'zero_pp_rank_2_mp_rank_00_optim_states.json'));
    await expect(consolidateZeroCheckpoint(copy)).rejects.toThrow(/has per-rank files for ranks 0, 1, 3; rank 2's is missing/);
  });

  it('bf16: consolidation takes the fp32 masters, not the rounded bf16 weights', async () => {
    const bf = path.join(dir, 'bf16');
    await runInProcess(2, { setup: 'a_adamw', stage: 1, extra: { bf16: { enabled: true } }, steps: 3, saveDir: bf });
    const model = await loadSafetensors(path.join(bf, 'global_step3', 'mp_rank_00_model_states.safetensors'));
    const fp32 = await consolidateZeroCheckpoint(bf);
    const w = fp32['transformer.h.0.mlp.c_fc.weight']!.toFloat32Array();
    const half = model['transformer.h.0.mlp.c_fc.weight']!;
    expect(half.dtype).toBe('bfloat16');
    const bits = half.data() as Uint16Array;
    // Every master rounds to the bf16 weight the model computed with...
    w.forEach((v, i) => expect(f32ToBf16Bits(v)).toBe(bits[i]));
    // ...but holds more than bf16's 8 significant bits.
    expect(Array.from(w).filter((v, i) => v !== bf16BitsToF32(bits[i]!)).length).toBeGreaterThan(w.length / 2);
  });
});
