// F.linearCrossEntropy against the unfused crossEntropy(linear(h, w), t): loss and both
// gradients, on chunk sizes that do and do not divide the rows, with ignored targets, both
// reductions, an upstream scale, a retained graph and the bf16 fallback.
import { describe, expect, it } from 'vitest';
import { functional as F, tensor, type Tensor } from '../src/index.js';
import { KERNEL_MODES, leaf, withKernels } from './unit-helpers.js';

function maxDiff(a: Tensor, b: Tensor): number {
  const x = a.toFloat32Array();
  const y = b.toFloat32Array();
  expect(x.length).toBe(y.length);
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

const N = 13;
const C = 8;
const V = 37;
const targetsOf = (ignored: number[] = []): Tensor =>
  tensor(Array.from({ length: N }, (_, i) => (ignored.includes(i) ? -100 : (i * 7 + 3) % V)), { dtype: 'int64' });

function both(opts: { chunkRows?: number; reduction?: 'mean' | 'sum'; ignored?: number[]; upstream?: number }) {
  const t = targetsOf(opts.ignored);
  const run = (fused: boolean) => {
    const h = leaf([N, C], 1);
    const w = leaf([V, C], 2);
    const loss = fused
      ? F.linearCrossEntropy(h, w, t, { chunkRows: opts.chunkRows, reduction: opts.reduction })
      : F.crossEntropy(F.linear(h, w), t, { reduction: opts.reduction });
    F.mul(loss, opts.upstream ?? 1).backward();
    return { loss, h, w };
  };
  return { fused: run(true), plain: run(false) };
}

describe.each(KERNEL_MODES)('linearCrossEntropy (%s kernels)', (mode) => {
  withKernels(mode);

  for (const chunkRows of [1, 4, 5, 13, 100, undefined]) {
    it(`matches crossEntropy(linear) with ${chunkRows ?? 'default'} rows per chunk`, () => {
      const { fused, plain } = both({ chunkRows, ignored: [2, 9] });
      expect(Math.abs(fused.loss.item() - plain.loss.item())).toBeLessThan(1e-5);
      expect(maxDiff(fused.h.grad!, plain.h.grad!)).toBeLessThan(1e-6);
      expect(maxDiff(fused.w.grad!, plain.w.grad!)).toBeLessThan(1e-6);
      // a wrong denominator (every row counted) would be off by 13/11
      expect(fused.loss.item()).toBeGreaterThan(0);
    });
  }

  it('sum reduction and an upstream scale', () => {
    const { fused, plain } = both({ chunkRows: 4, reduction: 'sum', upstream: 0.25 });
    expect(Math.abs(fused.loss.item() - plain.loss.item())).toBeLessThan(1e-4);
    expect(maxDiff(fused.h.grad!, plain.h.grad!)).toBeLessThan(1e-6);
    expect(maxDiff(fused.w.grad!, plain.w.grad!)).toBeLessThan(1e-6);
  });

  it('a retained graph gives the same gradients on each backward', () => {
    const h = leaf([N, C], 1);
    const w = leaf([V, C], 2);
    const loss = F.linearCrossEntropy(h, w, targetsOf(), { chunkRows: 5 });
    loss.backward(undefined, { retainGraph: true });
    const once = w.grad!.toFloat32Array();
    loss.backward();
    const twice = w.grad!.toFloat32Array();
    for (let i = 0; i < once.length; i += 17) expect(twice[i]).toBeCloseTo(2 * once[i]!, 6);
  });

  it('only what needs a gradient gets one; no gradient pass without autograd', () => {
    const h = leaf([N, C], 1);
    const w = leaf([V, C], 2).detach();
    F.linearCrossEntropy(h, w, targetsOf()).backward();
    expect(h.grad).not.toBeNull();
    const frozen = F.linearCrossEntropy(h.detach(), w, targetsOf());
    expect(frozen.requiresGrad).toBe(false);
  });

  it('bf16: loss and gradients track the float32 result on the same (bf16-exact) values', () => {
    const t = targetsOf([4]);
    const run = (dtype: 'float32' | 'bfloat16', fused: boolean) => {
      // the same bf16-representable values in both dtypes
      const h = leaf([N, C], 1).to('bfloat16').to(dtype).detach().requiresGrad_(true);
      const w = leaf([V, C], 2).to('bfloat16').to(dtype).detach().requiresGrad_(true);
      const loss = fused ? F.linearCrossEntropy(h, w, t, { chunkRows: 5 }) : F.crossEntropy(F.linear(h, w), t);
      loss.backward();
      return { loss, h, w };
    };
    const ref = run('float32', true);
    const b = run('bfloat16', true);
    const plain = run('bfloat16', false);
    expect(b.loss.dtype).toBe('bfloat16');
    expect(b.h.grad!.dtype).toBe('bfloat16');
    expect(b.w.grad!.dtype).toBe('bfloat16');
    expect(Math.abs(b.loss.item() - ref.loss.item())).toBeLessThan(ref.loss.item() * 2 ** -7);
    const scale = (x: Tensor) => Math.max(...Array.from(x.toFloat32Array(), Math.abs));
    for (const key of ['h', 'w'] as const) {
      const err = maxDiff(b[key].grad!, ref[key].grad!);
      expect(err).toBeLessThan(scale(ref[key].grad!) * 2 ** -6);
      // no worse than the two bf16 ops, which round the logits to bf16 first
      expect(err).toBeLessThanOrEqual(maxDiff(plain[key].grad!, ref[key].grad!) * 1.5 + 1e-6);
    }
  });

  it('float16 falls back to the two ops', () => {
    const h = leaf([N, C], 1).to('float16');
    const w = leaf([V, C], 2).to('float16');
    const t = targetsOf();
    expect(F.linearCrossEntropy(h, w, t).item()).toBe(F.crossEntropy(F.linear(h, w), t).item());
  });

  it('names the argument that is wrong', () => {
    const h = leaf([N, C], 1);
    const w = leaf([V, C], 2);
    expect(() => F.linearCrossEntropy(h, leaf([V, C + 1], 2), targetsOf())).toThrow(/hidden must be \[N, C\] and weight \[V, C\], got \[13, 8\] and \[37, 9\]/);
    expect(() => F.linearCrossEntropy(h, w, tensor([1, 2], { dtype: 'int64' }))).toThrow(/targets must be \[13\]/);
    expect(() => F.linearCrossEntropy(h, w, targetsOf(), { chunkRows: 0 })).toThrow(/chunkRows must be a positive integer, got 0/);
    expect(() => F.linearCrossEntropy(h, w, targetsOf(), { reduction: 'none' as 'sum' })).toThrow(/reduction must be 'mean' or 'sum'/);
  });
});
