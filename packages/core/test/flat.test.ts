// Flat buffers: packing tensors into one storage, views sharing it, rebinding parameters in
// place (identity and values kept) and alignment padding.
import { describe, expect, it } from 'vitest';
import { Generator, functional as F, flattenTensors, nn, noGrad, tensor, zeros, type Tensor } from '../src/index.js';
import { KERNEL_MODES, vals, withKernels } from './unit-helpers.js';

function sample(): Tensor[] {
  return [
    tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]),
    tensor([7, 8, 9, 10]),
    tensor(11),
  ];
}

describe.each(KERNEL_MODES)('flat buffers (%s kernels)', (mode) => {
  withKernels(mode);

  it('packs tensors back to back in input order', () => {
    const ts = sample();
    const { flat, offsets, views } = flattenTensors(ts);
    expect(flat.shape).toEqual([11]);
    expect(flat.dtype).toBe('float32');
    expect(offsets).toEqual([0, 6, 10]);
    expect(vals(flat)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    expect(views.map((v) => v.shape)).toEqual([[2, 3], [4], []]);
    expect(views.map((v) => v.offset)).toEqual([0, 6, 10]);
    views.forEach((v, i) => {
      expect(v.toArray()).toEqual(ts[i]!.toArray());
      expect(v.isContiguous()).toBe(true);
      expect(v.requiresGrad).toBe(false);
    });
  });

  it('views share storage with the flat buffer in both directions', () => {
    const { flat, views } = flattenTensors(sample());
    for (const v of views) expect(v.storage).toBe(flat.storage);
    noGrad(() => views[1]!.fill_(0));
    expect(vals(flat)).toEqual([1, 2, 3, 4, 5, 6, 0, 0, 0, 0, 11]);
    noGrad(() => flat.mul_(2));
    expect(views[0]!.toArray()).toEqual([
      [2, 4, 6],
      [8, 10, 12],
    ]);
    expect(views[2]!.item()).toBe(22);
    // one fused update over the flat buffer reaches every view
    noGrad(() => flat.add_(1));
    expect(vals(views[1]!)).toEqual([1, 1, 1, 1]);
  });

  it('without rebind the inputs are copied, not aliased', () => {
    const ts = sample();
    const { flat } = flattenTensors(ts);
    expect(ts[0]!.storage).not.toBe(flat.storage);
    noGrad(() => flat.fill_(0));
    expect(vals(ts[1]!)).toEqual([7, 8, 9, 10]);
  });

  it('rebind re-points the originals at their slice, keeping identity, values and flags', () => {
    const a = tensor([
      [1, 2],
      [3, 4],
    ], { requiresGrad: true });
    const b = tensor([5, 6, 7], { requiresGrad: true });
    const ids = [a.id, b.id];
    const { flat } = flattenTensors([a, b], { rebind: true });
    expect([a.id, b.id]).toEqual(ids);
    expect(a.storage).toBe(flat.storage);
    expect(b.storage).toBe(flat.storage);
    expect(a.shape).toEqual([2, 2]);
    expect(b.offset).toBe(4);
    expect(a.toArray()).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(vals(b)).toEqual([5, 6, 7]);
    expect(a.requiresGrad).toBe(true);
    expect(a.isLeaf).toBe(true);
    // an update through the flat buffer is seen by the parameters
    noGrad(() => flat.sub_(tensor([1, 1, 1, 1, 1, 1, 1])));
    expect(vals(a)).toEqual([0, 1, 2, 3]);
    expect(vals(b)).toEqual([4, 5, 6]);
    // and a write to a parameter lands in the flat buffer
    noGrad(() => b.fill_(9));
    expect(vals(flat)).toEqual([0, 1, 2, 3, 9, 9, 9]);
    // autograd still works on rebound parameters
    F.sum(F.mul(a, a)).backward();
    expect(a.grad!.toArray()).toEqual([
      [0, 2],
      [4, 6],
    ]);
  });

  it('rebinding a module keeps parameter identity and its outputs', () => {
    const net = new nn.Sequential(new nn.Linear(3, 4, { generator: new Generator(1) }), new nn.GELU(), new nn.Linear(4, 2, { generator: new Generator(2) }));
    const params = net.parameters();
    const x = tensor([
      [0.1, -0.2, 0.3],
      [1, 2, 3],
    ]);
    const before = vals(net.call(x) as Tensor);
    const { flat, offsets } = flattenTensors(params, { rebind: true });
    expect(net.parameters()).toEqual(params);
    net.parameters().forEach((p, i) => {
      expect(p).toBe(params[i]);
      expect(p.storage).toBe(flat.storage);
      expect(p.offset).toBe(offsets[i]);
    });
    expect(flat.numel).toBe(3 * 4 + 4 + 4 * 2 + 2);
    expect(vals(net.call(x) as Tensor)).toEqual(before);
    // zeroing the flat buffer zeroes the model
    noGrad(() => flat.zero_());
    expect(vals(net.call(x) as Tensor)).toEqual([0, 0, 0, 0]);
    // the state dict reads from the flat buffer
    expect(net.stateDict()['0.weight']!.storage).toBe(flat.storage);
  });

  it('align pads each start to a multiple (padding is zero)', () => {
    const ts = [tensor([1, 2, 3, 4, 5, 6]), tensor([7, 8, 9]), tensor([10]), tensor([11, 12, 13, 14])];
    const { flat, offsets, views } = flattenTensors(ts, { align: 4 });
    expect(offsets).toEqual([0, 8, 12, 16]);
    expect(flat.numel).toBe(20);
    for (const o of offsets) expect(o % 4).toBe(0);
    expect(vals(flat)).toEqual([1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 0, 10, 0, 0, 0, 11, 12, 13, 14]);
    views.forEach((v, i) => expect(vals(v)).toEqual(vals(ts[i]!)));
    // with rebind the aligned offsets are used by the originals
    const ps = [zeros([3]), zeros([5])];
    const r = flattenTensors(ps, { align: 8, rebind: true });
    expect(r.offsets).toEqual([0, 8]);
    expect(ps[1]!.offset).toBe(8);
    expect(r.flat.numel).toBe(16);
  });

  it('non-contiguous inputs are packed in logical order', () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]).T;
    const { flat, views } = flattenTensors([t]);
    expect(vals(flat)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(views[0]!.strides).toEqual([2, 1]);
    expect(views[0]!.toArray()).toEqual(t.toArray());
  });

  it('other dtypes; mixed dtypes are refused', () => {
    const h = [tensor([1, 2], { dtype: 'float16' }), tensor([0.5], { dtype: 'float16' })];
    const { flat } = flattenTensors(h);
    expect(flat.dtype).toBe('float16');
    expect(flat.storage).toBeInstanceOf(Uint16Array);
    expect(vals(flat)).toEqual([1, 2, 0.5]);
    const i = flattenTensors([tensor([1n, 2n ** 40n]), tensor([3n])]);
    expect(i.flat.toArray()).toEqual([1n, 2n ** 40n, 3n]);
    expect(() => flattenTensors([zeros([1]), tensor([1n])])).toThrow(/tensor 1 has dtype int64, expected float32/);
    expect(() => flattenTensors([zeros([1])], { dtype: 'float16' })).toThrow(/tensor 0 has dtype float32, expected float16/);
    expect(flattenTensors([]).flat.numel).toBe(0);
  });
});
