// Views vs copies: which shape ops share storage (checked by writing through one side under
// noGrad), their strides and offsets, and view() refusing non-viewable layouts.
import { describe, expect, it } from 'vitest';
import { arange, functional as F, noGrad, tensor, type Tensor } from '../src/index.js';
import { KERNEL_MODES, vals, withKernels } from './unit-helpers.js';

/** 0..n-1 as float32 with `shape`. */
function iota(shape: number[]): Tensor {
  return arange(shape.reduce((a, b) => a * b, 1), undefined, 1, { dtype: 'float32' }).reshape(shape);
}

/** Whether writing through `b` is visible in `a` (restores nothing: use fresh tensors). */
function sharesByWrite(a: Tensor, b: Tensor): boolean {
  const before = vals(a);
  noGrad(() => b.fill_(-99));
  const after = vals(a);
  return after.some((v, i) => v !== before[i]);
}

describe.each(KERNEL_MODES)('views (%s kernels)', (mode) => {
  withKernels(mode);

  describe('reshape', () => {
    it('of a contiguous tensor is a view', () => {
      const x = iota([2, 3]);
      const r = x.reshape(3, 2);
      expect(r.storage).toBe(x.storage);
      expect(r.strides).toEqual([2, 1]);
      expect(r.toArray()).toEqual([
        [0, 1],
        [2, 3],
        [4, 5],
      ]);
      expect(sharesByWrite(x, r)).toBe(true);
      expect(vals(x)).toEqual([-99, -99, -99, -99, -99, -99]);
    });

    it('accepts -1 and a shape array', () => {
      const x = iota([2, 3, 4]);
      expect(x.reshape(-1, 4).shape).toEqual([6, 4]);
      expect(x.reshape([4, -1]).shape).toEqual([4, 6]);
      expect(x.reshape(-1).shape).toEqual([24]);
      expect(iota([1]).reshape([]).shape).toEqual([]);
      expect(tensor(5).reshape(1, 1).shape).toEqual([1, 1]);
    });

    it('of a transposed tensor to a flat shape copies', () => {
      const x = iota([2, 3]);
      const r = x.T.reshape(6);
      expect(r.toArray()).toEqual([0, 3, 1, 4, 2, 5]);
      expect(r.storage).not.toBe(x.storage);
      expect(sharesByWrite(x, r)).toBe(false);
    });

    it('of a non-contiguous tensor stays a view when the layout allows', () => {
      // splitting a dim of a transposed tensor
      const x = iota([4, 6]);
      const t = x.T; // [6, 4] strides [1, 6]
      const r = t.reshape(2, 3, 4);
      expect(r.storage).toBe(x.storage);
      expect(r.strides).toEqual([3, 1, 6]);
      expect(r.toArray()).toEqual((t.toArray() as number[][]).reduce<number[][][]>((acc, row, i) => {
        if (i % 3 === 0) acc.push([]);
        acc[acc.length - 1]!.push(row);
        return acc;
      }, []));
      // adding size-1 dims to a narrowed tensor
      const n = iota([3, 4]).narrow(1, 1, 2);
      const u = n.reshape(3, 1, 2);
      expect(u.storage).toBe(n.storage);
      expect(u.toArray()).toEqual([[[1, 2]], [[5, 6]], [[9, 10]]]);
      // merging dims that are contiguous with each other inside a permuted tensor
      const p = iota([2, 3, 4]).permute(2, 0, 1); // [4, 2, 3] strides [1, 12, 4]
      const m = p.reshape(4, 6);
      expect(m.storage).toBe(p.storage);
      expect(m.strides).toEqual([1, 4]);
      expect(vals(m)).toEqual(vals(p));
    });

    it('of a non-contiguous tensor that cannot be viewed copies correctly', () => {
      const p = iota([2, 3, 4]).permute(2, 0, 1); // [4, 2, 3]
      const r = p.reshape(8, 3);
      expect(vals(r)).toEqual(vals(p));
      const q = p.reshape(2, 12);
      expect(vals(q)).toEqual(vals(p));
      expect(q.isContiguous()).toBe(true);
    });
  });

  describe('view', () => {
    it('shares storage like reshape', () => {
      const x = iota([2, 6]);
      const v = x.view(3, 4);
      expect(v.storage).toBe(x.storage);
      expect(sharesByWrite(x, v)).toBe(true);
      expect(iota([4, 6]).T.view(2, 3, 4).shape).toEqual([2, 3, 4]);
    });

    it('refuses a non-viewable layout with a message pointing to reshape/contiguous', () => {
      const x = iota([2, 3]).T;
      expect(() => x.view(6)).toThrow(/view.*\[6\].*\[3, 2\].*strides \[1, 3\].*(reshape|contiguous)/);
      expect(() => x.view(-1)).toThrow(/reshape|contiguous/);
      // after contiguous() it works
      expect(x.contiguous().view(6).toArray()).toEqual([0, 3, 1, 4, 2, 5]);
      const p = iota([2, 3, 4]).permute(2, 0, 1);
      expect(() => p.view(8, 3)).toThrow(/view/);
    });

    it('rejects a wrong element count', () => {
      expect(() => iota([2, 3]).view(4)).toThrow(/\[4\].*6/);
    });
  });

  describe('contiguous', () => {
    it('returns the tensor itself when already contiguous', () => {
      const x = iota([2, 3]);
      expect(x.contiguous()).toBe(x);
      // a narrowed leading slice is contiguous too
      const n = x.narrow(0, 1, 1);
      expect(n.isContiguous()).toBe(true);
      expect(n.contiguous().storage).toBe(x.storage);
    });

    it('copies a strided tensor into row-major order', () => {
      const x = iota([2, 3]);
      const c = x.T.contiguous();
      expect(c.isContiguous()).toBe(true);
      expect(c.strides).toEqual([2, 1]);
      expect(c.offset).toBe(0);
      expect(Array.from(c.storage as Float32Array)).toEqual([0, 3, 1, 4, 2, 5]);
      expect(sharesByWrite(x, c)).toBe(false);
      // 16-bit and integer dtypes
      const h = tensor([
        [1, 2],
        [3, 4],
      ], { dtype: 'float16' }).T.contiguous();
      expect(h.toArray()).toEqual([
        [1, 3],
        [2, 4],
      ]);
      const i = tensor([
        [1n, 2n],
        [3n, 4n],
      ]).T.contiguous();
      expect(Array.from(i.storage as BigInt64Array)).toEqual([1n, 3n, 2n, 4n]);
    });

    it('isContiguous ignores the strides of size-1 dims', () => {
      const x = iota([3, 1]).asStrided([3, 1], [1, 123]);
      expect(x.isContiguous()).toBe(true);
      expect(iota([2, 2]).T.isContiguous()).toBe(false);
    });
  });

  describe('transpose, permute, T', () => {
    it('transpose swaps shape and strides and shares storage', () => {
      const x = iota([2, 3, 4]);
      const t = x.transpose(0, 2);
      expect(t.shape).toEqual([4, 3, 2]);
      expect(t.strides).toEqual([1, 4, 12]);
      expect(t.storage).toBe(x.storage);
      expect(x.transpose(-1, -2).shape).toEqual([2, 4, 3]);
      expect(x.transpose(-1, -2).strides).toEqual([12, 1, 4]);
      // element [i, j, k] of t is x[k, j, i]
      const tv = t.toArray() as number[][][];
      expect(tv[3]![2]![1]).toBe(1 * 12 + 2 * 4 + 3);
      expect(sharesByWrite(x, t.narrow(0, 0, 1))).toBe(true);
    });

    it('permute reorders dims', () => {
      const x = iota([2, 3, 4]);
      const p = x.permute(1, 2, 0);
      expect(p.shape).toEqual([3, 4, 2]);
      expect(p.strides).toEqual([4, 1, 12]);
      expect(x.permute([2, 0, 1]).strides).toEqual([1, 12, 4]);
      expect(x.permute(-1, 0, 1).shape).toEqual([4, 2, 3]);
      const pv = p.toArray() as number[][][];
      expect(pv[2]![3]![1]).toBe(1 * 12 + 2 * 4 + 3);
      // permute then its inverse is the identity
      expect(p.permute(2, 0, 1).toArray()).toEqual(x.toArray());
    });

    it('T transposes 2-D tensors only', () => {
      const x = iota([2, 3]);
      expect(x.T.shape).toEqual([3, 2]);
      expect(x.T.strides).toEqual([1, 3]);
      expect(x.T.T.toArray()).toEqual(x.toArray());
      expect(() => iota([2, 3, 4]).T).toThrow(/2-D.*3 dims/);
    });
  });

  describe('narrow, split, chunk', () => {
    it('narrow sets the offset and keeps strides', () => {
      const x = iota([4, 5]);
      const a = x.narrow(1, 2, 2);
      expect(a.shape).toEqual([4, 2]);
      expect(a.offset).toBe(2);
      expect(a.strides).toEqual([5, 1]);
      expect(a.toArray()).toEqual([
        [2, 3],
        [7, 8],
        [12, 13],
        [17, 18],
      ]);
      const b = x.narrow(0, 1, 2);
      expect(b.offset).toBe(5);
      expect(b.isContiguous()).toBe(true);
      // narrow of a narrow accumulates offsets
      const c = b.narrow(1, 3, 2);
      expect(c.offset).toBe(8);
      expect(c.toArray()).toEqual([
        [8, 9],
        [13, 14],
      ]);
      // negative start counts from the end
      expect(x.narrow(0, -1, 1).offset).toBe(15);
      // narrow of a transposed tensor
      const t = x.T.narrow(0, 1, 2); // rows 1..2 of x.T = columns 1..2 of x
      expect(t.offset).toBe(1);
      expect(t.strides).toEqual([1, 5]);
      expect(t.toArray()).toEqual([
        [1, 6, 11, 16],
        [2, 7, 12, 17],
      ]);
      expect(sharesByWrite(x, c)).toBe(true);
      expect((x.toArray() as number[][])[1]).toEqual([5, 6, 7, -99, -99]);
    });

    it('split by size and by sizes; chunk', () => {
      const x = iota([5, 2]);
      const parts = x.split(2);
      expect(parts.map((p) => p.shape)).toEqual([
        [2, 2],
        [2, 2],
        [1, 2],
      ]);
      expect(parts.map((p) => p.offset)).toEqual([0, 4, 8]);
      expect(parts.every((p) => p.storage === x.storage)).toBe(true);
      const s = x.split([1, 4], 0);
      expect(s[1]!.toArray()).toEqual([
        [2, 3],
        [4, 5],
        [6, 7],
        [8, 9],
      ]);
      const cols = x.split(1, 1);
      expect(cols.length).toBe(2);
      expect(cols[1]!.toArray()).toEqual([[1], [3], [5], [7], [9]]);
      const ch = iota([7]).chunk(3);
      expect(ch.map((c) => c.numel)).toEqual([3, 3, 1]);
      expect(iota([6]).chunk(3).map((c) => c.toArray())).toEqual([
        [0, 1],
        [2, 3],
        [4, 5],
      ]);
      expect(() => x.split([1, 1])).toThrow(/sum to 2.*size 5/);
    });
  });

  describe('squeeze, unsqueeze, flatten, expand', () => {
    it('squeeze / unsqueeze are views', () => {
      const x = iota([1, 3, 1]);
      expect(x.squeeze().shape).toEqual([3]);
      expect(x.squeeze(0).shape).toEqual([3, 1]);
      expect(x.squeeze(-1).shape).toEqual([1, 3]);
      // squeezing a dim that is not 1 is a no-op (as torch)
      expect(x.squeeze(1).shape).toEqual([1, 3, 1]);
      expect(x.squeeze().storage).toBe(x.storage);
      const y = iota([2, 3]);
      expect(y.unsqueeze(0).shape).toEqual([1, 2, 3]);
      expect(y.unsqueeze(1).shape).toEqual([2, 1, 3]);
      expect(y.unsqueeze(-1).shape).toEqual([2, 3, 1]);
      expect(y.unsqueeze(2).shape).toEqual([2, 3, 1]);
      expect(y.unsqueeze(-3).shape).toEqual([1, 2, 3]);
      expect(sharesByWrite(y, y.unsqueeze(0))).toBe(true);
      // unsqueeze of a transposed tensor stays a view with the right values
      const t = iota([2, 3]).T.unsqueeze(1);
      expect(t.shape).toEqual([3, 1, 2]);
      expect(t.toArray()).toEqual([[[0, 3]], [[1, 4]], [[2, 5]]]);
      expect(tensor(3).unsqueeze(0).shape).toEqual([1]);
    });

    it('flatten ranges of dims', () => {
      const x = iota([2, 3, 4]);
      expect(x.flatten().shape).toEqual([24]);
      expect(x.flatten(1).shape).toEqual([2, 12]);
      expect(x.flatten(0, 1).shape).toEqual([6, 4]);
      expect(x.flatten(-2, -1).shape).toEqual([2, 12]);
      expect(x.flatten().storage).toBe(x.storage);
      expect(tensor(7).flatten().shape).toEqual([1]);
      expect(x.transpose(0, 1).flatten(1).toArray()).toEqual(
        [0, 1, 2].map((j) => [0, 1].flatMap((i) => [0, 1, 2, 3].map((k) => i * 12 + j * 4 + k))),
      );
    });

    it('expand broadcasts with stride 0 and shares storage', () => {
      const x = tensor([[1], [2], [3]]);
      const e = x.expand(2, 3, 4);
      expect(e.shape).toEqual([2, 3, 4]);
      expect(e.strides).toEqual([0, 1, 0]);
      expect(e.storage).toBe(x.storage);
      expect((e.toArray() as number[][][])[1]![2]).toEqual([3, 3, 3, 3]);
      expect(x.expand(-1, 5).shape).toEqual([3, 5]);
      expect(vals(e.contiguous())).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
      expect(vals(tensor(2).expand(3))).toEqual([2, 2, 2]);
    });
  });

  describe('copies', () => {
    it('cat and stack write new storage with the right values', () => {
      const a = iota([2, 2]);
      const b = tensor([[10], [20]]);
      const c = F.cat([a, b], 1);
      expect(c.toArray()).toEqual([
        [0, 1, 10],
        [2, 3, 20],
      ]);
      expect(c.storage).not.toBe(a.storage);
      expect(F.cat([a, a.T], 0).toArray()).toEqual([
        [0, 1],
        [2, 3],
        [0, 2],
        [1, 3],
      ]);
      expect(F.cat([tensor([1n]), tensor([2n, 3n])]).toArray()).toEqual([1n, 2n, 3n]);
      const s = F.stack([tensor([1, 2]), tensor([3, 4])], 1);
      expect(s.toArray()).toEqual([
        [1, 3],
        [2, 4],
      ]);
      expect(F.stack([tensor([1, 2]), tensor([3, 4])], -1).shape).toEqual([2, 2]);
      expect(F.stack([tensor(1), tensor(2)]).toArray()).toEqual([1, 2]);
    });

    it('views of views keep reading the original storage', () => {
      const x = iota([3, 4]);
      const v = x.T.narrow(1, 1, 2).unsqueeze(0).transpose(0, 2);
      expect(v.shape).toEqual([2, 4, 1]);
      expect(v.storage).toBe(x.storage);
      expect(v.toArray()).toEqual([[[4], [5], [6], [7]], [[8], [9], [10], [11]]]);
      noGrad(() => v.narrow(0, 1, 1).fill_(0));
      expect(x.toArray()).toEqual([
        [0, 1, 2, 3],
        [4, 5, 6, 7],
        [0, 0, 0, 0],
      ]);
    });
  });

  describe('views in autograd', () => {
    it('a view of a leaf requiring grad is not a leaf and gradients flow back', () => {
      const x = iota([2, 3]).requiresGrad_();
      const v = x.T;
      expect(v.isLeaf).toBe(false);
      expect(v.requiresGrad).toBe(true);
      v.narrow(0, 1, 1).sum().backward();
      expect(x.grad!.toArray()).toEqual([
        [0, 1, 0],
        [0, 1, 0],
      ]);
    });

    it('views made under noGrad do not track', () => {
      const x = iota([2, 3]).requiresGrad_();
      const v = noGrad(() => x.reshape(3, 2));
      expect(v.requiresGrad).toBe(false);
      expect(v.storage).toBe(x.storage);
    });
  });
});
