// nn.Module and the standard layers: parameter discovery and names, state dicts (strict and
// not), train/eval, Dropout, forward hooks, Linear/Embedding/LayerNorm/GELU, Sequential,
// ModuleList and clipGradNorm_. PyTorch semantics are the spec.
import { describe, expect, it } from 'vitest';
import { Generator, Tensor, functional as F, nn, noGrad, ones, tensor, zeros } from '../src/index.js';
import { KERNEL_MODES, expectValues, leaf, vals, withKernels } from './unit-helpers.js';

class Affine extends nn.Module {
  readonly scale: nn.Parameter;
  constructor() {
    super();
    this.scale = this.registerParameter('scale', new nn.Parameter(ones([2])))!;
    this.registerBuffer('steps', zeros([1]));
  }
  forward(x: unknown): unknown {
    return F.mul(x as Tensor, this.scale);
  }
}

class Net extends nn.Module {
  readonly fc1: nn.Linear;
  readonly act: nn.GELU;
  readonly fc2: nn.Linear;
  readonly head: Affine;
  readonly gain: nn.Parameter;
  constructor(gen = new Generator(1)) {
    super();
    this.gain = this.registerParameter('gain', new nn.Parameter(tensor([1.5])))!;
    this.fc1 = this.registerModule('fc1', new nn.Linear(3, 4, { generator: gen }));
    this.act = this.registerModule('act', new nn.GELU());
    this.fc2 = this.registerModule('fc2', new nn.Linear(4, 2, { generator: gen }));
    this.head = this.registerModule('head', new Affine());
  }
  forward(x: unknown): unknown {
    const h = this.fc2.call(this.act.call(this.fc1.call(x as Tensor) as Tensor) as Tensor) as Tensor;
    return this.head.call(F.mul(h, this.gain));
  }
}

describe.each(KERNEL_MODES)('nn (%s kernels)', (mode) => {
  withKernels(mode);

  describe('Module parameters', () => {
    it('discovers nested parameters with dotted names, own parameters first', () => {
      const net = new Net();
      const names = [...net.namedParameters()].map(([n]) => n);
      expect(names).toEqual(['gain', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'head.scale']);
      expect(net.parameters().length).toBe(6);
      expect(net.parameters()[1]).toBe(net.fc1.weight);
      expect(net.parameters(false)).toEqual([net.gain]);
      expect([...net.namedParameters('model')].map(([n]) => n)[1]).toBe('model.fc1.weight');
      expect([...net.namedModules()].map(([n]) => n)).toEqual(['', 'fc1', 'act', 'fc2', 'head']);
      expect(net.children().length).toBe(4);
      expect([...net.namedBuffers()].map(([n]) => n)).toEqual(['head.steps']);
      for (const p of net.parameters()) {
        expect(p).toBeInstanceOf(Tensor);
        expect(p.requiresGrad).toBe(true);
        expect(p.isLeaf).toBe(true);
      }
      expect(net.getOwn('fc1')).toBe(net.fc1);
      expect(net.getOwn('gain')).toBe(net.gain);
    });

    it('lists a shared parameter or module once (under its first name)', () => {
      const shared = new nn.Linear(2, 2, { generator: new Generator(3) });
      const seq = new nn.Sequential(shared, new nn.GELU(), shared);
      expect([...seq.namedParameters()].map(([n]) => n)).toEqual(['0.weight', '0.bias']);
      // tied weights: one Parameter registered under two names
      const emb = new nn.Embedding(5, 2, { generator: new Generator(4) });
      const out = new nn.Linear(2, 5, { bias: false, generator: new Generator(5) });
      out.setParameter('weight', emb.weight);
      class Tied extends nn.Module {
        constructor() {
          super();
          this.registerModule('emb', emb);
          this.registerModule('out', out);
        }
        forward(): unknown {
          return null;
        }
      }
      const t = new Tied();
      expect([...t.namedParameters()].map(([n]) => n)).toEqual(['emb.weight']);
      // the state dict lists it under every name, as torch does
      expect(Object.keys(t.stateDict())).toEqual(['emb.weight', 'out.weight']);
      expect(() => out.setParameter('nope', emb.weight)).toThrow(/no parameter "nope"/);
    });

    it('registered names must be non-empty without dots; null parameters are skipped', () => {
      const m = new Affine();
      expect(() => m.registerParameter('a.b', null)).toThrow(/'\.'/);
      expect(() => m.registerModule('', new Affine())).toThrow(/non-empty/);
      m.registerParameter('extra', null);
      expect([...m.namedParameters()].map(([n]) => n)).toEqual(['scale']);
      expect(Object.keys(m.stateDict())).toEqual(['scale', 'steps']);
    });

    it('Parameter wraps data as a contiguous leaf', () => {
      const base = tensor([
        [1, 2],
        [3, 4],
      ]);
      const p = new nn.Parameter(base.T);
      expect(p.isContiguous()).toBe(true);
      expect(p.toArray()).toEqual([
        [1, 3],
        [2, 4],
      ]);
      expect(new nn.Parameter(base).storage).toBe(base.storage);
      expect(new nn.Parameter(base, false).requiresGrad).toBe(false);
    });

    it('requiresGrad_ and zeroGrad act on every parameter', () => {
      const net = new Net();
      const y = net.call(tensor([[0.1, 0.2, 0.3]])) as Tensor;
      F.sum(y).backward();
      expect(net.parameters().every((p) => p.grad !== null)).toBe(true);
      net.zeroGrad(false);
      expect(net.parameters().every((p) => p.grad !== null && vals(p.grad).every((v) => v === 0))).toBe(true);
      net.zeroGrad();
      expect(net.parameters().every((p) => p.grad === null)).toBe(true);
      net.requiresGrad_(false);
      expect(net.parameters().some((p) => p.requiresGrad)).toBe(false);
    });

    it('apply visits children before the parent', () => {
      const net = new Net();
      const seen: string[] = [];
      net.apply((m) => seen.push(m.constructor.name));
      expect(seen).toEqual(['Linear', 'GELU', 'Linear', 'Affine', 'Net']);
    });
  });

  describe('state dicts', () => {
    it('stateDict holds detached tensors sharing storage, parameters and buffers', () => {
      const net = new Net();
      const sd = net.stateDict();
      expect(Object.keys(sd)).toEqual(['gain', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias', 'head.scale', 'head.steps']);
      expect(sd['fc1.weight']!.requiresGrad).toBe(false);
      expect(sd['fc1.weight']!.storage).toBe(net.fc1.weight.storage);
      expect(sd['fc1.weight']!.shape).toEqual([4, 3]);
    });

    it('loadStateDict copies values (no aliasing) and returns empty lists', () => {
      const a = new Net(new Generator(10));
      const b = new Net(new Generator(20));
      expect(vals(a.fc1.weight)).not.toEqual(vals(b.fc1.weight));
      const src = b.stateDict();
      const res = a.loadStateDict(src);
      expect(res).toEqual({ missingKeys: [], unexpectedKeys: [] });
      expect(vals(a.fc1.weight)).toEqual(vals(b.fc1.weight));
      expect(a.fc1.weight.storage).not.toBe(b.fc1.weight.storage);
      // parameter identity is kept
      expect(a.parameters()[1]).toBe(a.fc1.weight);
      noGrad(() => b.fc1.weight.fill_(0));
      expect(vals(a.fc1.weight).some((v) => v !== 0)).toBe(true);
      // loading is allowed while parameters require grad (it runs without recording)
      expect(a.fc1.weight.requiresGrad).toBe(true);
      expect(a.fc1.weight.gradFn).toBeNull();
    });

    it('strict: missing keys are an error naming them; nothing is loaded', () => {
      const a = new Net(new Generator(10));
      const b = new Net(new Generator(20));
      const before = vals(a.fc1.weight);
      const sd = b.stateDict();
      delete sd['fc2.bias'];
      delete sd['head.steps'];
      expect(() => a.loadStateDict(sd)).toThrow(/loadStateDict for Net.*missing keys: fc2\.bias, head\.steps/);
      expect(vals(a.fc1.weight)).toEqual(before);
    });

    it('strict: unexpected keys are an error with did-you-mean for near misses', () => {
      const a = new Net();
      const sd = a.stateDict();
      sd['fc2.bais'] = sd['fc2.bias']!;
      delete sd['fc2.bias'];
      expect(() => a.loadStateDict(sd)).toThrow(/unexpected keys: fc2\.bais.*did you mean fc2\.bias\?/);
      // something far from every key gets no suggestion
      const sd2 = a.stateDict();
      sd2['totally_unrelated_key'] = tensor([1]);
      let msg = '';
      try {
        a.loadStateDict(sd2);
      } catch (e) {
        msg = (e as Error).message;
      }
      expect(msg).toMatch(/unexpected keys: totally_unrelated_key/);
      expect(msg).not.toMatch(/did you mean/);
    });

    it('shape mismatch names the key and both shapes, strict or not', () => {
      const a = new Net();
      const sd = a.stateDict();
      sd['fc1.weight'] = zeros([3, 4]);
      expect(() => a.loadStateDict(sd)).toThrow(/fc1\.weight.*\[3, 4\].*\[4, 3\]/);
      expect(() => a.loadStateDict(sd, false)).toThrow(/fc1\.weight.*\[3, 4\].*\[4, 3\]/);
    });

    it('non-strict returns the missing and unexpected keys and loads the rest', () => {
      const a = new Net(new Generator(10));
      const b = new Net(new Generator(20));
      const before = vals(a.fc2.bias!);
      const sd = b.stateDict();
      delete sd['fc2.bias'];
      sd['extra.thing'] = tensor([1]);
      const res = a.loadStateDict(sd, false);
      expect(res.missingKeys).toEqual(['fc2.bias']);
      expect(res.unexpectedKeys).toEqual(['extra.thing']);
      expect(vals(a.fc1.weight)).toEqual(vals(b.fc1.weight));
      expect(vals(a.fc2.bias!)).toEqual(before);
    });

    it('loads buffers and converts dtypes on copy', () => {
      const m = new Affine();
      m.loadStateDict({ scale: tensor([2, 3], { dtype: 'float16' }), steps: tensor([7]) });
      expect(vals(m.scale)).toEqual([2, 3]);
      expect(m.scale.dtype).toBe('float32');
      expect(vals(m.buffers()[0]!)).toEqual([7]);
    });
  });

  describe('train / eval and Dropout', () => {
    it('train/eval propagate to every submodule', () => {
      const net = new Net();
      expect(net.modules().every((m) => m.training)).toBe(true);
      expect(net.eval()).toBe(net);
      expect(net.modules().every((m) => !m.training)).toBe(true);
      net.train();
      expect(net.modules().every((m) => m.training)).toBe(true);
      net.fc1.eval();
      expect(net.training).toBe(true);
      expect(net.fc1.training).toBe(false);
      net.train(false);
      expect(net.modules().some((m) => m.training)).toBe(false);
    });

    it('Dropout is the identity in eval mode', () => {
      const d = new nn.Dropout(0.5).eval();
      const x = leaf([4, 5], 1);
      const y = d.call(x) as Tensor;
      expect(vals(y)).toEqual(vals(x));
      expect(new nn.Dropout(0).call(x)).toBe(x);
    });

    it('Dropout in training zeroes ~p and scales the rest by 1/(1-p), seeded', () => {
      const p = 0.3;
      const d1 = new nn.Dropout(p, new Generator(123));
      const d2 = new nn.Dropout(p, new Generator(123));
      const d3 = new nn.Dropout(p, new Generator(124));
      const x = ones([100, 100]);
      const y1 = vals(d1.call(x) as Tensor);
      const y2 = vals(d2.call(x) as Tensor);
      const y3 = vals(d3.call(x) as Tensor);
      expect(y1).toEqual(y2);
      expect(y1).not.toEqual(y3);
      const zeros_ = y1.filter((v) => v === 0).length;
      expect(zeros_ / y1.length).toBeGreaterThan(0.27);
      expect(zeros_ / y1.length).toBeLessThan(0.33);
      for (const v of y1) if (v !== 0) expect(v).toBeCloseTo(1 / (1 - p), 6);
      // the stream advances: a second call gives a different mask
      expect(vals(d1.call(x) as Tensor)).not.toEqual(y1);
      // p = 1 zeroes everything
      expect(vals(new nn.Dropout(1).call(ones([10])) as Tensor)).toEqual(new Array(10).fill(0));
      expect(() => new nn.Dropout(1.5)).toThrow(/\[0, 1\].*1\.5/);
    });
  });

  describe('forward hooks', () => {
    it('a pre-hook can replace the arguments and a forward hook the output', () => {
      const m = new Affine(); // y = x * [1, 1]
      const calls: string[] = [];
      const pre = m.registerForwardPreHook((mod, args) => {
        expect(mod).toBe(m);
        calls.push('pre');
        return [F.mul(args[0] as Tensor, 10)];
      });
      const post = m.registerForwardHook((_mod, args, out) => {
        calls.push('post');
        // the hook sees the replaced args
        expect(vals(args[0] as Tensor)).toEqual([10, 20]);
        return F.add(out as Tensor, 1);
      });
      const y = m.call(tensor([1, 2])) as Tensor;
      expect(vals(y)).toEqual([11, 21]);
      expect(calls).toEqual(['pre', 'post']);
      // forward() directly skips hooks
      expect(vals(m.forward(tensor([1, 2])) as Tensor)).toEqual([1, 2]);
      pre.remove();
      post.remove();
      expect(vals(m.call(tensor([1, 2])) as Tensor)).toEqual([1, 2]);
    });

    it('hooks returning undefined change nothing; several hooks chain in order', () => {
      const m = new Affine();
      m.registerForwardPreHook(() => undefined);
      m.registerForwardHook(() => undefined);
      m.registerForwardHook((_m, _a, out) => F.mul(out as Tensor, 2));
      m.registerForwardHook((_m, _a, out) => F.add(out as Tensor, 1));
      expect(vals(m.call(tensor([1, 2])) as Tensor)).toEqual([3, 5]);
    });

    it('hooks on a child fire when the parent runs', () => {
      const net = new Net();
      let n = 0;
      net.fc1.registerForwardHook(() => {
        n++;
      });
      net.call(tensor([[1, 2, 3]]));
      net.call(tensor([[1, 2, 3]]));
      expect(n).toBe(2);
    });
  });

  describe('layers', () => {
    it('Linear computes x @ W^T + b with W [out, in]', () => {
      const lin = new nn.Linear(3, 2, { generator: new Generator(7) });
      expect(lin.weight.shape).toEqual([2, 3]);
      expect(lin.bias!.shape).toEqual([2]);
      noGrad(() => {
        lin.weight.copy_(tensor([
          [1, 2, 3],
          [-1, 0, 1],
        ]));
        lin.bias!.copy_(tensor([0.5, -0.5]));
      });
      const x = tensor([
        [1, 1, 1],
        [2, 0, -1],
      ]);
      expect((lin.call(x) as Tensor).toArray()).toEqual([
        [6.5, -0.5],
        [-0.5, -3.5],
      ]);
      // batched input and a 1-D input
      expect((lin.call(x.unsqueeze(0)) as Tensor).shape).toEqual([1, 2, 2]);
      expect((lin.call(tensor([1, 1, 1])) as Tensor).toArray()).toEqual([6.5, -0.5]);
      const noBias = new nn.Linear(3, 2, { bias: false });
      expect(noBias.bias).toBeNull();
      expect([...noBias.namedParameters()].map(([n]) => n)).toEqual(['weight']);
    });

    it('Linear gradients match the closed form', () => {
      const lin = new nn.Linear(3, 2, { generator: new Generator(8) });
      const x = tensor([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      F.sum(lin.call(x) as Tensor).backward();
      // dL/dW[o, i] = sum_n x[n, i]; dL/db = N
      expect(lin.weight.grad!.toArray()).toEqual([
        [5, 7, 9],
        [5, 7, 9],
      ]);
      expect(lin.bias!.grad!.toArray()).toEqual([2, 2]);
    });

    it('Linear init is U(-1/sqrt(in), 1/sqrt(in)) and reproducible from the generator', () => {
      const a = new nn.Linear(16, 64, { generator: new Generator(9) });
      const b = new nn.Linear(16, 64, { generator: new Generator(9) });
      expect(vals(a.weight)).toEqual(vals(b.weight));
      const w = vals(a.weight);
      const bound = 1 / 4;
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...w)).toBeGreaterThan(0.8 * bound);
      expect(Math.min(...w)).toBeLessThan(-0.8 * bound);
      expect(Math.max(...vals(a.bias!).map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(new nn.Linear(2, 2, { dtype: 'bfloat16' }).weight.dtype).toBe('bfloat16');
    });

    it('Embedding picks rows', () => {
      const e = new nn.Embedding(4, 3, { generator: new Generator(11) });
      expect(e.weight.shape).toEqual([4, 3]);
      const rows = e.weight.toArray() as number[][];
      const y = e.call(tensor([[3n, 0n]])) as Tensor;
      expect(y.shape).toEqual([1, 2, 3]);
      expect(y.toArray()).toEqual([[rows[3], rows[0]]]);
    });

    it('LayerNorm module: ones/zeros init, matches the functional, optional affine', () => {
      const ln = new nn.LayerNorm(4);
      expect(vals(ln.weight!)).toEqual([1, 1, 1, 1]);
      expect(vals(ln.bias!)).toEqual([0, 0, 0, 0]);
      const x = leaf([2, 4], 12, -2, 2);
      expectValues(ln.call(x) as Tensor, vals(F.layerNorm(x, [4])), 1e-6);
      noGrad(() => {
        ln.weight!.copy_(tensor([1, 2, 3, 4]));
        ln.bias!.fill_(1);
      });
      const ref = vals(F.layerNorm(x, [4]));
      expectValues(ln.call(x) as Tensor, ref.map((v, i) => v * ((i % 4) + 1) + 1), 1e-5);
      const plain = new nn.LayerNorm([2, 4], 1e-5, { elementwiseAffine: false });
      expect(plain.parameters()).toEqual([]);
      expect(new nn.LayerNorm(4, 1e-5, { bias: false }).bias).toBeNull();
      expect((plain.call(leaf([3, 2, 4], 13)) as Tensor).shape).toEqual([3, 2, 4]);
    });

    it('GELU module uses the requested approximation', () => {
      const x = tensor([1, -1]);
      expectValues(new nn.GELU().call(x) as Tensor, [0.8413447460685429, -0.15865525393145707], 1e-6);
      expectValues(new nn.GELU('tanh').call(x) as Tensor, [0.8411919906082768, -0.15880800939172324], 1e-6);
    });

    it('Sequential applies layers in order through call() (hooks included)', () => {
      const order: number[] = [];
      class Tag extends nn.Module {
        constructor(readonly k: number) {
          super();
        }
        forward(x: unknown): unknown {
          order.push(this.k);
          return F.add(F.mul(x as Tensor, 2), this.k);
        }
      }
      const a = new Tag(1);
      const seq = new nn.Sequential(a, new Tag(2), new Tag(3));
      a.registerForwardHook((_m, _a, out) => F.neg(out as Tensor));
      const y = seq.call(tensor([1])) as Tensor;
      // ((-(1*2+1))*2+2)*2+3 = -5
      expect(y.item()).toBe(-5);
      expect(order).toEqual([1, 2, 3]);
      expect([...seq.namedChildren()].map(([n]) => n)).toEqual(['0', '1', '2']);
    });

    it('ModuleList registers, indexes and iterates', () => {
      const list = new nn.ModuleList([new nn.Linear(2, 2), new nn.Linear(2, 3)]);
      list.append(new nn.Linear(3, 1));
      expect(list.length).toBe(3);
      expect(list.at(-1).outFeatures).toBe(1);
      expect([...list].map((m) => m.inFeatures)).toEqual([2, 2, 3]);
      expect([...list.namedParameters()].map(([n]) => n)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias', '2.weight', '2.bias']);
      expect(() => list.at(3)).toThrow(/index 3.*length 3/);
      expect(() => list.forward()).toThrow(/no forward/);
      list.eval();
      expect([...list].every((m) => !m.training)).toBe(true);
    });
  });

  describe('clipGradNorm_', () => {
    function withGrads(...grads: number[][]): Tensor[] {
      return grads.map((g) => {
        const p = tensor(new Array(g.length).fill(0), { requiresGrad: true });
        p.grad = tensor(g);
        return p;
      });
    }

    it('returns the total 2-norm and scales by maxNorm/(norm+1e-6) only when that is < 1', () => {
      const ps = withGrads([3, 4], [12]);
      const norm = nn.clipGradNorm_(ps, 6.5);
      expect(norm).toBeCloseTo(13, 5);
      const c = 6.5 / (13 + 1e-6);
      expectValues(ps[0]!.grad!, [3 * c, 4 * c], 1e-6);
      expectValues(ps[1]!.grad!, [12 * c], 1e-6);
      // already small enough: untouched
      const qs = withGrads([3, 4], [12]);
      expect(nn.clipGradNorm_(qs, 26)).toBeCloseTo(13, 5);
      expect(vals(qs[0]!.grad!)).toEqual([3, 4]);
      expect(vals(qs[1]!.grad!)).toEqual([12]);
      // exactly at the limit: coef = 13/(13+1e-6) < 1, so a tiny scale is applied (as torch)
      const rs = withGrads([3, 4], [12]);
      nn.clipGradNorm_(rs, 13);
      expect(vals(rs[1]!.grad!)[0]).toBeLessThan(12);
      expect(vals(rs[1]!.grad!)[0]).toBeCloseTo(12, 5);
    });

    it('inf norm and p-norms; parameters without grad are skipped', () => {
      const ps = withGrads([3, -7], [2]);
      const noGradParam = tensor([1, 2], { requiresGrad: true });
      const n = nn.clipGradNorm_([...ps, noGradParam], 3.5, 'inf');
      expect(n).toBe(7);
      const c = 3.5 / (7 + 1e-6);
      expectValues(ps[0]!.grad!, [3 * c, -7 * c], 1e-6);
      expect(noGradParam.grad).toBeNull();
      expect(nn.clipGradNorm_(withGrads([3, -4]), 100, Infinity)).toBe(4);
      expect(nn.clipGradNorm_(withGrads([3, -4], [1]), 100, 1)).toBeCloseTo(8, 5);
      expect(nn.clipGradNorm_([tensor([1], { requiresGrad: true })], 1)).toBe(0);
    });

    it('works on a model after backward', () => {
      const net = new Net();
      F.sum(F.mul(net.call(tensor([[1, 2, 3]])) as Tensor, 100)).backward();
      const sq = net.parameters().reduce((s, p) => s + vals(p.grad!).reduce((a, v) => a + v * v, 0), 0);
      const norm = nn.clipGradNorm_(net.parameters(), 1);
      expect(norm).toBeCloseTo(Math.sqrt(sq), 2);
      const after = net.parameters().reduce((s, p) => s + vals(p.grad!).reduce((a, v) => a + v * v, 0), 0);
      expect(Math.sqrt(after)).toBeCloseTo(1, 4);
    });
  });

  it('a tiny model trains with manual SGD', () => {
    const gen = new Generator(42);
    const model = new nn.Sequential(new nn.Linear(2, 8, { generator: gen }), new nn.GELU(), new nn.Linear(8, 1, { generator: gen }));
    const x = tensor([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
    ]);
    const y = tensor([[0], [1], [1], [0]]);
    const lossOf = () => F.mean(F.square(F.sub(model.call(x) as Tensor, y)));
    const first = lossOf().item();
    for (let i = 0; i < 300; i++) {
      model.zeroGrad();
      lossOf().backward();
      noGrad(() => model.parameters().forEach((p) => p.sub_(p.grad!, 0.2)));
    }
    expect(lossOf().item()).toBeLessThan(first * 0.5);
  });
});

describe('withParameterRegistrationHook', () => {
  it('sees every parameter registered while fn runs (innermost hook first) and none after', () => {
    const seen: string[] = [];
    const model = nn.withParameterRegistrationHook(
      (m, name, p) => seen.push(`outer:${m.constructor.name}.${name}[${p.shape.join('x')}]`),
      () => nn.withParameterRegistrationHook((m, name) => seen.push(`inner:${m.constructor.name}.${name}`), () => new nn.Linear(3, 2)),
    );
    expect(seen).toEqual(['inner:Linear.weight', 'outer:Linear.weight[2x3]', 'inner:Linear.bias', 'outer:Linear.bias[2]']);
    seen.length = 0;
    new nn.Linear(1, 1);
    expect(seen).toEqual([]);
    expect(model.weight.shape).toEqual([2, 3]);
    // a hook may change the parameter as it is created
    const halved = nn.withParameterRegistrationHook((_m, _n, p) => void noGrad(() => p.fill_(0.5)), () => new nn.Linear(2, 2));
    expect(Array.from(halved.weight.toFloat32Array())).toEqual([0.5, 0.5, 0.5, 0.5]);
    expect(() => nn.withParameterRegistrationHook(() => {}, (async () => 1) as never)).toThrow(/fn returned a Promise/);
  });
});
