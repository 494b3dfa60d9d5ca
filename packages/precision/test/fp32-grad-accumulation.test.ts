// Gradient accumulation across micro-batches in fp32 (data_types.grad_accum_dtype): small
// contributions that a 16-bit running sum rounds away are kept exactly, the fp32 buffers are
// allocated once, and inf/NaN in any micro-batch still reaches the step's check.
import { describe, expect, it } from 'vitest';
import { nn, optim, tensor, zeros, type Tensor } from '@ds/core';
import { initDistributed } from '@ds/comm';
import { precision, type GradAccumDType, type HalfDType, type PrecisionOptions } from '@ds/precision';
import { f32, makeContext, makeParts, setHalfGrad } from './parts.js';

const world = await initDistributed();

/** loss = sum(w * c): the gradient of `w` is exactly `c` (times the loss scale). */
class Dot extends nn.Module {
  readonly w: nn.Parameter;
  constructor(n: number) {
    super();
    this.w = this.registerParameter('w', new nn.Parameter(zeros([n])))!;
  }
  forward(c: Tensor): Tensor {
    return this.w.mul(c).sum();
  }
}

// Per element, four micro-batches whose 16-bit running sum loses the small ones:
// bf16 keeps 8 significant bits, so 1 + 2^-9 rounds to 1 and 256 + 1 (a tie) to 256.
const BF16_MICRO = [
  [1, 0.5, 256],
  [2 ** -9, 0.5, 1],
  [2 ** -9, 0.5, 1],
  [2 ** -9, 0.5, 1],
];

function setup(options: PrecisionOptions, n: number) {
  const model = new Dot(n);
  // SGD with lr 1 from zero weights: the master after one step is minus the gradient it used.
  const opt = new optim.SGD(model.parameters(), { lr: 1 });
  const parts = makeParts(model, opt);
  const ctx = makeContext(world);
  precision(options).apply(parts, ctx);
  return { model, parts, ctx, master: opt.paramGroups[0]!.params[0]! };
}

/** Drive `micro` micro-batches as the engine does, then the boundary: returns the master after the step. */
async function accumulate(s: ReturnType<typeof setup>, micro: number[][], dtype: HalfDType, inject?: (k: number) => void) {
  const { model, parts } = s;
  const seen: (number[] | null)[] = [];
  for (const [k, c] of micro.entries()) {
    const boundary = k === micro.length - 1;
    parts.gradSync.beforeBackward(boundary);
    const loss = model.call(tensor(c).to(dtype)) as Tensor;
    (parts.lossScale.scale !== 1 ? loss.mul(parts.lossScale.scale) : loss).backward();
    inject?.(k);
    parts.gradSync.afterBackward?.(boundary);
    seen.push(s.master.grad ? f32(s.master.grad) : null);
  }
  await parts.gradSync.finish();
  const r = await parts.updater.step();
  parts.updater.zeroGrad();
  return { r, seen, master: f32(s.master) };
}

describe('precision: gradient accumulation dtype', () => {
  it('bf16: a bf16 running sum loses micro-batch contributions, the fp32 one keeps them exactly', async () => {
    const bf = setup({ dtype: 'bfloat16', gradAccumDtype: 'bfloat16' }, 3);
    const lost = await accumulate(bf, BF16_MICRO, 'bfloat16');
    expect(lost.master).toEqual([-1, -2, -256]);
    expect(lost.seen).toEqual([null, null, null, null]); // the sum lived in the bf16 .grad

    const fp = setup({ dtype: 'bfloat16' }, 3); // fp32 is the bf16 default
    expect(fp.ctx.logs.join('\n')).toContain('gradients accumulate in float32');
    const kept = await accumulate(fp, BF16_MICRO, 'bfloat16');
    expect(kept.seen).toEqual([[1, 0.5, 256], [1 + 2 ** -9, 1, 257], [1 + 2 * 2 ** -9, 1.5, 258], [1 + 3 * 2 ** -9, 2, 259]]);
    expect(kept.master).toEqual([-(1 + 3 * 2 ** -9), -2, -259]);
    // the model's bf16 weights are the masters rounded to nearest even
    expect(f32(fp.model.w)).toEqual([-(1 + 2 ** -7), -2, -260]);
    expect(fp.model.w.grad).toBeNull();
  });

  it('the fp32 buffers are allocated once and reused; the first micro-batch overwrites last step\'s sum', async () => {
    const s = setup({ dtype: 'bfloat16' }, 3);
    const buffers: Tensor[] = [];
    for (let step = 0; step < 3; step++) {
      for (let k = 0; k < 2; k++) {
        s.parts.gradSync.beforeBackward(k === 1);
        (s.model.call(tensor([1, 2, 3]).to('bfloat16')) as Tensor).backward();
        s.parts.gradSync.afterBackward!(k === 1);
        buffers.push(s.master.grad!);
      }
      expect(f32(s.master.grad!)).toEqual([2, 4, 6]);
      await s.parts.gradSync.finish();
      await s.parts.updater.step();
      s.parts.updater.zeroGrad();
      expect(s.master.grad).toBeNull();
    }
    expect(new Set(buffers).size).toBe(1);
  });

  it('an inf in one micro-batch survives the fp32 sum: bf16 "skip" skips the step and clears the sums', async () => {
    const s = setup({ dtype: 'bfloat16', nonfinite: 'skip' }, 3);
    const r = await accumulate(s, BF16_MICRO, 'bfloat16', (k) => k === 1 && setHalfGrad(s.model.w, 2, 0x7f80));
    expect(r.seen[1]![2]).toBe(Infinity);
    expect(r.r.applied).toBe(false);
    expect(r.master).toEqual([0, 0, 0]);
    expect(s.master.grad).toBeNull();
    expect(s.ctx.logs.at(-1)).toContain('non-finite (inf/NaN) gradient, skipping the step');
  });

  it('fp16 with fp32 accumulation sums the scaled gradients in fp32 and unscales once, at the step', async () => {
    // Scaled by 1024, the micro-gradients are 1024 and 0.25: fp16's spacing at 1024 is 1.
    const micro = [[1], [2 ** -12], [2 ** -12], [2 ** -12]];
    const half = await accumulate(setup({ dtype: 'float16', lossScaler: 1024 }, 1), micro, 'float16');
    expect(half.master).toEqual([-1]);
    const full = await accumulate(setup({ dtype: 'float16', lossScaler: 1024, gradAccumDtype: 'float32' }, 1), micro, 'float16');
    expect(full.master).toEqual([-(1 + 3 * 2 ** -12)]);
  });

  it('gradAccumDtype must be float32 or the model dtype', () => {
    expect(() => precision({ dtype: 'float16', gradAccumDtype: 'bfloat16' }))
      .toThrow("precision: 'gradAccumDtype' must be 'float32' or the model dtype 'float16', got string \"bfloat16\"");
    expect(() => precision({ dtype: 'bfloat16', gradAccumDtype: 'float64' as GradAccumDType }))
      .toThrow("precision: 'gradAccumDtype' must be 'float32' or the model dtype 'bfloat16', got string \"float64\"");
  });
});
