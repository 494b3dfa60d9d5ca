// Tensor basics: creation and dtypes (16-bit floats rounded to nearest even, int64 as
// BigInt64Array, int32), accessors (item, toArray, data, toFloat32Array), setData, casts and
// the in-place ops. PyTorch semantics are the spec.
import { describe, expect, it } from 'vitest';
import {
  Device, Tensor, arange, bf16BitsToF32, empty, functional as F, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits, fromFloat32Array, full,
  noGrad, ones, onesLike, tensor, zeros, zerosLike,
} from '../src/index.js';
import { KERNEL_MODES, expectValues, vals, withKernels } from './unit-helpers.js';

const bits = (t: Tensor): number[] => Array.from(t.storage as Uint16Array);

describe.each(KERNEL_MODES)('tensor (%s kernels)', (mode) => {
  withKernels(mode);

  describe('creation', () => {
    it('nested arrays give float32 with the nested shape', () => {
      const t = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      expect(t.dtype).toBe('float32');
      expect(t.shape).toEqual([2, 3]);
      expect(t.strides).toEqual([3, 1]);
      expect(t.offset).toBe(0);
      expect(t.ndim).toBe(2);
      expect(t.numel).toBe(6);
      expect(t.storage).toBeInstanceOf(Float32Array);
      expect(t.isContiguous()).toBe(true);
      expect(t.isLeaf).toBe(true);
      expect(t.requiresGrad).toBe(false);
      expect(t.grad).toBeNull();
      expect(t.device.toString()).toBe('cpu');
      expect(t.size()).toEqual([2, 3]);
      expect(t.size(0)).toBe(2);
      expect(t.size(-1)).toBe(3);
      expect(t.toArray()).toEqual([
        [1, 2, 3],
        [4, 5, 6],
      ]);
    });

    it('a number gives a 0-d tensor; [] gives shape [0]', () => {
      const s = tensor(3.5);
      expect(s.shape).toEqual([]);
      expect(s.ndim).toBe(0);
      expect(s.numel).toBe(1);
      expect(s.item()).toBe(3.5);
      expect(s.toArray()).toBe(3.5);
      const e = tensor([]);
      expect(e.shape).toEqual([0]);
      expect(e.numel).toBe(0);
      expect(e.toArray()).toEqual([]);
    });

    it('booleans become 0/1', () => {
      expect(tensor([true, false, true]).toArray()).toEqual([1, 0, 1]);
    });

    it('typed arrays pick the dtype and take a shape; the data is copied', () => {
      const src = Float32Array.of(1, 2, 3, 4, 5, 6);
      const t = tensor(src, { shape: [3, 2] });
      expect(t.dtype).toBe('float32');
      expect(t.shape).toEqual([3, 2]);
      src[0] = 100;
      expect(vals(t)[0]).toBe(1);
      expect(tensor(Int32Array.of(1, 2)).dtype).toBe('int32');
      expect(tensor(BigInt64Array.of(1n, 2n)).dtype).toBe('int64');
      expect(tensor(Int32Array.of(1, 2), { dtype: 'float32' }).toArray()).toEqual([1, 2]);
      expect(tensor(BigInt64Array.of(7n), { dtype: 'float32' }).toArray()).toEqual([7]);
    });

    it('fromFloat32Array wraps without copying', () => {
      const src = Float32Array.of(1, 2, 3, 4);
      const t = fromFloat32Array(src, [2, 2]);
      src[3] = 9;
      expect(t.toArray()).toEqual([
        [1, 2],
        [3, 9],
      ]);
      expect(t.storage).toBe(src);
    });

    it('requiresGrad option', () => {
      const t = tensor([1, 2], { requiresGrad: true });
      expect(t.requiresGrad).toBe(true);
      expect(t.isLeaf).toBe(true);
      expect(zeros([2], { requiresGrad: true }).requiresGrad).toBe(true);
    });

    it('zeros, ones, full, empty and *Like for every dtype', () => {
      for (const dtype of ['float32', 'float16', 'bfloat16', 'int32', 'int64'] as const) {
        const z = zeros([2, 3], { dtype });
        expect(z.dtype).toBe(dtype);
        expect(z.shape).toEqual([2, 3]);
        expect(Array.from(z.toFloat32Array())).toEqual([0, 0, 0, 0, 0, 0]);
        expect(Array.from(ones([2], { dtype }).toFloat32Array())).toEqual([1, 1]);
        expect(Array.from(full([3], 2.5, { dtype }).toFloat32Array())).toEqual(
          dtype === 'int32' || dtype === 'int64' ? [2, 2, 2] : [2.5, 2.5, 2.5],
        );
        expect(empty([4], { dtype }).numel).toBe(4);
        expect(zerosLike(z).dtype).toBe(dtype);
        expect(onesLike(z).shape).toEqual([2, 3]);
      }
      expect(full([1], -2.7, { dtype: 'int64' }).toArray()).toEqual([-2n]);
      // full rounds 16-bit floats to nearest even as well
      expect(bits(full([1], 1 + 3 * 2 ** -11, { dtype: 'float16' }))).toEqual([0x3c02]);
      expect(zeros([0, 3]).numel).toBe(0);
      expect(zeros([]).shape).toEqual([]);
      expect(zeros([]).item()).toBe(0);
    });

    it('arange follows torch (integer -> int64, fractional -> float32, negative step)', () => {
      const a = arange(5);
      expect(a.dtype).toBe('int64');
      expect(a.toArray()).toEqual([0n, 1n, 2n, 3n, 4n]);
      const b = arange(0, 1, 0.25);
      expect(b.dtype).toBe('float32');
      expect(b.toArray()).toEqual([0, 0.25, 0.5, 0.75]);
      expect(arange(5, 0, -2).toArray()).toEqual([5n, 3n, 1n]);
      expect(arange(2, 5, 1, { dtype: 'float32' }).toArray()).toEqual([2, 3, 4]);
      expect(arange(3, 3).numel).toBe(0);
      expect(() => arange(0, 3, 0)).toThrow(/step/);
    });

    it('refuses non-cpu devices with a clear message', () => {
      expect(() => zeros([2], { device: 'cuda:0' })).toThrow(/cuda:0.*cpu/);
      expect(Device.parse('cuda:1').index).toBe(1);
      expect(() => Device.parse('tpu' as never)).toThrow(/unknown device/);
    });
  });

  describe('16-bit floats round to nearest even on creation', () => {
    it('float16 bit patterns (normal, tie, overflow, subnormal, specials)', () => {
      const cases: [number, number][] = [
        [1, 0x3c00],
        [1 + 2 ** -11, 0x3c00], // tie -> even (down)
        [1 + 3 * 2 ** -11, 0x3c02], // tie -> even (up)
        [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
        [1 + 2 ** -11 - 2 ** -20, 0x3c00], // just below the tie
        [-2, 0xc000],
        [0.1, 0x2e66],
        [65504, 0x7bff], // max half
        [65519, 0x7bff],
        [65520, 0x7c00], // tie at the top -> rounds to 65536 = inf
        [1e6, 0x7c00],
        [-1e6, 0xfc00],
        [2 ** -14, 0x0400], // min normal
        [2 ** -24, 0x0001], // min subnormal
        [2 ** -25, 0x0000], // tie -> even (zero)
        [3 * 2 ** -25, 0x0002], // tie -> even (up)
        [2 ** -25 + 2 ** -35, 0x0001],
        [1023.5 * 2 ** -24, 0x0400], // subnormal tie rounds up into the normal range
        [2 ** -26, 0x0000],
        [-0, 0x8000],
        [Infinity, 0x7c00],
        [-Infinity, 0xfc00],
      ];
      const t = tensor(
        cases.map(([v]) => v),
        { dtype: 'float16' },
      );
      expect(t.dtype).toBe('float16');
      expect(t.storage).toBeInstanceOf(Uint16Array);
      expect(bits(t).map((b) => b.toString(16))).toEqual(cases.map(([, b]) => b.toString(16)));
      // the scalar helpers agree
      for (const [v, b] of cases) expect(f32ToF16Bits(v)).toBe(b);
      const nan = tensor([NaN], { dtype: 'float16' });
      expect(bits(nan)[0]! & 0x7c00).toBe(0x7c00);
      expect(bits(nan)[0]! & 0x03ff).not.toBe(0);
      expect(Number.isNaN(nan.item())).toBe(true);
    });

    it('float16 decodes back exactly', () => {
      const t = tensor([1 + 3 * 2 ** -11, 2 ** -24, -65504, 0.1], { dtype: 'float16' });
      expectValues(t.toFloat32Array(), [1 + 2 ** -9, 2 ** -24, -65504, 0.0999755859375], 0);
      expect(tensor([0.1], { dtype: 'float16' }).item()).toBe(0.0999755859375);
      expect(f16BitsToF32(0x3c02)).toBe(1 + 2 ** -9);
      expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
      expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
    });

    it('bfloat16 bit patterns', () => {
      const cases: [number, number][] = [
        [1, 0x3f80],
        [1 + 2 ** -8, 0x3f80], // tie -> even (down)
        [1 + 3 * 2 ** -8, 0x3f82], // tie -> even (up)
        [1 + 2 ** -8 + 2 ** -16, 0x3f81],
        [-1, 0xbf80],
        [0.1, 0x3dcd],
        [3.4028234663852886e38, 0x7f80], // float32 max rounds up to inf
        [Infinity, 0x7f80],
        [-Infinity, 0xff80],
        [1e-40, 0x0001], // float32 subnormal: 0x000116c2 -> 0x0001
        [-0, 0x8000],
      ];
      const t = tensor(
        cases.map(([v]) => v),
        { dtype: 'bfloat16' },
      );
      expect(t.dtype).toBe('bfloat16');
      expect(bits(t).map((b) => b.toString(16))).toEqual(cases.map(([, b]) => b.toString(16)));
      for (const [v, b] of cases) expect(f32ToBf16Bits(v)).toBe(b);
      expect(Number.isNaN(tensor([NaN], { dtype: 'bfloat16' }).item())).toBe(true);
      expect(tensor([1 + 3 * 2 ** -8], { dtype: 'bfloat16' }).item()).toBe(1 + 2 ** -6);
      expect(bf16BitsToF32(0x3dcd)).toBe(0.10009765625);
    });

    it('a Uint16Array needs an explicit 16-bit dtype and is taken as raw bits', () => {
      expect(() => tensor(Uint16Array.of(0x3c00))).toThrow(/float16.*bfloat16/);
      expect(tensor(Uint16Array.of(0x3c00, 0xc000), { dtype: 'float16' }).toArray()).toEqual([1, -2]);
      expect(tensor(Uint16Array.of(0x3f80), { dtype: 'bfloat16' }).toArray()).toEqual([1]);
    });

    it('float32 -> float16 / bfloat16 casts round to nearest even too', () => {
      const x = tensor([1 + 2 ** -11, 1 + 3 * 2 ** -11, 70000]);
      const h = x.half();
      expect(h.dtype).toBe('float16');
      expect(bits(h)).toEqual([0x3c00, 0x3c02, 0x7c00]);
      const b = tensor([1 + 2 ** -8, 1 + 3 * 2 ** -8]).bfloat16();
      expect(bits(b)).toEqual([0x3f80, 0x3f82]);
      expect(h.float().dtype).toBe('float32');
      expect(vals(h.float())).toEqual([1, 1 + 2 ** -9, Infinity]);
      // f16 -> bf16 goes through the value
      expect(vals(tensor([0.5, -3], { dtype: 'float16' }).to('bfloat16'))).toEqual([0.5, -3]);
    });
  });

  describe('integer dtypes', () => {
    it('int64 is a BigInt64Array and keeps values beyond 2^53', () => {
      const big = 2n ** 60n + 1n;
      const t = tensor([big, -3n]);
      expect(t.dtype).toBe('int64');
      expect(t.storage).toBeInstanceOf(BigInt64Array);
      expect((t.storage as BigInt64Array)[0]).toBe(big);
      expect(t.toArray()).toEqual([big, -3n]);
      expect(tensor([-3n]).item()).toBe(-3);
      expect(tensor([1, 2], { dtype: 'int64' }).toArray()).toEqual([1n, 2n]);
    });

    it('int32 truncates fractional values toward zero (as torch)', () => {
      const t = tensor([1.7, -1.7, 2.5, -0.5], { dtype: 'int32' });
      expect(t.storage).toBeInstanceOf(Int32Array);
      expect(t.toArray()).toEqual([1, -1, 2, 0]);
      expect(tensor([1.9, -1.9], { dtype: 'int64' }).toArray()).toEqual([1n, -1n]);
      expect(tensor([7], { dtype: 'int32' }).item()).toBe(7);
    });

    it('casts between integer and float dtypes', () => {
      expect(tensor([5n, -6n]).to('int32').toArray()).toEqual([5, -6]);
      expect(tensor(Int32Array.of(5, -6)).to('int64').toArray()).toEqual([5n, -6n]);
      expect(tensor([2.9, -2.9]).to('int64').toArray()).toEqual([2n, -2n]);
      expect(tensor([2.9, -2.9]).to('int32').toArray()).toEqual([2, -2]);
      expect(tensor([3n, 4n]).float().toArray()).toEqual([3, 4]);
      expect(Array.from(tensor([3n, -4n]).toFloat32Array())).toEqual([3, -4]);
      expect(Array.from(tensor(Int32Array.of(3, -4)).toFloat32Array())).toEqual([3, -4]);
    });
  });

  describe('accessors', () => {
    it('item() on one-element tensors of every rank and dtype', () => {
      expect(tensor([[[2.5]]]).item()).toBe(2.5);
      expect(tensor(2.5, { dtype: 'bfloat16' }).item()).toBe(2.5);
      expect(tensor([3n]).item()).toBe(3);
      // item of a view reads at its offset
      const t = tensor([10, 20, 30]);
      expect(t.narrow(0, 2, 1).item()).toBe(30);
      expect(tensor([10, 20, 30], { dtype: 'float16' }).narrow(0, 1, 1).item()).toBe(20);
    });

    it('toArray() nests by shape and reads views in logical order', () => {
      const t = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      expect(t.T.toArray()).toEqual([
        [1, 4],
        [2, 5],
        [3, 6],
      ]);
      expect(t.reshape(3, 2).toArray()).toEqual([
        [1, 2],
        [3, 4],
        [5, 6],
      ]);
      expect(t.narrow(1, 1, 2).toArray()).toEqual([
        [2, 3],
        [5, 6],
      ]);
      expect(tensor([[1n, 2n]]).T.toArray()).toEqual([[1n], [2n]]);
      expect(tensor([0.5, 1.5], { dtype: 'float16' }).toArray()).toEqual([0.5, 1.5]);
      expect(zeros([2, 0]).toArray()).toEqual([[], []]);
    });

    it('data() is zero-copy for contiguous tensors and a copy otherwise', () => {
      const t = tensor([
        [1, 2],
        [3, 4],
      ]);
      const d = t.data<'float32'>();
      d[0] = 7;
      expect(t.toArray()).toEqual([
        [7, 2],
        [3, 4],
      ]);
      // a contiguous view with an offset: the subarray starts at the offset
      const row = t.narrow(0, 1, 1);
      expect(Array.from(row.data<'float32'>())).toEqual([3, 4]);
      row.data<'float32'>()[1] = 40;
      expect(vals(t)).toEqual([7, 2, 3, 40]);
      // non-contiguous: a row-major copy
      const tt = t.T;
      const c = tt.data<'float32'>();
      expect(Array.from(c)).toEqual([7, 3, 2, 40]);
      c[0] = -1;
      expect(vals(t)[0]).toBe(7);
      // toFloat32Array is always a fresh copy
      const f = t.toFloat32Array();
      f[0] = 123;
      expect(vals(t)[0]).toBe(7);
    });

    it('ids are unique; toString names shape and dtype', () => {
      const a = tensor([1]);
      const b = tensor([1]);
      expect(a.id).not.toBe(b.id);
      expect(String(tensor([[1, 2]], { requiresGrad: true }))).toMatch(/\[1, 2\].*float32.*requiresGrad/);
    });
  });

  describe('setData and asStrided', () => {
    it('setData with changeDtype casts a parameter in place: same object, new dtype, grad dropped', () => {
      const p = tensor([1.5, -2.25, 3], { requiresGrad: true });
      p.grad = tensor([1, 1, 1]);
      const half = p.detach().to('bfloat16');
      expect(p.setData(half, { changeDtype: true })).toBe(p);
      expect(p.dtype).toBe('bfloat16');
      expect(p.grad).toBeNull();
      expect(Array.from(p.toFloat32Array())).toEqual([1.5, -2.25, 3]);
      expect(p.requiresGrad).toBe(true);
      expect(() => p.setData(tensor([1, 2, 3], { dtype: 'int32' }), { changeDtype: true })).toThrow(/requires grad cannot take dtype int32/);
    });

    it('setData swaps storage and geometry but keeps identity and autograd fields', () => {
      const p = tensor([1, 2, 3], { requiresGrad: true });
      const id = p.id;
      const src = tensor([
        [5, 6],
        [7, 8],
      ]);
      expect(p.setData(src)).toBe(p);
      expect(p.id).toBe(id);
      expect(p.requiresGrad).toBe(true);
      expect(p.isLeaf).toBe(true);
      expect(p.shape).toEqual([2, 2]);
      expect(p.storage).toBe(src.storage);
      expect(p.toArray()).toEqual([
        [5, 6],
        [7, 8],
      ]);
      // shares storage with the source from now on
      noGrad(() => src.fill_(0));
      expect(vals(p)).toEqual([0, 0, 0, 0]);
      // a strided source keeps its geometry
      const base = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      p.setData(base.T);
      expect(p.strides).toEqual([1, 3]);
      expect(p.toArray()).toEqual([
        [1, 4],
        [2, 5],
        [3, 6],
      ]);
      expect(() => p.setData(tensor([1n]))).toThrow(/setData.*int64.*float32/);
    });

    it('asStrided shares storage with arbitrary geometry', () => {
      const t = tensor([0, 1, 2, 3, 4, 5, 6, 7]);
      const v = t.asStrided([3, 2], [2, 1], 1); // overlapping windows
      expect(v.storage).toBe(t.storage);
      expect(v.toArray()).toEqual([
        [1, 2],
        [3, 4],
        [5, 6],
      ]);
      const s = t.asStrided([2, 2], [1, 2], 0);
      expect(s.isContiguous()).toBe(false);
      expect(s.toArray()).toEqual([
        [0, 2],
        [1, 3],
      ]);
      expect(v.requiresGrad).toBe(false);
    });
  });

  describe('requiresGrad_', () => {
    it('sets the flag on float leaves and refuses integers / non-leaves', () => {
      const t = tensor([1, 2]);
      expect(t.requiresGrad_()).toBe(t);
      expect(t.requiresGrad).toBe(true);
      t.requiresGrad_(false);
      expect(t.requiresGrad).toBe(false);
      expect(tensor([1], { dtype: 'float16' }).requiresGrad_().requiresGrad).toBe(true);
      expect(() => tensor([1n]).requiresGrad_()).toThrow(/floating-point.*int64/);
      expect(() => tensor(Int32Array.of(1)).requiresGrad_()).toThrow(/int32/);
      // turning it off on an int tensor is fine
      expect(tensor([1n]).requiresGrad_(false).requiresGrad).toBe(false);
      const y = tensor([1], { requiresGrad: true }).mul(2);
      expect(() => y.requiresGrad_(false)).toThrow(/leaf.*detach/);
    });
  });

  describe('clone and casts', () => {
    it('clone copies values into new contiguous storage', () => {
      const t = tensor([
        [1, 2],
        [3, 4],
      ]);
      const c = t.T.clone();
      expect(c.storage).not.toBe(t.storage);
      expect(c.isContiguous()).toBe(true);
      expect(c.toArray()).toEqual([
        [1, 3],
        [2, 4],
      ]);
      noGrad(() => c.fill_(0));
      expect(vals(t)).toEqual([1, 2, 3, 4]);
      const i = tensor([1n, 2n]).clone();
      expect(i.dtype).toBe('int64');
      expect(i.toArray()).toEqual([1n, 2n]);
    });

    it('to() of the same dtype returns the tensor itself (as torch)', () => {
      const t = tensor([1]);
      expect(t.to('float32')).toBe(t);
    });

    it('casts preserve shape and read views in logical order', () => {
      const t = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]).T;
      const h = t.half();
      expect(h.shape).toEqual([3, 2]);
      expect(h.toArray()).toEqual([
        [1, 4],
        [2, 5],
        [3, 6],
      ]);
      expect(t.to('int64').toArray()).toEqual([
        [1n, 4n],
        [2n, 5n],
        [3n, 6n],
      ]);
    });
  });

  describe('result dtypes (torch promotion)', () => {
    it('binary ops promote; division is true division', () => {
      expect(F.add(tensor([1n]), tensor([1], { dtype: 'float16' })).dtype).toBe('float16');
      expect(F.add(tensor([1], { dtype: 'float16' }), tensor([1], { dtype: 'bfloat16' })).dtype).toBe('float32');
      expect(F.add(tensor(Int32Array.of(1)), tensor([1n])).dtype).toBe('int64');
      expect(F.mul(tensor([3n]), 2).toArray()).toEqual([6n]);
      const r = F.add(tensor([1n]), 0.5);
      expect(r.dtype).toBe('float32');
      expect(r.toArray()).toEqual([1.5]);
      // int / int and int / number give floats (torch's `/`)
      const d = F.div(tensor([3n, -3n]), tensor([2n, 2n]));
      expect(d.dtype).toBe('float32');
      expect(d.toArray()).toEqual([1.5, -1.5]);
      expect(F.div(tensor(Int32Array.of(7)), 2).toArray()).toEqual([3.5]);
      expect(F.div(tensor([1], { dtype: 'float16' }), 4).dtype).toBe('float16');
    });

    it('where promotes its branches; maskedFill keeps the input dtype', () => {
      const cond = tensor([1, 0]);
      const w = F.where(cond, tensor([1n, 2n]), 0.5);
      expect(w.dtype).toBe('float32');
      expect(w.toArray()).toEqual([1, 0.5]);
      expect(F.where(cond, tensor([1n, 2n]), 7).toArray()).toEqual([1n, 7n]);
      expect(F.where(cond, tensor([1], { dtype: 'float16' }), tensor([2])).dtype).toBe('float32');
      expect(F.where(cond, 1, 0).dtype).toBe('float32');
      const m = F.maskedFill(tensor([5n, 6n]), cond, 0.5);
      expect(m.dtype).toBe('int64');
      expect(m.toArray()).toEqual([0n, 6n]);
      const h = F.maskedFill(tensor([5, 6], { dtype: 'float16' }), cond, -1);
      expect(h.dtype).toBe('float16');
      expect(h.toArray()).toEqual([-1, 6]);
    });

    it('reductions of integers', () => {
      expect(F.sum(tensor([1n, 2n])).dtype).toBe('int64');
      expect(F.sum(tensor([1n, 2n])).toArray()).toBe(3n);
      expect(F.max(tensor([1n, 5n, 3n]), 0).values.toArray()).toBe(5n);
    });
  });

  describe('in-place ops', () => {
    it('fill_, zero_, add_, sub_, mul_, div_, copy_ on float32', () => {
      const t = tensor([1, 2, 3]);
      expect(t.add_(1)).toBe(t);
      expect(vals(t)).toEqual([2, 3, 4]);
      t.add_(tensor([1, 1, 1]), 2);
      expect(vals(t)).toEqual([4, 5, 6]);
      t.sub_(tensor([1, 2, 3]));
      expect(vals(t)).toEqual([3, 3, 3]);
      t.sub_(1, 2);
      expect(vals(t)).toEqual([1, 1, 1]);
      t.mul_(tensor([1, 2, 3]));
      expect(vals(t)).toEqual([1, 2, 3]);
      t.mul_(2);
      t.div_(4);
      expect(vals(t)).toEqual([0.5, 1, 1.5]);
      t.copy_(tensor([9, 8, 7]));
      expect(vals(t)).toEqual([9, 8, 7]);
      t.zero_();
      expect(vals(t)).toEqual([0, 0, 0]);
      t.fill_(4);
      expect(vals(t)).toEqual([4, 4, 4]);
    });

    it('broadcasting sources', () => {
      const t = zeros([2, 3]);
      t.copy_(tensor([1, 2, 3]));
      expect(t.toArray()).toEqual([
        [1, 2, 3],
        [1, 2, 3],
      ]);
      t.add_(tensor([[10], [20]]));
      expect(t.toArray()).toEqual([
        [11, 12, 13],
        [21, 22, 23],
      ]);
      t.mul_(tensor([[1], [0]]));
      expect(t.toArray()).toEqual([
        [11, 12, 13],
        [0, 0, 0],
      ]);
      expect(() => t.copy_(tensor([1, 2]))).toThrow(/copy_.*\[2, 3\].*\[2\]|copy_.*\[2\].*\[2, 3\]/);
    });

    it('write through non-contiguous views (only the viewed elements change)', () => {
      const base = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      base.T.copy_(tensor([
        [10, 40],
        [20, 50],
        [30, 60],
      ]));
      expect(base.toArray()).toEqual([
        [10, 20, 30],
        [40, 50, 60],
      ]);
      const col = base.narrow(1, 1, 1); // strided column
      col.fill_(0);
      expect(base.toArray()).toEqual([
        [10, 0, 30],
        [40, 0, 60],
      ]);
      col.add_(tensor([[1], [2]]));
      col.mul_(3);
      expect(base.toArray()).toEqual([
        [10, 3, 30],
        [40, 6, 60],
      ]);
      base.T.narrow(0, 2, 1).sub_(tensor([[30, 60]]));
      expect(base.toArray()).toEqual([
        [10, 3, 0],
        [40, 6, 0],
      ]);
    });

    it('in-place on 16-bit and integer tensors converts with rounding', () => {
      const h = tensor([1, 2], { dtype: 'float16' });
      h.add_(2 ** -11); // 1 + 2^-11 ties to 1; 2 + 2^-11 rounds to 2
      expect(bits(h)).toEqual([0x3c00, 0x4000]);
      h.fill_(1 + 3 * 2 ** -11);
      expect(bits(h)).toEqual([0x3c02, 0x3c02]);
      const i = tensor([1n, 2n]);
      i.copy_(tensor([5n, 2n ** 40n]));
      expect(i.toArray()).toEqual([5n, 2n ** 40n]);
      i.fill_(3);
      expect(i.toArray()).toEqual([3n, 3n]);
      const j = tensor(Int32Array.of(1, 2));
      j.copy_(tensor([2.9, -2.9]));
      expect(j.toArray()).toEqual([2, -2]);
      // copy_ converts float32 into float16
      const h2 = zeros([2], { dtype: 'float16' });
      h2.copy_(tensor([1 + 3 * 2 ** -11, 0.1]));
      expect(bits(h2)).toEqual([0x3c02, 0x2e66]);
    });

    it('refuse a leaf that requires grad unless under noGrad', () => {
      const p = tensor([1, 2], { requiresGrad: true });
      for (const f of [() => p.fill_(0), () => p.zero_(), () => p.add_(1), () => p.sub_(1), () => p.mul_(2), () => p.div_(2), () => p.copy_(tensor([0, 0]))]) {
        expect(f).toThrow(/in place.*noGrad/);
      }
      expect(vals(p)).toEqual([1, 2]);
      noGrad(() => p.add_(1));
      expect(vals(p)).toEqual([2, 3]);
    });
  });
});

describe('copy_ into strided views keeps exact elements', () => {
  it('int64 beyond 2^24 survives a copy into a transposed view', () => {
    const big = 2n ** 40n + 3n;
    const src = tensor([[big, 1n], [2n, big + 1n]]);
    const dst = tensor([[0n, 0n], [0n, 0n]]);
    noGrad(() => dst.transpose(0, 1).copy_(src));
    expect(dst.toArray()).toEqual([[big, 2n], [1n, big + 1n]]);
  });
});
