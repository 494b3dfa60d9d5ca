// Autograd engine semantics (accumulation, hooks, retain_grad, graph freeing, aliasing) and
// finite-difference gradient checks of every differentiable op. PyTorch semantics are the spec.
import { describe, expect, it } from 'vitest';
import {
  Tensor, backward, functional as F, isGradEnabled, noGrad, tensor, withGradMode, zeros,
} from '../src/index.js';
import {
  KERNEL_MODES, awayFromZero, expectValues, gradcheck, leaf, leafOf, uniformValues, vals, withKernels,
} from './unit-helpers.js';

describe.each(KERNEL_MODES)('autograd engine (%s kernels)', (mode) => {
  withKernels(mode);

  it('accumulates gradients across two backward calls', () => {
    const x = leafOf([1, -2, 3]);
    F.sum(F.mul(x, x)).backward();
    expectValues(x.grad!, [2, -4, 6]);
    F.sum(F.mul(x, x)).backward();
    expectValues(x.grad!, [4, -8, 12]);
    // a third, different graph keeps accumulating into the same buffer
    F.sum(F.mul(x, 10)).backward();
    expectValues(x.grad!, [14, 2, 22]);
  });

  it('sums the gradient of a tensor used twice in one op (x*x, x+x)', () => {
    const x = leafOf([0.5, -1.5, 2]);
    F.sum(F.mul(x, x)).backward();
    expectValues(x.grad!, [1, -3, 4]);

    const y = leafOf([0.5, -1.5, 2]);
    F.sum(F.add(y, y)).backward();
    expectValues(y.grad!, [2, 2, 2]);

    const z = leafOf([0.5, -1.5, 2]);
    F.sum(F.sub(z, z)).backward();
    expectValues(z.grad!, [0, 0, 0]);
  });

  it('handles shared subexpressions (diamond graphs)', () => {
    const xv = [0.3, -0.7, 1.1];
    const x = leafOf(xv);
    const s = F.mul(x, 2); // s = 2x
    const y = F.add(F.mul(s, s), s); // y = s^2 + s ; dy/dx = (2s + 1) * 2
    F.sum(y).backward();
    expectValues(x.grad!, xv.map((v) => (4 * v + 1) * 2));

    // deeper diamond: a = exp(x); b = a * a; c = a + b; d = c * a
    const x2 = leafOf(xv);
    const a = F.exp(x2);
    const d = F.mul(F.add(a, F.mul(a, a)), a); // d = a^2 + a^3, dd/dx = (2a^2 + 3a^3)
    F.sum(d).backward();
    expectValues(x2.grad!, xv.map((v) => 2 * Math.exp(2 * v) + 3 * Math.exp(3 * v)), 1e-4);
  });

  it('records nothing under noGrad and withGradMode(false)', () => {
    const x = leafOf([1, 2]);
    expect(isGradEnabled()).toBe(true);
    const y = noGrad(() => {
      expect(isGradEnabled()).toBe(false);
      return F.mul(F.exp(x), 3);
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.gradFn).toBeNull();
    expect(y.requiresGrad).toBe(false);
    expect(y.isLeaf).toBe(true);
    expect(() => y.backward()).toThrow(/does not require grad/);

    const z = withGradMode(false, () => F.add(x, 1));
    expect(z.gradFn).toBeNull();
    // re-enabled inside a disabled scope
    const w = noGrad(() => withGradMode(true, () => F.add(x, 1)));
    expect(w.gradFn).not.toBeNull();
    expect(w.requiresGrad).toBe(true);
    // grad mode is restored even when the body throws
    expect(() =>
      noGrad(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
  });

  it('records a gradFn only when some input requires grad', () => {
    const a = leafOf([1, 2]);
    const b = tensor([3, 4]);
    const c = F.mul(a, b);
    expect(c.requiresGrad).toBe(true);
    expect(c.gradFn).not.toBeNull();
    expect(c.isLeaf).toBe(false);
    const d = F.mul(b, b);
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    F.sum(c).backward();
    expectValues(a.grad!, [3, 4]);
    expect(b.grad).toBeNull();
    // intermediates do not keep .grad unless asked
    expect(c.grad).toBeNull();
  });

  it('detach cuts the graph but shares storage', () => {
    const x = leafOf([1, 2, 3]);
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.gradFn).toBeNull();
    expect(d.storage).toBe(x.storage);
    noGrad(() => d.fill_(5));
    expectValues(x, [5, 5, 5]);
    noGrad(() => x.fill_(2));

    // y = x * stop_grad(x): dy/dx = stop_grad(x), not 2x
    const y = F.mul(x, x.detach());
    F.sum(y).backward();
    expectValues(x.grad!, [2, 2, 2]);

    // detaching an intermediate stops the gradient there
    const x2 = leafOf([1, 2, 3]);
    const h = F.mul(x2, 3).detach();
    expect(h.isLeaf).toBe(true);
    const out = F.add(F.mul(h, x2), 0);
    F.sum(out).backward();
    expectValues(x2.grad!, [3, 6, 9]);
  });

  it('retainGrad keeps the gradient of intermediates', () => {
    const xv = [0.5, -1, 2];
    const x = leafOf(xv);
    const h = F.mul(x, 3);
    expect(h.retainGrad()).toBe(h);
    const k = F.add(h, 1); // not retained
    const y = F.sum(F.mul(k, k)); // dy/dk = 2k, dy/dh = 2k, dy/dx = 6k
    y.backward();
    expectValues(h.grad!, xv.map((v) => 2 * (3 * v + 1)));
    expect(k.grad).toBeNull();
    expectValues(x.grad!, xv.map((v) => 6 * (3 * v + 1)));
    // retainGrad on a leaf is a no-op that still works
    expect(x.retainGrad()).toBe(x);
    // and it requires requiresGrad
    expect(() => tensor([1]).retainGrad()).toThrow(/doesn't require grad/);
  });

  it('retained gradient of an intermediate used twice is the sum over its uses', () => {
    const x = leafOf([1, 2]);
    const h = F.mul(x, 2);
    h.retainGrad();
    F.sum(F.add(F.mul(h, 3), F.mul(h, h))).backward(); // d/dh = 3 + 2h
    expectValues(h.grad!, [3 + 4, 3 + 8]);
    expectValues(x.grad!, [14, 22]);
  });

  it('a hook on a leaf sees the incoming gradient and its return value replaces it', () => {
    const x = leafOf([1, 2, 3]);
    const seen: number[][] = [];
    const handle = x.registerHook((g) => {
      seen.push(vals(g));
      return F.mul(g, 2);
    });
    F.sum(F.mul(x, x)).backward();
    expect(seen).toEqual([[2, 4, 6]]);
    expectValues(x.grad!, [4, 8, 12]);

    // a hook returning nothing leaves the gradient alone
    const y = leafOf([1, 2, 3]);
    let calls = 0;
    y.registerHook(() => {
      calls++;
    });
    F.sum(F.mul(y, 5)).backward();
    expect(calls).toBe(1);
    expectValues(y.grad!, [5, 5, 5]);

    // removing the hook (twice is harmless and removes nothing else)
    handle.remove();
    handle.remove();
    x.grad = null;
    F.sum(F.mul(x, x)).backward();
    expectValues(x.grad!, [2, 4, 6]);
    expect(seen.length).toBe(1);
  });

  it('a hook on a non-leaf changes what flows to its inputs', () => {
    const x = leafOf([1, -1]);
    const h = F.mul(x, 3);
    h.retainGrad();
    const seen: number[][] = [];
    h.registerHook((g) => {
      seen.push(vals(g));
      return F.mul(g, 10);
    });
    F.sum(F.mul(h, h)).backward(); // dL/dh = 2h = [6, -6]
    expect(seen).toEqual([[6, -6]]);
    // x sees the replaced gradient: 10 * 2h * 3
    expectValues(x.grad!, [180, -180]);
    // the retained grad is the hooked one (PyTorch runs retain_grad after tensor hooks)
    expectValues(h.grad!, [60, -60]);
  });

  it('several hooks chain in registration order', () => {
    const x = leafOf([1]);
    const order: string[] = [];
    x.registerHook((g) => {
      order.push('a');
      return F.add(g, 1);
    });
    x.registerHook((g) => {
      order.push('b:' + g.item());
      return F.mul(g, 3);
    });
    F.sum(F.mul(x, 2)).backward();
    expect(order).toEqual(['a', 'b:3']);
    expectValues(x.grad!, [9]);
  });

  it('registerHook needs a tensor that requires grad', () => {
    expect(() => tensor([1]).registerHook(() => {})).toThrow(/require/);
  });

  it('post-accumulate hooks fire once per backward per leaf, after .grad is set', () => {
    const a = leafOf([1, 2]);
    const b = leafOf([3]);
    const events: string[] = [];
    a.registerPostAccumulateGradHook((p) => {
      expect(p).toBe(a);
      events.push(`a1:${vals(p.grad!).join(',')}`);
    });
    a.registerPostAccumulateGradHook((p) => events.push(`a2:${vals(p.grad!).join(',')}`));
    b.registerPostAccumulateGradHook((p) => events.push(`b:${vals(p.grad!).join(',')}`));
    // a used three times in the graph: still one accumulation, one firing
    const loss = () => F.sum(F.add(F.mul(F.mul(a, a), b), a));
    loss().backward(); // dL/da = 2ab + 1 = [7, 13]; dL/db = sum(a^2) = 5
    expect(events.filter((e) => e.startsWith('a1'))).toEqual(['a1:7,13']);
    expect(events.filter((e) => e.startsWith('a2'))).toEqual(['a2:7,13']);
    expect(events.filter((e) => e.startsWith('b'))).toEqual(['b:5']);
    // the hooks of one leaf run in registration order
    expect(events.indexOf('a1:7,13')).toBeLessThan(events.indexOf('a2:7,13'));
    loss().backward();
    expect(events.filter((e) => e.startsWith('a1'))).toEqual(['a1:7,13', 'a1:14,26']);
    expect(events.filter((e) => e.startsWith('b'))).toEqual(['b:5', 'b:10']);
    expect(events.length).toBe(6);
  });

  it('post-accumulate hooks do not fire for leaves the backward does not reach', () => {
    const a = leafOf([1]);
    const b = leafOf([1]);
    let fired = 0;
    b.registerPostAccumulateGradHook(() => fired++);
    F.sum(F.mul(a, 2)).backward();
    expect(fired).toBe(0);
    expect(b.grad).toBeNull();
  });

  it('post-accumulate hooks are only for leaves; remove() works', () => {
    const a = leafOf([1]);
    expect(() => F.mul(a, 2).registerPostAccumulateGradHook(() => {})).toThrow(/leaf/);
    let n = 0;
    const h = a.registerPostAccumulateGradHook(() => n++);
    F.sum(F.mul(a, 2)).backward();
    h.remove();
    F.sum(F.mul(a, 2)).backward();
    expect(n).toBe(1);
  });

  it('backward twice through the same graph needs retainGraph', () => {
    const x = leafOf([1, 2]);
    const y = F.sum(F.exp(F.mul(x, x)));
    y.backward();
    expect(() => y.backward()).toThrow(/retainGraph/);

    const x2 = leafOf([0.5, -0.5]);
    const y2 = F.sum(F.exp(F.mul(x2, x2)));
    y2.backward(undefined, { retainGraph: true });
    const first = vals(x2.grad!);
    y2.backward(undefined, { retainGraph: true });
    expectValues(x2.grad!, first.map((v) => 2 * v));
    expectValues(first, [0.5, -0.5].map((v) => 2 * v * Math.exp(v * v)));
    y2.backward(); // last use may free
    expectValues(x2.grad!, first.map((v) => 3 * v));
    expect(() => y2.backward()).toThrow(/retainGraph/);
  });

  it('backward of a non-scalar needs an explicit gradient of the same shape', () => {
    const x = leafOf([1, 2, 3]);
    const y = F.mul(x, 2);
    expect(() => y.backward()).toThrow(/scalar/);
    expect(() => y.backward(tensor([1, 1]))).toThrow(/\[2\].*\[3\]|shape/);
    y.backward(tensor([1, 0.5, -1]));
    expectValues(x.grad!, [2, 1, -2]);
    // the functional form
    const x2 = leafOf([1, 2]);
    backward(F.mul(x2, 3), tensor([1, 2]));
    expectValues(x2.grad!, [3, 6]);
  });

  it('a one-element non-0-d output can be the root', () => {
    const x = leafOf([2]);
    F.mul(x, x).backward();
    expectValues(x.grad!, [4]);
  });

  it('backward of a leaf that requires grad puts the seed into .grad', () => {
    const x = leafOf([3]);
    x.backward();
    expectValues(x.grad!, [1]);
  });

  it('one gradient flowing to two leaves does not alias their .grad', () => {
    const a = leafOf([1, 2, 3]);
    const b = leafOf([4, 5, 6]);
    const y = F.add(a, b);
    F.sum(y).backward();
    expectValues(a.grad!, [1, 1, 1]);
    expectValues(b.grad!, [1, 1, 1]);
    noGrad(() => a.grad!.mul_(7));
    expectValues(b.grad!, [1, 1, 1]);
    noGrad(() => b.grad!.add_(1));
    expectValues(a.grad!, [7, 7, 7]);
    // accumulating in a second backward must not leak either
    F.sum(F.add(a, b)).backward();
    expectValues(a.grad!, [8, 8, 8]);
    expectValues(b.grad!, [3, 3, 3]);
  });

  it('leaf .grad does not alias the caller-provided gradient or an intermediate gradient', () => {
    const a = leafOf([1, 2]);
    const b = leafOf([3, 4]);
    const g = tensor([1, 2]);
    F.add(a, b).backward(g);
    noGrad(() => g.fill_(100));
    expectValues(a.grad!, [1, 2]);
    expectValues(b.grad!, [1, 2]);

    // through a multiply the upstream is a fresh tensor shared by both leaves
    const c = leafOf([1, 2]);
    const d = leafOf([3, 4]);
    F.sum(F.mul(F.add(c, d), 2)).backward();
    noGrad(() => c.grad!.zero_());
    expectValues(d.grad!, [2, 2]);

    // a leaf and a view of the same gradient (reshape backward)
    const e = leafOf([1, 2, 3, 4], [2, 2]);
    const f = leafOf([1, 2, 3, 4]);
    F.sum(F.mul(F.add(e, F.reshape(f, [2, 2])), 3)).backward();
    noGrad(() => e.grad!.fill_(-1));
    expectValues(f.grad!, [3, 3, 3, 3]);

    // a retained intermediate gradient and a leaf gradient
    const p = leafOf([1, 2]);
    const h = F.mul(p, 1);
    h.retainGrad();
    F.sum(F.mul(F.add(h, 0), 4)).backward();
    noGrad(() => h.grad!.fill_(0));
    expectValues(p.grad!, [4, 4]);
  });

  it('gradients reach leaves that are non-contiguous views', () => {
    const base = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const x = base.T.detach().requiresGrad_(); // [3, 2], strides [1, 3]
    expect(x.isContiguous()).toBe(false);
    const w = tensor([
      [1, 10],
      [100, 1000],
      [-1, -10],
    ]);
    F.sum(F.mul(F.mul(x, x), w)).backward();
    expect(x.grad!.shape).toEqual([3, 2]);
    // d/dx = 2 x w, x = [[1,4],[2,5],[3,6]]
    expectValues(x.grad!, [2, 80, 400, 10000, -6, -120]);
  });

  it('float16 / bfloat16 graphs backpropagate (sum, mean, softmax, matmul) with 16-bit grads', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const x = tensor([0.5, -1, 2], { dtype, requiresGrad: true });
      F.sum(F.mul(x, x)).backward();
      expect(x.grad!.dtype).toBe(dtype);
      expectValues(x.grad!, [1, -2, 4]);
      const y = tensor([[1, 2], [3, 4]], { dtype, requiresGrad: true });
      F.mean(y, 1).sum().backward();
      expect(y.grad!.dtype).toBe(dtype);
      expectValues(y.grad!, [0.5, 0.5, 0.5, 0.5]);
      const z = tensor([[1, 2], [3, 4]], { dtype, requiresGrad: true });
      F.sum(F.mul(F.softmax(z, 0), tensor([[1, 0], [0, 1]], { dtype }))).backward();
      expect(z.grad!.dtype).toBe(dtype);
      const m = tensor([[1, 2]], { dtype, requiresGrad: true });
      F.sum(F.matmul(m, tensor([[1], [3]], { dtype }))).backward();
      expect(m.grad!.dtype).toBe(dtype);
      expectValues(m.grad!, [1, 3]);
    }
  });

  it('a leaf gets a gradient of its own dtype in mixed-precision ops (as torch)', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3, 4], { dtype: 'float16', requiresGrad: true });
    const y = F.mul(a, b);
    expect(y.dtype).toBe('float32');
    F.sum(y).backward();
    expect(a.grad!.dtype).toBe('float32');
    expect(b.grad!.dtype).toBe('float16');
    expectValues(a.grad!, [3, 4]);
    expectValues(b.grad!, [1, 2]);
    const w = tensor([[1, 0], [0, 1]], { requiresGrad: true });
    const h = tensor([[1, 2], [3, 4]], { dtype: 'bfloat16', requiresGrad: true });
    F.sum(F.matmul(h, w)).backward();
    expect(h.grad!.dtype).toBe('bfloat16');
    expect(w.grad!.dtype).toBe('float32');
    expectValues(w.grad!, [4, 4, 6, 6]);
  });

  it('a gradient of the wrong shape from a custom backward is reported', () => {
    const x = leafOf([1, 2, 3]);
    const y = F.mul(x, 1);
    const bad = new Tensor(new Float32Array(3), [3], 'float32');
    bad.requiresGrad = true;
    bad.gradFn = { name: 'BadBackward', inputs: [y], backward: () => [zeros([2])] };
    expect(() => F.sum(bad).backward()).toThrow(/BadBackward.*\[2\].*\[3\]/);
  });
});

describe.each(KERNEL_MODES)('finite-difference gradient checks (%s kernels)', (mode) => {
  withKernels(mode);

  describe('elementwise', () => {
    it('add / sub with broadcasting and alpha', () => {
      gradcheck((a, b) => F.add(a, b, 2), [leaf([2, 3], 1), leaf([3], 2)]);
      gradcheck((a, b) => F.sub(a, b), [leaf([2, 1, 3], 3), leaf([4, 1], 4)]);
      gradcheck((a, b) => F.sub(a, b, -0.5), [leaf([3], 5), leaf([2, 3], 6)]);
    });

    it('mul with broadcasting and a number', () => {
      gradcheck((a, b) => F.mul(a, b), [leaf([2, 3], 7), leaf([2, 1], 8)]);
      gradcheck((a) => F.mul(a, -1.5), [leaf([4], 9)]);
    });

    it('div (tensor / tensor with broadcasting, tensor / number)', () => {
      gradcheck((a, b) => F.div(a, b), [leaf([2, 3], 10), leaf([3], 11, 0.8, 2)], { eps: 1e-3 });
      gradcheck((a, b) => F.div(a, b), [leaf([3], 12), leaf([2, 3], 13, -2, -0.8)], { eps: 1e-3 });
      gradcheck((a) => F.div(a, 4), [leaf([3], 14)]);
      // only the denominator requires grad
      const num = tensor([1, -2, 3]);
      gradcheck((b) => F.div(num, b), [leaf([3], 15, 0.8, 2)], { eps: 1e-3 });
    });

    it('pow with a number exponent', () => {
      gradcheck((a) => F.pow(a, 3), [leaf([5], 16)]);
      gradcheck((a) => F.pow(a, 2), [leaf([5], 17)]);
      gradcheck((a) => F.pow(a, 0.5), [leaf([5], 18, 0.5, 2)], { eps: 1e-3 });
      gradcheck((a) => F.pow(a, -2), [leaf([5], 19, 0.7, 2)], { eps: 1e-3 });
      gradcheck((a) => F.pow(a, 1), [leaf([3], 20)]);
      const x = leafOf([1, 2, 3]);
      F.sum(F.pow(x, 0)).backward();
      expectValues(x.grad!, [0, 0, 0]);
    });

    it('pow with a tensor exponent (both sides, broadcast)', () => {
      gradcheck((a, e) => F.pow(a, e), [leaf([2, 3], 21, 0.5, 2), leaf([3], 22, -1.5, 2.5)], { eps: 1e-3 });
      gradcheck((a, e) => F.pow(a, e), [leaf([3], 23, 0.5, 2), leaf([2, 3], 24, -1, 2)], { eps: 1e-3 });
      // analytic check: d/de a^e = a^e ln a
      const a = leafOf([2, 3]);
      const e = leafOf([3, 2]);
      F.sum(F.pow(a, e)).backward();
      expectValues(a.grad!, [3 * 4, 2 * 3], 1e-5);
      expectValues(e.grad!, [8 * Math.log(2), 9 * Math.log(3)], 1e-5);
    });

    it('sqrt, rsqrt, exp, log', () => {
      gradcheck((a) => F.sqrt(a), [leaf([6], 25, 0.3, 3)], { eps: 1e-3 });
      gradcheck((a) => F.rsqrt(a), [leaf([6], 26, 0.4, 3)], { eps: 1e-3 });
      gradcheck((a) => F.exp(a), [leaf([6], 27, -2, 2)], { eps: 1e-3 });
      gradcheck((a) => F.log(a), [leaf([6], 28, 0.3, 4)], { eps: 1e-3 });
      // analytic: rsqrt'(x) = -0.5 x^-1.5
      const x = leafOf([4, 0.25]);
      F.sum(F.rsqrt(x)).backward();
      expectValues(x.grad!, [-0.5 / 8, -0.5 * 8]);
    });

    it('tanh, sigmoid, neg, square', () => {
      gradcheck((a) => F.tanh(a), [leaf([6], 29, -2, 2)]);
      gradcheck((a) => F.sigmoid(a), [leaf([6], 30, -3, 3)]);
      gradcheck((a) => F.neg(a), [leaf([3], 31)]);
      gradcheck((a) => F.square(a), [leaf([3], 32)]);
    });

    it('relu and abs away from the kink; their gradient at 0 is 0', () => {
      gradcheck((a) => F.relu(a), [leafOf(awayFromZero(8, 33))]);
      gradcheck((a) => F.abs(a), [leafOf(awayFromZero(8, 34))]);
      const x = leafOf([0, -1, 2]);
      F.sum(F.relu(x)).backward();
      expectValues(x.grad!, [0, 0, 1]);
      const y = leafOf([0, -1, 2]);
      F.sum(F.abs(y)).backward();
      expectValues(y.grad!, [0, -1, 1]);
    });

    it('maximum / minimum with broadcasting; ties split the gradient evenly', () => {
      // values of the two inputs are at least 0.05 apart
      const a = leafOf([0.1, 0.9, -0.4, 0.6, -0.8, 0.3], [2, 3]);
      const b = leafOf([0.5, -0.2, 0.0]);
      gradcheck((x, y) => F.maximum(x, y), [a, b]);
      gradcheck((x, y) => F.minimum(x, y), [a, b]);
      const p = leafOf([1, 2, 3]);
      const q = leafOf([1, 0, 5]);
      F.sum(F.maximum(p, q)).backward();
      expectValues(p.grad!, [0.5, 1, 0]);
      expectValues(q.grad!, [0.5, 0, 1]);
      const r = leafOf([1, 2, 3]);
      const s = leafOf([1, 0, 5]);
      F.sum(F.minimum(r, s)).backward();
      expectValues(r.grad!, [0.5, 0, 1]);
      expectValues(s.grad!, [0.5, 1, 0]);
    });
  });

  describe('nn ops', () => {
    it('softmax over the last and non-last dims', () => {
      gradcheck((x) => F.softmax(x, -1), [leaf([2, 4], 40, -2, 2)]);
      gradcheck((x) => F.softmax(x, 0), [leaf([3, 4], 41, -2, 2)]);
      gradcheck((x) => F.softmax(x, 1), [leaf([2, 3, 4], 42, -2, 2)]);
      // forward along dim 0 sums to 1 over that dim
      const y = F.softmax(leaf([3, 4], 43), 0);
      expectValues(F.sum(y, 0), [1, 1, 1, 1]);
    });

    it('logSoftmax', () => {
      gradcheck((x) => F.logSoftmax(x, -1), [leaf([2, 5], 44, -2, 2)]);
      gradcheck((x) => F.logSoftmax(x, 0), [leaf([3, 2], 45, -2, 2)]);
      gradcheck((x) => F.logSoftmax(x, 1), [leaf([2, 3, 2], 46, -2, 2)]);
    });

    it('layerNorm with affine weight and bias', () => {
      const x = leaf([2, 3, 4], 47, -2, 2);
      const w = leaf([4], 48, 0.5, 1.5);
      const b = leaf([4], 49);
      gradcheck((x_, w_, b_) => F.layerNorm(x_, [4], w_, b_), [x, w, b], { eps: 1e-3, atol: 1e-2 });
      // normalized over the last two dims
      gradcheck((x_, w_, b_) => F.layerNorm(x_, [3, 4], w_, b_), [leaf([2, 3, 4], 50, -2, 2), leaf([3, 4], 51, 0.5, 1.5), leaf([3, 4], 52)], {
        eps: 1e-3,
        atol: 1e-2,
      });
    });

    it('layerNorm without affine', () => {
      gradcheck((x_) => F.layerNorm(x_, [5]), [leaf([3, 5], 53, -2, 2)], { eps: 1e-3, atol: 1e-2 });
      // forward: zero mean, unit (biased) variance per row
      const y = F.layerNorm(leaf([3, 5], 54, -2, 2), [5], null, null, 0);
      const yd = vals(y);
      for (let r = 0; r < 3; r++) {
        const row = yd.slice(r * 5, r * 5 + 5);
        const m = row.reduce((s, v) => s + v, 0) / 5;
        const v = row.reduce((s, x) => s + (x - m) ** 2, 0) / 5;
        expect(Math.abs(m)).toBeLessThan(1e-5);
        expect(Math.abs(v - 1)).toBeLessThan(1e-4);
      }
    });

    it('gelu (erf and tanh)', () => {
      gradcheck((x) => F.gelu(x, 'none'), [leaf([8], 55, -3, 3)], { eps: 1e-3 });
      gradcheck((x) => F.gelu(x, 'tanh'), [leaf([8], 56, -3, 3)], { eps: 1e-3 });
      gradcheck((x) => F.gelu(x), [leaf([8], 57, -3, 3)], { eps: 1e-3 });
      // forward values: gelu(1) = 0.8413447..., tanh form = 0.8411920...
      expectValues(F.gelu(tensor([1, -1, 0])), [0.8413447460685429, -0.15865525393145707, 0], 1e-6);
      expectValues(F.gelu(tensor([1, -1]), 'tanh'), [0.8411919906082768, -0.15880800939172324], 1e-6);
    });

    it('where (tensor and number branches, broadcasting)', () => {
      const cond = tensor([
        [1, 0, 1],
        [0, 0, 1],
      ]);
      gradcheck((a, b) => F.where(cond, a, b), [leaf([2, 3], 58), leaf([3], 59)]);
      gradcheck((a) => F.where(cond, a, 0.5), [leaf([2, 3], 60)]);
      gradcheck((b) => F.where(cond, -1, b), [leaf([2, 1], 61)]);
      const a = leafOf([1, 2, 3]);
      const b = leafOf([4, 5, 6]);
      const y = F.where(tensor([1, 0, 1]), a, b);
      expectValues(y, [1, 5, 3]);
      F.sum(y).backward();
      expectValues(a.grad!, [1, 0, 1]);
      expectValues(b.grad!, [0, 1, 0]);
    });

    it('maskedFill', () => {
      const mask = tensor([1, 0, 0, 1]);
      gradcheck((x) => F.maskedFill(x, mask, -3), [leaf([2, 4], 62)]);
      const x = leafOf([1, 2, 3, 4]);
      const y = F.maskedFill(x, mask, -3);
      expectValues(y, [-3, 2, 3, -3]);
      F.sum(F.mul(y, y)).backward();
      expectValues(x.grad!, [0, 4, 6, 0]);
    });

    it('linear (x W^T + b)', () => {
      gradcheck((x, w, b) => F.linear(x, w, b), [leaf([2, 3], 63), leaf([4, 3], 64), leaf([4], 65)]);
      gradcheck((x, w) => F.linear(x, w), [leaf([2, 2, 3], 66), leaf([4, 3], 67)]);
      gradcheck((x, w, b) => F.linear(x, w, b), [leaf([2, 2, 3], 166), leaf([4, 3], 167), leaf([4], 168)]);
      gradcheck((x, w, b) => F.linear(x, w, b), [leaf([3], 169), leaf([2, 3], 170), leaf([2], 171)]);
      gradcheck((x, w, b) => F.linear(F.transpose(x, 0, 1), w, b), [leaf([3, 2], 172), leaf([4, 3], 173), leaf([4], 174)]);
      // values against the explicit formula
      const x = leaf([2, 2, 3], 175);
      const w = leaf([4, 3], 176);
      const b = leaf([4], 177);
      const ref = noGrad(() => F.add(F.matmul(x, F.transpose(w, 0, 1)), b));
      const y = noGrad(() => F.linear(x, w, b));
      expect(y.shape).toEqual([2, 2, 4]);
      expectValues(y, vals(ref), 1e-5);
    });

    it('addmm (row bias, full bias, transposed operands)', () => {
      gradcheck((b, m1, m2) => F.addmm(b, m1, m2), [leaf([4], 178), leaf([3, 2], 179), leaf([2, 4], 180)]);
      gradcheck((b, m1, m2) => F.addmm(b, m1, m2), [leaf([3, 4], 181), leaf([3, 2], 182), leaf([2, 4], 183)]);
      gradcheck((b, m1, m2) => F.addmm(b, F.transpose(m1, 0, 1), F.transpose(m2, 0, 1)), [leaf([4], 184), leaf([2, 3], 185), leaf([4, 2], 186)]);
      const y = F.addmm(tensor([10, 20]), tensor([[1, 2]]), tensor([[1, 0], [0, 1]]));
      expectValues(y, [11, 22]);
      // the bias is not modified and does not alias the output
      const bias = tensor([[1, 1]]);
      const out = F.addmm(bias, tensor([[1, 2]]), tensor([[1, 0], [0, 1]]));
      noGrad(() => out.fill_(0));
      expectValues(bias, [1, 1]);
    });

    it('embedding with repeated ids accumulates rows', () => {
      const weight = leaf([5, 3], 68);
      const ids = tensor([[1n, 3n, 1n], [4n, 1n, 0n]]);
      gradcheck((w) => F.embedding(ids, w), [weight]);
      // by hand: upstream gradient of all ones -> row count per id
      const w2 = leaf([5, 3], 69);
      F.sum(F.embedding(ids, w2)).backward();
      expectValues(w2.grad!, [1, 1, 1, 3, 3, 3, 0, 0, 0, 1, 1, 1, 1, 1, 1]);
      // int32 ids work too
      const w3 = leaf([5, 3], 70);
      const out = F.embedding(tensor(Int32Array.of(2, 2)), w3);
      expect(out.shape).toEqual([2, 3]);
      F.sum(out).backward();
      expectValues(w3.grad!, [0, 0, 0, 0, 0, 0, 2, 2, 2, 0, 0, 0, 0, 0, 0]);
    });

    it('crossEntropy: mean, sum and ignoreIndex', () => {
      const logitsV = uniformValues(12, 71, -2, 2);
      const targets = tensor([2n, -100n, 0n]);
      const lse = (row: number[]) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
      const rows = [0, 1, 2].map((r) => logitsV.slice(r * 4, r * 4 + 4));
      const l0 = lse(rows[0]!) - rows[0]![2]!;
      const l2 = lse(rows[2]!) - rows[2]![0]!;

      const mean = F.crossEntropy(tensor(Float32Array.from(logitsV), { shape: [3, 4] }), targets);
      expect(mean.shape).toEqual([]);
      expectValues(mean, [(l0 + l2) / 2], 1e-5);
      const sum = F.crossEntropy(tensor(Float32Array.from(logitsV), { shape: [3, 4] }), targets, { reduction: 'sum' });
      expectValues(sum, [l0 + l2], 1e-5);

      gradcheck((x) => F.crossEntropy(x, targets), [leafOf(logitsV, [3, 4])], { eps: 1e-3 });
      const g = gradcheck((x) => F.crossEntropy(x, targets, { reduction: 'sum' }), [leafOf(logitsV, [3, 4])], { eps: 1e-3 })[0]!;
      // the ignored row gets exactly zero gradient
      expectValues(vals(g).slice(4, 8), [0, 0, 0, 0], 0);

      // a custom ignoreIndex
      const t2 = tensor([1n, 3n, 3n]);
      const x2 = leafOf(logitsV, [3, 4]);
      const l = F.crossEntropy(x2, t2, { ignoreIndex: 3 });
      expectValues(l, [lse(rows[0]!) - rows[0]![1]!], 1e-5);
      l.backward();
      expectValues(vals(x2.grad!).slice(4), new Array(8).fill(0), 0);
      // 1-D logits with a 0-d target
      gradcheck((x) => F.crossEntropy(x, tensor(2n)), [leaf([5], 72, -2, 2)], { eps: 1e-3 });
    });

    it('scaledDotProductAttention, non-causal and causal', () => {
      const q = leaf([2, 3, 4], 73);
      const k = leaf([2, 3, 4], 74);
      const v = leaf([2, 3, 4], 75);
      gradcheck((a, b, c) => F.scaledDotProductAttention(a, b, c), [q, k, v], { eps: 1e-3 });
      gradcheck((a, b, c) => F.scaledDotProductAttention(a, b, c, { isCausal: true }), [q, k, v], { eps: 1e-3 });
      gradcheck((a, b, c) => F.scaledDotProductAttention(a, b, c, { isCausal: true, scale: 0.7 }), [q, k, v], { eps: 1e-3 });
      // [B, T, H, D] inputs viewed as [B, H, T, D] (non-contiguous), both paths
      const q4 = leaf([1, 3, 2, 2], 76);
      const k4 = leaf([1, 3, 2, 2], 77);
      const v4 = leaf([1, 3, 2, 2], 78);
      const heads = (t: Tensor) => F.transpose(t, 1, 2);
      gradcheck((a, b, c) => F.scaledDotProductAttention(heads(a), heads(b), heads(c), { isCausal: true }), [q4, k4, v4], { eps: 1e-3 });
      gradcheck((a, b, c) => F.scaledDotProductAttention(heads(a), heads(b), heads(c)), [q4, k4, v4], { eps: 1e-3 });
      // non-causal with different query and key lengths
      gradcheck((a, b, c) => F.scaledDotProductAttention(a, b, c), [leaf([2, 4], 79), leaf([3, 4], 80), leaf([3, 2], 81)], { eps: 1e-3 });

      // causal: row 0 attends only to key 0, so its output is v[.., 0, :]
      const causal = noGrad(() => F.scaledDotProductAttention(q, k, v, { isCausal: true }));
      const full = noGrad(() => F.scaledDotProductAttention(q, k, v));
      const cv = vals(causal);
      const vv = vals(v);
      expectValues(cv.slice(0, 4), vv.slice(0, 4));
      expectValues(cv.slice(12, 16), vv.slice(12, 16));
      // the last row sees every key, so it equals the non-causal output there
      expectValues(cv.slice(8, 12), vals(full).slice(8, 12), 1e-5);
      expect(Math.abs(cv[4]! - vals(full)[4]!)).toBeGreaterThan(1e-6);

      // non-causal against the explicit formula
      const ref = noGrad(() => F.matmul(F.softmax(F.mul(F.matmul(q, F.transpose(k, -1, -2)), 0.5), -1), v));
      expectValues(full, vals(ref), 1e-5);
      // causal against an explicit mask
      const mask = tensor([
        [0, 1, 1],
        [0, 0, 1],
        [0, 0, 0],
      ]);
      const refC = noGrad(() => F.matmul(F.softmax(F.maskedFill(F.mul(F.matmul(q, F.transpose(k, -1, -2)), 0.5), mask, -Infinity), -1), v));
      expectValues(causal, vals(refC), 1e-5);
    });

    it('dropout keeps a bfloat16 input bfloat16: x * 1/(1-p) rounded once, gradient bfloat16', () => {
      const xs = [1, -2.5, 3.140625, 0.0078125, 100, -7, 0.5, 9];
      const x = F.to(leafOf(xs), 'bfloat16').detach();
      x.requiresGrad = true;
      const y = F.dropout(x, 0.1, true);
      expect(y.dtype).toBe('bfloat16');
      F.sum(y).backward();
      expect(x.grad!.dtype).toBe('bfloat16');
      const got = vals(y);
      const grad = vals(x.grad!);
      got.forEach((v, i) => {
        const kept = v !== 0;
        // the fp32 product rounded to bfloat16 once (1/0.9 itself is not a bfloat16 value)
        const want = kept ? vals(F.to(tensor([Math.fround(xs[i]! * Math.fround(1 / 0.9))]), 'bfloat16'))[0]! : 0;
        expect(v).toBe(want);
        expect(grad[i]).toBe(kept ? vals(F.to(tensor([Math.fround(1 / 0.9)]), 'bfloat16'))[0] : 0);
      });
    });

    it('dropout gradient is the mask', () => {
      const x = leafOf(new Array(50).fill(1));
      const y = F.dropout(x, 0.4, true);
      F.sum(y).backward();
      expectValues(x.grad!, vals(y));
      for (const v of vals(y)) expect([0, 1 / 0.6].some((c) => Math.abs(c - v) < 1e-6)).toBe(true);
    });
  });

  describe('shape ops', () => {
    it('narrow', () => {
      gradcheck((x) => F.narrow(x, 1, 1, 2), [leaf([3, 4], 80)]);
      gradcheck((x) => F.narrow(x, 0, 1, 2), [leaf([3, 2, 2], 81)]);
      gradcheck((x) => F.narrow(x, -1, -2, 2), [leaf([2, 3], 82)]);
    });

    it('split and chunk', () => {
      gradcheck((x) => {
        const [a, b, c] = F.split(x, [1, 2, 1], 1);
        return F.add(F.add(F.mul(a!, 2), F.mul(b!, F.narrow(b!, 1, 1, 1))), F.exp(c!));
      }, [leaf([2, 4], 83)]);
      gradcheck((x) => {
        const parts = F.split(x, 2, 0); // sizes 2, 1
        return F.add(F.sum(parts[0]!, 0), F.mul(parts[1]!.squeeze(0), 3));
      }, [leaf([3, 2], 84)]);
      gradcheck((x) => {
        const [a, b] = F.chunk(x, 2, -1);
        return F.mul(a!, b!);
      }, [leaf([2, 6], 85)]);
    });

    it('cat and stack', () => {
      const a = leaf([2, 1], 86);
      const b = leaf([2, 3], 87);
      const c = tensor([
        [1, 2],
        [3, 4],
      ]); // no grad
      gradcheck((x, y, z) => F.cat([x, y, z], 1), [a, b, c]);
      gradcheck((x, y) => F.cat([F.mul(x, x), y], 0), [leaf([1, 3], 88), leaf([2, 3], 89)]);
      gradcheck((x, y) => F.stack([x, y], 1), [leaf([2, 3], 90), leaf([2, 3], 91)]);
      gradcheck((x, y) => F.stack([x, y], 0), [leaf([3], 92), leaf([3], 93)]);
      gradcheck((x, y) => F.stack([x, F.exp(y)], -1), [leaf([2, 2], 94), leaf([2, 2], 95)]);
      // the same tensor twice
      gradcheck((x) => F.cat([x, x], 0), [leaf([2], 96)]);
    });

    it('permute and transpose', () => {
      const w = tensor(Float32Array.from(uniformValues(24, 97)), { shape: [4, 2, 3] });
      gradcheck((x) => F.mul(F.permute(x, [2, 0, 1]), w), [leaf([2, 3, 4], 98)]);
      gradcheck((x) => F.transpose(x, 0, 2), [leaf([2, 3, 4], 99)]);
      gradcheck((x) => F.mul(x.T, x.T), [leaf([2, 3], 100)]);
    });

    it('expand', () => {
      gradcheck((x) => F.expand(x, [2, 3, 4]), [leaf([3, 1], 101)]);
      gradcheck((x) => F.mul(F.expand(x, [3, -1]), tensor([1, 2, 3]).reshape(3, 1)), [leaf([1, 4], 102)]);
      gradcheck((x) => F.expand(x, [2, 3]), [leaf([], 103)]);
    });

    it('squeeze, unsqueeze, flatten, reshape, view', () => {
      gradcheck((x) => F.mul(F.squeeze(x), tensor([1, 2, 3])), [leaf([1, 3, 1], 104)]);
      gradcheck((x) => F.squeeze(x, 0), [leaf([1, 3], 105)]);
      gradcheck((x) => F.unsqueeze(x, 1), [leaf([2, 3], 106)]);
      gradcheck((x) => F.unsqueeze(x, -1), [leaf([2, 3], 107)]);
      gradcheck((x) => F.flatten(x, 1, 2), [leaf([2, 2, 3, 1], 108)]);
      gradcheck((x) => F.flatten(F.transpose(x, 0, 1)), [leaf([2, 3], 109)]);
      gradcheck((x) => F.mul(F.reshape(F.transpose(x, 0, 1), [2, 3]), tensor([1, 2, 3])), [leaf([2, 3], 110)]);
      gradcheck((x) => F.view(x, [-1, 2]), [leaf([2, 3], 111)]);
    });

    it('contiguous, clone and to(float16) round trip', () => {
      gradcheck((x) => F.contiguous(F.transpose(x, 0, 1)), [leaf([2, 3], 112)]);
      gradcheck((x) => F.mul(F.clone(x), x), [leaf([4], 113)]);
      // cast to float16 and back: gradient passes through (values are exactly representable)
      const x = leafOf([0.5, -1.25, 2]);
      F.sum(F.mul(F.to(F.to(x, 'float16'), 'float32'), tensor([1, 2, 3]))).backward();
      expectValues(x.grad!, [1, 2, 3]);
    });
  });

  describe('reductions', () => {
    it('sum over all, one and several dims, keepdim', () => {
      gradcheck((x) => F.sum(x), [leaf([2, 3], 120)]);
      gradcheck((x) => F.sum(x, [0, 2]), [leaf([2, 3, 4], 121)]);
      gradcheck((x) => F.sum(x, [0, 2], true), [leaf([2, 3, 4], 122)]);
      gradcheck((x) => F.sum(x, [-1, 1]), [leaf([2, 3, 4], 123)]);
      gradcheck((x) => F.sum(F.transpose(x, 0, 2), 1), [leaf([2, 3, 4], 124)]);
      // dim=[] reduces every dim, as torch
      gradcheck((x) => F.sum(x, []), [leaf([2, 3], 128)]);
      const x = leafOf([1, 2, 3, 4], [2, 2]);
      const s = F.sum(x, []);
      expect(s.shape).toEqual([]);
      expect(s.item()).toBe(10);
      expect(F.mean(x, []).item()).toBe(2.5);
      expect(F.amax(x, []).item()).toBe(4);
    });

    it('mean over several dims', () => {
      gradcheck((x) => F.mean(x, [1, 2]), [leaf([2, 3, 4], 125)]);
      gradcheck((x) => F.mean(x, [0], true), [leaf([3, 2], 126)]);
      gradcheck((x) => F.mean(x), [leaf([3, 2], 127)]);
      const x = leafOf([1, 2, 3, 4, 5, 6], [2, 3]);
      const m = F.mean(x, [0, 1]);
      expect(m.shape).toEqual([]);
      expectValues(m, [3.5]);
      m.backward();
      expectValues(x.grad!, new Array(6).fill(1 / 6));
    });

    it('max(dim) values and indices', () => {
      const xv = [0.1, 0.9, -0.3, 0.5, -0.7, 0.2, 0.8, 0.4, -0.1, 0.0, 0.6, -0.5];
      gradcheck((x) => F.max(x, 1).values, [leafOf(xv, [3, 4])]);
      gradcheck((x) => F.max(x, 0, true).values, [leafOf(xv, [3, 4])]);
      gradcheck((x) => F.max(x, -1).values, [leafOf(xv, [2, 3, 2])]);
      const { values, indices } = F.max(tensor(Float32Array.from(xv), { shape: [3, 4] }), 1);
      expect(indices.dtype).toBe('int64');
      expect(indices.toArray()).toEqual([1n, 2n, 2n]);
      expectValues(values, [0.9, 0.8, 0.6]);
      // ties: first index gets the whole gradient
      const t = leafOf([1, 3, 3, 2]);
      const r = F.max(t, 0);
      expect(r.indices.item()).toBe(1);
      r.values.backward();
      expectValues(t.grad!, [0, 1, 0, 0]);
    });

    it('amax over one or several dims; ties split evenly', () => {
      const xv = [0.1, 0.9, -0.3, 0.5, -0.7, 0.2, 0.8, 0.4, -0.1, 0.0, 0.6, -0.5];
      gradcheck((x) => F.amax(x, 1), [leafOf(xv, [3, 4])]);
      gradcheck((x) => F.amax(x, [0, 2]), [leafOf(xv, [2, 3, 2])]);
      gradcheck((x) => F.amax(x, [0, 2], true), [leafOf(xv, [2, 3, 2])]);
      gradcheck((x) => F.amax(x), [leafOf(xv, [3, 4])]);
      const t = leafOf([1, 3, 3, 2]);
      const m = F.amax(t);
      expect(m.shape).toEqual([]);
      expectValues(m, [3]);
      m.backward();
      expectValues(t.grad!, [0, 0.5, 0.5, 0]);
    });
  });

  describe('matmul', () => {
    it('vector . vector -> scalar', () => {
      const a = leaf([4], 130);
      const b = leaf([4], 131);
      const y = F.matmul(a, b);
      expect(y.shape).toEqual([]);
      expectValues(y, [vals(a).reduce((s, v, i) => s + v * vals(b)[i]!, 0)]);
      gradcheck((x, z) => F.matmul(x, z), [a, b]);
    });

    it('matrix . vector', () => {
      const y = F.matmul(leaf([3, 4], 132), leaf([4], 133));
      expect(y.shape).toEqual([3]);
      gradcheck((x, z) => F.matmul(x, z), [leaf([3, 4], 132), leaf([4], 133)]);
    });

    it('vector . matrix', () => {
      const y = F.matmul(leaf([4], 134), leaf([4, 2], 135));
      expect(y.shape).toEqual([2]);
      gradcheck((x, z) => F.matmul(x, z), [leaf([4], 134), leaf([4, 2], 135)]);
    });

    it('batched . vector and vector . batched', () => {
      const y = F.matmul(leaf([2, 3, 4], 136), leaf([4], 137));
      expect(y.shape).toEqual([2, 3]);
      gradcheck((x, z) => F.matmul(x, z), [leaf([2, 3, 4], 136), leaf([4], 137)]);
      const y2 = F.matmul(leaf([3], 138), leaf([2, 3, 4], 139));
      expect(y2.shape).toEqual([2, 4]);
      gradcheck((x, z) => F.matmul(x, z), [leaf([3], 138), leaf([2, 3, 4], 139)]);
    });

    it('2-D values against a hand computation', () => {
      const a = tensor([
        [1, 2],
        [3, 4],
        [5, 6],
      ]);
      const b = tensor([
        [1, 0, -1],
        [2, 1, 0],
      ]);
      expectValues(F.matmul(a, b), [5, 2, -1, 11, 4, -3, 17, 6, -5]);
    });

    it('transposed (non-contiguous) operands', () => {
      gradcheck((x, z) => F.matmul(F.transpose(x, 0, 1), z), [leaf([4, 3], 140), leaf([4, 2], 141)]);
      gradcheck((x, z) => F.matmul(x, F.transpose(z, 0, 1)), [leaf([3, 4], 142), leaf([2, 4], 143)]);
      gradcheck((x, z) => F.matmul(F.transpose(x, -1, -2), F.transpose(z, -1, -2)), [leaf([2, 4, 3], 144), leaf([2, 5, 4], 145)]);
      // a leaf that is itself a transposed view
      const base = leaf([4, 3], 146);
      const xt = base.detach().T.requiresGrad_();
      gradcheck((x, z) => F.matmul(x, z), [xt, leaf([4, 2], 147)]);
      // narrowed (offset, row-strided) operand and a permuted batch
      gradcheck((x, z) => F.matmul(F.narrow(x, 1, 1, 3), z), [leaf([2, 5], 148), leaf([3, 2], 149)]);
      gradcheck((x, z) => F.matmul(F.permute(x, [1, 0, 2]), z), [leaf([3, 2, 4], 150), leaf([2, 4, 2], 151)]);
      // [B, 1, k] made from a transposed matrix (size-1 dim with an odd stride) against 2-D and batched operands
      gradcheck((x, z) => F.matmul(F.unsqueeze(F.transpose(x, 0, 1), 1), z), [leaf([3, 2], 187), leaf([3, 4], 188)]);
      gradcheck((x, z) => F.matmul(F.unsqueeze(F.transpose(x, 0, 1), 1), z), [leaf([3, 2], 189), leaf([2, 3, 4], 190)]);
      // two batch dims permuted so they cannot collapse to one stride
      gradcheck((x, z) => F.matmul(F.permute(x, [1, 0, 2, 3]), z), [leaf([3, 2, 2, 3], 191), leaf([2, 3, 3, 2], 192)]);
      // an expanded (stride-0) matrix operand
      gradcheck((x, z) => F.matmul(F.expand(x, [3, 4]), z), [leaf([1, 4], 193), leaf([4, 2], 194)]);
      gradcheck((x, z) => F.matmul(z, F.expand(x, [4, 3])), [leaf([4, 1], 195), leaf([2, 4], 196)]);
    });

    it('batch broadcasting', () => {
      const y = F.matmul(leaf([2, 1, 3, 4], 152), leaf([3, 4, 5], 153));
      expect(y.shape).toEqual([2, 3, 3, 5]);
      gradcheck((x, z) => F.matmul(x, z), [leaf([2, 1, 3, 4], 152), leaf([3, 4, 5], 153)]);
      gradcheck((x, z) => F.matmul(x, z), [leaf([2, 3, 4], 154), leaf([4, 2], 155)]);
      gradcheck((x, z) => F.matmul(x, z), [leaf([3, 4], 156), leaf([2, 4, 2], 157)]);
      gradcheck((x, z) => F.matmul(x, z), [leaf([1, 3, 4], 158), leaf([2, 4, 2], 159)]);
      // values of a broadcast batch against per-batch 2-D products
      const a = leaf([2, 1, 2, 3], 160);
      const b = leaf([3, 3, 2], 161);
      const out = noGrad(() => F.matmul(a, b));
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 3; j++) {
          const ref = noGrad(() => F.matmul(F.reshape(F.narrow(a, 0, i, 1), [2, 3]), F.reshape(F.narrow(b, 0, j, 1), [3, 2])));
          const got = F.reshape(F.narrow(F.narrow(out, 0, i, 1), 1, j, 1), [2, 2]);
          expectValues(got, vals(ref), 1e-5);
        }
      }
    });
  });
});
