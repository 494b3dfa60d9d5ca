// bf16 with gradient accumulation through initialize() and a JSON config: gradients accumulate in
// fp32 (data_types.grad_accum_dtype defaults to fp32 for bf16 without ZeRO), the data-parallel
// all-reduce and the update read the fp32 sums, and checkpoints resume bit-identically.
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { launchInProcess } from '@ds/comm';
import { tensor } from '@ds/core';
import type { AccumArgs, AccumResult } from './fixtures/bf16-accum.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'bf16-accum.ts');
const run = (n: number, args: AccumArgs) => launchInProcess<AccumResult, AccumArgs>({ nprocs: n, script: FIXTURE, exportName: 'run', args, timeoutMs: 60_000 });
const BF16 = { bf16: { enabled: true } };

/** Per parameter, the fp32 running sum of one rank's bf16 micro-batch gradients, in micro-batch order. */
function fp32Sums(r: AccumResult): Float32Array[] {
  return r.micro[0]!.map((_, i) => {
    const acc = new Float32Array(r.micro[0]![i]!.length);
    for (const m of r.micro) m[i]!.forEach((v, j) => (acc[j] = acc[j]! + v));
    return acc;
  });
}

/** Values rounded to bfloat16 (round to nearest even), back as fp32. */
function bf16(xs: ArrayLike<number>): Float32Array {
  return tensor(Float32Array.from(xs as ArrayLike<number>), { dtype: 'bfloat16' }).toFloat32Array();
}

function mismatches(actual: number[][], expected: Float32Array[]): number {
  let n = 0;
  actual.forEach((g, i) => g.forEach((v, j) => (n += v === expected[i]![j] ? 0 : 1)));
  return n;
}

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('bf16 with gradient_accumulation_steps 4', () => {
  it('1 rank: the optimizer steps on exactly the fp32 sum of the bf16 micro-batch gradients; bf16 accumulation does not', async () => {
    const [fp32] = await run(1, { steps: 1, record: true, extra: BF16 });
    expect(fp32!.micro).toHaveLength(4);
    expect(mismatches(fp32!.stepped, fp32Sums(fp32!))).toBe(0);
    // The same run summing in the parameters' bf16 .grad rounds after every micro-batch.
    const [bf16] = await run(1, { steps: 1, record: true, bf16Accum: true });
    const total = bf16!.stepped.reduce((a, g) => a + g.length, 0);
    expect(mismatches(bf16!.stepped, fp32Sums(bf16!))).toBeGreaterThan(total / 4);
  });

  it('2 ranks, communication_data_type fp32: each rank\'s fp32 sum is all-reduced in fp32 and averaged, exactly, and the ranks agree', async () => {
    const out = await run(2, { steps: 1, record: true, extra: { ...BF16, communication_data_type: 'fp32' } });
    const [a, b] = [fp32Sums(out[0]!), fp32Sums(out[1]!)];
    const mean = a.map((x, i) => x.map((v, j) => Math.fround(v + b[i]![j]!) * 0.5));
    for (const r of out) expect(mismatches(r.stepped, mean)).toBe(0);
  });

  it('2 ranks, by default (as DeepSpeed): the fp32 sums are reduced in bf16, the model dtype', async () => {
    const out = await run(2, { steps: 1, record: true, extra: BF16 });
    const [a, b] = [fp32Sums(out[0]!), fp32Sums(out[1]!)];
    // each sum rounded to bf16, added in fp32 and rounded to bf16 once, then halved (exact)
    const mean = a.map((x, i) => bf16(x.map((v, j) => Math.fround(bf16([v])[0]! + bf16([b[i]![j]!])[0]!))).map((v) => v * 0.5));
    for (const r of out) expect(mismatches(r.stepped, mean)).toBe(0);
    // and that is not the fp32 reduction
    const exact = a.map((x, i) => x.map((v, j) => Math.fround(v + b[i]![j]!) * 0.5));
    expect(mismatches(out[0]!.stepped, exact)).toBeGreaterThan(0);
  });

  it('1 and 2 ranks: the loss trajectory tracks the fp32 run', async () => {
    const [ref] = await run(1, { steps: 4 });
    for (const n of [1, 2]) {
      const out = await run(n, { steps: 4, extra: BF16 });
      // Losses are bf16 values (8 significant bits, ~0.4 % apart at this loss) of bf16 activations.
      out[0]!.losses.forEach((l, i) => expect(Math.abs(l - ref!.losses[i]!) / ref!.losses[i]!, `${n} ranks, step ${i}`).toBeLessThan(1e-2));
    }
  });

  it('a checkpoint resumes bit-identically (masters, AdamW state; saved at a boundary, no fp32 sums pending)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'ds-bf16-accum-'));
    dirs.push(dir);
    const [full] = await run(1, { steps: 4, extra: BF16 });
    const [first] = await run(1, { steps: 2, extra: BF16, save: dir });
    const [second] = await run(1, { steps: 2, from: 2, extra: BF16, load: dir });
    expect([...first!.losses, ...second!.losses]).toEqual(full!.losses);
    expect(second!.final).toEqual(full!.final);
  });
});
