import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kernels, loadSafetensors, nn, optim, tensor, useKernels, type Kernels, type Tensor } from '../src/index.js';
import { GOLDEN, KERNEL_MODES, expectClose, type Tolerance } from './golden.js';

interface OptimCase {
  name: string;
  impl: string;
  hyperparams: {
    lr: number;
    betas: [number, number];
    eps: number;
    weight_decay: number;
    amsgrad?: boolean;
    adamw_mode?: boolean;
    bias_correction?: boolean;
  };
  tolerance: Tolerance;
}

const meta = JSON.parse(readFileSync(path.join(GOLDEN, 'optim/cases.json'), 'utf8')) as { n: number; steps: number; cases: OptimCase[] };

function makeOptimizer(c: OptimCase, params: Tensor[], extra: optim.AdamOptions = {}): optim.Optimizer<optim.AdamHyperparameters> {
  const h = c.hyperparams;
  const opts: optim.AdamOptions = { lr: h.lr, betas: h.betas, eps: h.eps, weightDecay: h.weight_decay, amsgrad: h.amsgrad ?? false, ...extra };
  if (c.name.startsWith('ds_cpuadam_')) {
    opts.biasCorrection = h.bias_correction;
    return h.adamw_mode ? new optim.AdamW(params, opts) : new optim.Adam(params, opts);
  }
  if (c.impl === 'torch.optim.AdamW') return new optim.AdamW(params, opts);
  if (c.impl === 'torch.optim.Adam') return new optim.Adam(params, opts);
  throw new Error(`unexpected impl ${c.impl}`);
}

function param(values: number[] | Float32Array, shape?: number[]): nn.Parameter {
  return new nn.Parameter(tensor(Float32Array.from(values), { shape: shape ?? [values.length] }));
}

function stateTensor(opt: optim.Optimizer<object>, p: Tensor, key: string): Tensor {
  const t = opt.state.get(p)?.[key];
  if (t === undefined || typeof t === 'number') throw new Error(`no tensor state '${key}'`);
  return t;
}

let golden: Record<string, Tensor>;
beforeAll(async () => {
  golden = await loadSafetensors(path.join(GOLDEN, 'optim/trajectories.safetensors'));
});

const initial = kernels().name;
afterAll(() => {
  useKernels(initial);
});

describe.each(KERNEL_MODES)('golden optimizer trajectories (%s kernels)', (mode) => {
  beforeAll(() => {
    useKernels(mode);
  });

  const n = meta.n;
  const row = (name: string, s: number): Float32Array => golden[name]!.toFloat32Array().subarray(s * n, (s + 1) * n);

  // `layout` exercises the fallback paths: a strided (non-contiguous) parameter and maximize
  // (negated objective, so the same trajectory) must match the plain fused update.
  describe.each(['contiguous', 'strided', 'maximize'] as const)('%s parameter', (layout) => {
    it.each(meta.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
      expect(c.tolerance).toBeDefined();
      const p0 = golden['param0']!.toFloat32Array();
      let p: Tensor;
      if (layout === 'strided') {
        // Every other element of a [2n] buffer: a view with stride 2.
        const base = new Float32Array(2 * n).fill(123);
        for (let i = 0; i < n; i++) base[2 * i] = p0[i]!;
        p = new nn.Parameter(tensor(base, { shape: [n, 2] })).detach().asStrided([n], [2], 0);
        p.requiresGrad = true;
        expect(p.isContiguous()).toBe(false);
      } else {
        p = param(p0);
      }
      const opt = makeOptimizer(c, [p], layout === 'maximize' ? { maximize: true } : {});
      for (let s = 0; s < meta.steps; s++) {
        const g = row('grads', s).slice();
        if (layout === 'maximize') for (let i = 0; i < n; i++) g[i] = -g[i]!;
        p.grad = tensor(g, { shape: [n] });
        opt.step();
        const at = `${c.name} step ${s}`;
        expectClose(p.toFloat32Array(), row(`${c.name}.params`, s), c.tolerance, `${at} params`);
        expectClose(stateTensor(opt, p, 'expAvg').toFloat32Array(), row(`${c.name}.exp_avg`, s), c.tolerance, `${at} exp_avg`);
        expectClose(stateTensor(opt, p, 'expAvgSq').toFloat32Array(), row(`${c.name}.exp_avg_sq`, s), c.tolerance, `${at} exp_avg_sq`);
        expect(opt.state.get(p)?.step).toBe(s + 1);
      }
      if (layout === 'strided') {
        // The gaps between the strided elements must be untouched.
        const storage = p.storage as Float32Array;
        for (let i = 0; i < n; i++) expect(storage[2 * i + 1]).toBe(123);
      }
    });
  });

  it('routes float32 Adam through the fused kernel', (ctx) => {
    const k = kernels();
    const calls: number[] = [];
    const original = k.adam;
    const spy: Kernels['adam'] = (...args) => {
      calls.push(args[0].length);
      original.apply(k, args);
    };
    try {
      (k as { adam: Kernels['adam'] }).adam = spy;
    } catch {
      // A frozen kernel table (possible for the native binding) cannot be instrumented.
    }
    if (k.adam !== spy) return ctx.skip();
    try {
      const a = param([1, 2, 3]);
      const b = param([4, 5]);
      const opt = new optim.AdamW([a, b], { lr: 0.1 });
      a.grad = tensor([0.1, 0.2, 0.3]);
      b.grad = tensor([0.4, 0.5]);
      opt.step();
      expect(calls).toEqual([3, 2]);
    } finally {
      (k as { adam: Kernels['adam'] }).adam = original;
    }
  });

  it('amsgrad matches a float64 reference implementation', () => {
    const c = meta.cases.find((x) => x.name === 'torch_adam_l2')!;
    for (const Ctor of [optim.Adam, optim.AdamW]) {
      const p0 = Array.from(golden['param0']!.toFloat32Array());
      const p = param(p0);
      const { lr, betas, eps, weight_decay: wd } = c.hyperparams;
      const opt = new Ctor([p], { lr, betas, eps, weightDecay: wd, amsgrad: true });
      const ref = { p: p0.slice(), m: p0.map(() => 0), v: p0.map(() => 0), mx: p0.map(() => 0) };
      for (let s = 0; s < meta.steps; s++) {
        const g = Array.from(row('grads', s));
        // Step 3 gets a zero gradient in some entries so v shrinks and the max matters.
        p.grad = tensor(g);
        opt.step();
        const t = s + 1;
        for (let i = 0; i < n; i++) {
          let gi = g[i]!;
          if (Ctor === optim.Adam) gi += wd * ref.p[i]!;
          else ref.p[i]! *= 1 - lr * wd;
          ref.m[i] = betas[0] * ref.m[i]! + (1 - betas[0]) * gi;
          ref.v[i] = betas[1] * ref.v[i]! + (1 - betas[1]) * gi * gi;
          ref.mx[i] = Math.max(ref.mx[i]!, ref.v[i]!);
          const denom = Math.sqrt(ref.mx[i]!) / Math.sqrt(1 - betas[1] ** t) + eps;
          ref.p[i]! -= (lr / (1 - betas[0] ** t)) * (ref.m[i]! / denom);
        }
        expectClose(p.toFloat32Array(), Float32Array.from(ref.p), c.tolerance, `${Ctor.name} amsgrad step ${s}`);
        expectClose(stateTensor(opt, p, 'maxExpAvgSq').toFloat32Array(), Float32Array.from(ref.mx), c.tolerance, `maxExpAvgSq step ${s}`);
      }
    }
  });

  it('updates float16 and bfloat16 parameters (state kept in the parameter dtype, like torch)', () => {
    for (const dtype of ['float16', 'bfloat16'] as const) {
      const p32 = param([1, -2, 3, 0.5]);
      const ph = new nn.Parameter(tensor([1, -2, 3, 0.5]).to(dtype));
      const o32 = new optim.AdamW([p32], { lr: 0.01 });
      const oh = new optim.AdamW([ph], { lr: 0.01 });
      for (let s = 0; s < 3; s++) {
        p32.grad = tensor([0.5, -0.25, 1, 0.1]);
        ph.grad = tensor([0.5, -0.25, 1, 0.1]).to(dtype);
        o32.step();
        oh.step();
      }
      expect(ph.dtype).toBe(dtype);
      expect(stateTensor(oh, ph, 'expAvg').dtype).toBe(dtype);
      expectClose(ph.toFloat32Array(), p32.toFloat32Array(), { atol: 0, rtol: dtype === 'float16' ? 2e-3 : 1.6e-2 }, `${dtype} AdamW`);
    }
  });
});

describe('SGD', () => {
  // Hand-computed two steps: p0 = [1, -2], g1 = [0.5, 0.25], g2 = [-1, 0.5].
  const p0 = [1, -2];
  const g1 = [0.5, 0.25];
  const g2 = [-1, 0.5];
  const run = (opts: optim.SGDOptions): number[] => {
    const p = param(p0);
    const opt = new optim.SGD([p], opts);
    for (const g of [g1, g2]) {
      p.grad = tensor(g);
      opt.step();
    }
    return Array.from(p.toFloat32Array());
  };
  const close = (actual: number[], expected: number[]): void => {
    expectClose(Float32Array.from(actual), Float32Array.from(expected), { atol: 1e-7, rtol: 1e-6 }, 'sgd');
  };

  it('plain', () => {
    // p1 = p0 - 0.1 g1 = [0.95, -2.025]; p2 = p1 - 0.1 g2 = [1.05, -2.075]
    close(run({ lr: 0.1 }), [1.05, -2.075]);
  });

  it('momentum (first buffer = gradient, then mu*buf + (1-dampening)*g)', () => {
    // buf1 = g1 = [0.5, 0.25]; p1 = [0.95, -2.025]
    // buf2 = 0.9*buf1 + g2 = [-0.55, 0.725]; p2 = p1 - 0.1 buf2 = [1.005, -2.0975]
    close(run({ lr: 0.1, momentum: 0.9 }), [1.005, -2.0975]);
    // dampening 0.5: buf2 = 0.9*buf1 + 0.5*g2 = [-0.05, 0.475]; p2 = [0.955, -2.0725]
    close(run({ lr: 0.1, momentum: 0.9, dampening: 0.5 }), [0.955, -2.0725]);
  });

  it('nesterov', () => {
    // d1 = g1 + 0.9*buf1 = [0.95, 0.475]; p1 = [0.905, -2.0475]
    // buf2 = [-0.55, 0.725]; d2 = g2 + 0.9*buf2 = [-1.495, 1.1525]; p2 = [1.0545, -2.16275]
    close(run({ lr: 0.1, momentum: 0.9, nesterov: true }), [1.0545, -2.16275]);
  });

  it('weight decay + momentum + nesterov + maximize', () => {
    // weight decay 0.1: d1 = g1 + 0.1 p0 = [0.6, 0.05]; buf1 = d1; nesterov d = [1.14, 0.095]
    // p1 = p0 - 0.1 d = [0.886, -2.0095]
    // d2 = g2 + 0.1 p1 = [-0.9114, 0.29905]; buf2 = 0.9 buf1 + d2 = [-0.3714, 0.34405]
    // nesterov d = d2 + 0.9 buf2 = [-1.24566, 0.608695]; p2 = [1.010566, -2.0703695]
    close(run({ lr: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.1 }), [1.010566, -2.0703695]);
    // maximize negates the gradient before the decay: d1 = -g1 + 0.1 p0 = [-0.4, -0.45]
    // p1 = p0 - 0.1 d1 = [1.04, -1.955]; d2 = -g2 + 0.1 p1 = [1.104, -0.6955]; p2 = [0.9296, -1.88545]
    close(run({ lr: 0.1, weightDecay: 0.1, maximize: true }), [0.9296, -1.88545]);
  });

  it('does not modify the gradient and skips params without one', () => {
    const a = param([1, 2]);
    const b = param([3, 4]);
    const opt = new optim.SGD([a, b], { lr: 1, momentum: 0.5, nesterov: true, weightDecay: 0.5 });
    a.grad = tensor([1, 1]);
    opt.step();
    expect(Array.from(a.grad.toFloat32Array())).toEqual([1, 1]);
    expect(Array.from(b.toFloat32Array())).toEqual([3, 4]);
    expect(opt.state.has(b)).toBe(false);
  });
});

describe('Optimizer', () => {
  it('param groups with different lr and lr changes through group.lr', () => {
    const a = param([1, 1]);
    const b = param([1, 1]);
    const opt = new optim.SGD([{ params: [a], lr: 0.5 }, { params: b }], { lr: 0.1 });
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.1]);
    a.grad = tensor([1, 2]);
    b.grad = tensor([1, 2]);
    opt.step();
    expect(Array.from(a.toFloat32Array())).toEqual([0.5, 0]);
    expectClose(b.toFloat32Array(), Float32Array.from([0.9, 0.8]), { atol: 1e-7, rtol: 0 }, 'b');
    opt.paramGroups[1]!.lr = 0; // as a scheduler would
    opt.step();
    expectClose(b.toFloat32Array(), Float32Array.from([0.9, 0.8]), { atol: 0, rtol: 0 }, 'b after lr=0');
    expect(Array.from(a.toFloat32Array())).toEqual([0, -1]);
  });

  it('group hyperparameters override defaults and betas arrays are not shared', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new optim.AdamW([{ params: [a], weightDecay: 0 }, { params: [b], name: 'decayed' }], { betas: [0.8, 0.99] });
    expect(opt.paramGroups[0]!.weightDecay).toBe(0);
    expect(opt.paramGroups[1]!.weightDecay).toBe(0.01);
    expect(opt.paramGroups[1]!.name).toBe('decayed');
    opt.paramGroups[0]!.betas[0] = 0.5;
    expect(opt.paramGroups[1]!.betas).toEqual([0.8, 0.99]);
    expect(opt.defaults.betas).toEqual([0.8, 0.99]);
    const c = param([1]);
    opt.addParamGroup({ params: c, lr: 0.5 });
    expect(opt.paramGroups[2]).toMatchObject({ lr: 0.5, betas: [0.8, 0.99], weightDecay: 0.01, biasCorrection: true });
    expect(opt.paramGroups[2]!.params).toEqual([c]);
  });

  it('accepts a module\'s parameters and a generator', () => {
    const lin = new nn.Linear(3, 2);
    const opt = new optim.Adam(lin.parameters());
    expect(opt.paramGroups[0]!.params.length).toBe(2);
    function* gen(): Generator<Tensor> {
      yield param([1]);
    }
    expect(new optim.SGD(gen()).paramGroups[0]!.params.length).toBe(1);
  });

  it('stateDict round trip continues the identical trajectory', () => {
    const build = (values: number[][]): { ps: nn.Parameter[]; opt: optim.AdamW } => {
      const ps = values.map((v) => param(v));
      const opt = new optim.AdamW([{ params: [ps[0]!, ps[1]!] }, { params: [ps[2]!], lr: 0.05, amsgrad: true }], { lr: 0.01, weightDecay: 0.1 });
      return { ps, opt };
    };
    const grads = (s: number): number[][] => [[s + 0.5, -1], [0.25 * s, 2, -3], [Math.sin(s)]];
    const a = build([[1, 2], [3, 4, 5], [6]]);
    for (let s = 0; s < 3; s++) {
      a.ps.forEach((p, i) => (p.grad = tensor(grads(s)[i]!)));
      a.opt.step();
    }
    a.opt.paramGroups[0]!.lr = 0.02;
    const sd = a.opt.stateDict();
    expect(sd.paramGroups.map((g) => g.params)).toEqual([[0, 1], [2]]);
    expect(sd.paramGroups[0]!.lr).toBe(0.02);
    expect(Object.keys(sd.state).sort()).toEqual(['0', '1', '2']);
    expect(sd.state[2]!.step).toBe(3);

    const b = build(a.ps.map((p) => Array.from(p.toFloat32Array())));
    b.opt.loadStateDict(sd);
    expect(b.opt.paramGroups[0]!.lr).toBe(0.02);
    expect(b.opt.paramGroups[0]!.params).toEqual(b.ps.slice(0, 2));
    // Loaded buffers are copies, not the source optimizer's tensors.
    expect(stateTensor(b.opt, b.ps[0]!, 'expAvg')).not.toBe(stateTensor(a.opt, a.ps[0]!, 'expAvg'));
    expect(stateTensor(b.opt, b.ps[0]!, 'expAvg').storage).not.toBe(stateTensor(a.opt, a.ps[0]!, 'expAvg').storage);
    for (let s = 3; s < 6; s++) {
      for (const run of [a, b]) {
        run.ps.forEach((p, i) => (p.grad = tensor(grads(s)[i]!)));
        run.opt.step();
      }
    }
    a.ps.forEach((p, i) => {
      expect(Array.from(b.ps[i]!.toFloat32Array())).toEqual(Array.from(p.toFloat32Array()));
      for (const key of ['expAvg', 'expAvgSq']) {
        expect(Array.from(stateTensor(b.opt, b.ps[i]!, key).toFloat32Array())).toEqual(Array.from(stateTensor(a.opt, p, key).toFloat32Array()));
      }
    });
    expect(b.opt.state.get(b.ps[2]!)?.step).toBe(6);
  });

  it('stateDict round trip for SGD momentum', () => {
    const mk = (): { p: nn.Parameter; opt: optim.SGD } => {
      const p = param([1, 2, 3]);
      return { p, opt: new optim.SGD([p], { lr: 0.1, momentum: 0.9 }) };
    };
    const a = mk();
    a.p.grad = tensor([1, -1, 0.5]);
    a.opt.step();
    const b = mk();
    b.p.setData(a.p.detach().clone());
    b.opt.loadStateDict(a.opt.stateDict());
    for (const r of [a, b]) {
      r.p.grad = tensor([0.3, 0.2, 0.1]);
      r.opt.step();
    }
    expect(Array.from(b.p.toFloat32Array())).toEqual(Array.from(a.p.toFloat32Array()));
  });

  it('loadStateDict rejects mismatched groups with the group index and sizes', () => {
    const a = new optim.Adam([{ params: [param([1]), param([2])] }, { params: [param([3])] }]);
    const sd = a.stateDict();
    const one = new optim.Adam([param([1]), param([2])]);
    expect(() => one.loadStateDict(sd)).toThrow('Adam.loadStateDict: the state dict has 2 parameter group(s) but this optimizer has 1');
    const sizes = new optim.Adam([{ params: [param([1])] }, { params: [param([2]), param([3])] }]);
    expect(() => sizes.loadStateDict(sd)).toThrow('param group 0 has 2 parameter(s) in the state dict but 1 in this optimizer');

    const p = param([1, 2]);
    const src = new optim.Adam([p]);
    p.grad = tensor([1, 1]);
    src.step();
    const bad = new optim.Adam([param([1, 2, 3])]);
    expect(() => bad.loadStateDict(src.stateDict())).toThrow(/state 'expAvg' has shape \[2\] but the parameter has shape \[3\]/);
    // A failed load leaves the optimizer untouched.
    expect(bad.state.size).toBe(0);

    const torchStyle = new optim.Adam([param([1])]).stateDict();
    (torchStyle.paramGroups[0] as Record<string, unknown>).weight_decay = 0.1;
    expect(() => new optim.Adam([param([1])]).loadStateDict(torchStyle)).toThrow("did you mean 'weightDecay'?");
  });

  it('validates hyperparameters with clear errors', () => {
    const p = (): Tensor[] => [param([1])];
    expect(() => new optim.SGD(p(), { lr: -1 })).toThrow('SGD: lr must be >= 0, got -1');
    expect(() => new optim.Adam(p(), { betas: [0.9, 1.5] })).toThrow('Adam: invalid beta parameter at index 1: 1.5 (expected 0 <= beta < 1)');
    expect(() => new optim.AdamW(p(), { betas: [-0.1, 0.9] })).toThrow('AdamW: invalid beta parameter at index 0: -0.1');
    expect(() => new optim.Adam(p(), { eps: -1e-8 })).toThrow('Adam: eps must be >= 0, got -1e-8');
    expect(() => new optim.Adam(p(), { weightDecay: -0.1 })).toThrow('Adam: weightDecay must be >= 0, got -0.1');
    expect(() => new optim.SGD(p(), { momentum: -0.5 })).toThrow('SGD: momentum must be >= 0, got -0.5');
    expect(() => new optim.SGD(p(), { nesterov: true })).toThrow('SGD: nesterov momentum requires momentum > 0 and dampening = 0');
    expect(() => new optim.SGD(p(), { lr: Number.NaN })).toThrow('SGD: lr must be a number');
    const untyped = { weight_decay: 0.1 } as unknown as optim.AdamOptions;
    expect(() => new optim.Adam(p(), untyped)).toThrow("Adam: unknown option 'weight_decay' (did you mean 'weightDecay'?)");
    expect(() => new optim.SGD(p(), { momentun: 0.9 } as unknown as optim.SGDOptions)).toThrow("did you mean 'momentum'?");
    expect(() => new optim.SGD(p(), { foo: 1 } as unknown as optim.SGDOptions)).toThrow(/unknown option 'foo'; valid options are 'lr', 'momentum'/);
    // In a group, the offending group is named.
    expect(() => new optim.SGD([{ params: p() }, { params: p(), lr: -2 }])).toThrow('SGD: lr must be >= 0, got -2 (param group 1)');
    expect(() => new optim.Adam([{ params: p(), weight_decay: 0.1 }])).toThrow("Adam: unknown param group 0 key 'weight_decay' (did you mean 'weightDecay'?)");
  });

  it('validates the parameters', () => {
    const x = param([1, 2]);
    expect(() => new optim.SGD([])).toThrow('SGD: got an empty parameter list');
    expect(() => new optim.SGD(x as unknown as Tensor[])).toThrow(/params must be an iterable of Tensors/);
    expect(() => new optim.SGD([x, x])).toThrow(/more than once/);
    const opt = new optim.SGD([x]);
    expect(() => opt.addParamGroup({ params: [x] })).toThrow(/already in param group 0/);
    const y = x.mul(2);
    expect(() => new optim.SGD([y])).toThrow(/not a leaf tensor/);
    x.grad = tensor([1, 2, 3]);
    expect(() => opt.step()).toThrow('SGD: the gradient of param group 0 params[0] has shape [3] but the parameter has shape [2]');
  });

  it('zeroGrad drops or zeroes gradients', () => {
    const a = param([1, 2]);
    const b = param([3]);
    const opt = new optim.SGD([a, b]);
    a.grad = tensor([5, 6]);
    const g = a.grad;
    opt.zeroGrad(false);
    expect(a.grad).toBe(g);
    expect(Array.from(g.toFloat32Array())).toEqual([0, 0]);
    expect(b.grad).toBeNull();
    opt.zeroGrad();
    expect(a.grad).toBeNull();
  });

  it('step(closure) re-evaluates the loss with grad enabled and returns it', () => {
    const w = param([2]);
    const opt = new optim.SGD([w], { lr: 0.25 });
    const loss = opt.step(() => {
      opt.zeroGrad();
      const l = w.mul(w).sum();
      l.backward();
      return l;
    });
    expect(loss?.item()).toBe(4);
    expect(w.item()).toBe(1); // 2 - 0.25 * 4
    expect(() => opt.step(async () => 1)).toThrow(/closure returned a Promise/);
  });

  it('trains a small model end to end', () => {
    const lin = new nn.Linear(2, 1);
    const opt = new optim.Adam(lin.parameters(), { lr: 0.05 });
    const x = tensor([[1, 2], [3, -1], [0, 1], [-2, 0.5]]);
    const y = tensor([[5], [1], [2], [-1]]); // 1*x0 + 2*x1 + 0
    let first = 0;
    let last = 0;
    for (let s = 0; s < 300; s++) {
      opt.zeroGrad();
      const diff = (lin.call(x) as Tensor).sub(y);
      const loss = diff.mul(diff).mean();
      loss.backward();
      opt.step();
      if (s === 0) first = loss.item();
      last = loss.item();
    }
    expect(last).toBeLessThan(first * 1e-3);
  });
});
