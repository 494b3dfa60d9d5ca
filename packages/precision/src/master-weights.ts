// fp32 master copies of 16-bit parameters: the optimizer steps the masters, the model computes
// with the 16-bit copies. Gradients flow half -> master (unscaled, checked for inf/NaN) and
// weights master -> half (rounded to nearest even).
import { nn, noGrad, Tensor, zeros, type optim } from '@ds/core';
import type { Checkpointable, StateValue } from '@ds/strategy';
import { describeValue } from './invalid-argument.js';
import { checkKnownKeys } from './known-keys.js';
import { masterToHalf } from './kernels/master-to-half.js';
import { unscaleToMaster } from './kernels/unscale.js';
import type { GradDType, HalfDType } from './kernels/types.js';

/** One parameter the optimizer trains: the 16-bit tensor the model uses and its fp32 master. */
export interface MasterPair {
  readonly half: Tensor;
  readonly master: nn.Parameter;
  /** The parameter's dotted name in the model (or `param_groups.<g>.<i>` for one outside it). */
  readonly name: string;
}

export class MasterWeights implements Checkpointable {
  readonly dtype: HalfDType;
  readonly pairs: readonly MasterPair[];
  #gradBuffers: (Tensor | null)[];

  constructor(dtype: HalfDType, pairs: readonly MasterPair[]) {
    this.dtype = dtype;
    this.pairs = pairs;
    this.#gradBuffers = pairs.map(() => null);
  }

  /**
   * Make an fp32 master for every parameter of `optimizer`'s groups and put it in the
   * parameter's place, so the optimizer (and its state) works in fp32. The masters start from
   * the 16-bit values, as DeepSpeed's do, and copy the parameters' metadata (reduction group,
   * tensor-parallel flags, ...). Any existing optimizer state moves to the master, cast to fp32.
   */
  static swapIntoOptimizer(optimizer: optim.Optimizer<object>, dtype: HalfDType, names: ReadonlyMap<Tensor, string>): MasterWeights {
    const pairs: MasterPair[] = [];
    optimizer.paramGroups.forEach((group, gi) => {
      group.params.forEach((half, i) => {
        const master = new nn.Parameter(noGrad(() => half.detach().to('float32').contiguous()));
        Object.assign(master.meta, half.meta);
        const st = optimizer.state.get(half);
        if (st) {
          optimizer.state.delete(half);
          const moved: Record<string, Tensor | number> = {};
          for (const [k, v] of Object.entries(st)) moved[k] = v instanceof Tensor ? noGrad(() => v.to('float32').clone()) : v;
          optimizer.state.set(master, moved);
        }
        group.params[i] = master;
        pairs.push({ half, master, name: names.get(half) ?? `param_groups.${gi}.${i}` });
      });
    });
    return new MasterWeights(dtype, pairs);
  }

  /**
   * Write every 16-bit gradient times `invScale` into its master's fp32 gradient (a master whose
   * parameter has no gradient gets none). Returns the index in `pairs` of the first parameter
   * whose gradient has an inf or NaN, or -1 when all are finite.
   */
  unscaleGrads(invScale: number): number {
    let firstBad = -1;
    this.pairs.forEach(({ half, master, name }, i) => {
      const g = half.grad;
      if (!g) {
        master.grad = null;
        return;
      }
      const buf = this.#gradBuffer(i);
      const finite = unscaleToMaster(gradData(g, master, name), g.dtype as GradDType, buf.data<'float32'>(), invScale);
      master.grad = buf;
      if (!finite && firstBad < 0) firstBad = i;
    });
    return firstBad;
  }

  /**
   * fp32 gradient accumulation: add every 16-bit gradient, as it is (still loss-scaled), into its
   * master's fp32 gradient and drop the 16-bit one. The first micro-batch of a step writes the
   * buffer instead of adding to it, so no zeroing pass is needed; the buffers are allocated once
   * and reused every step. A master whose parameter never got a gradient keeps none.
   */
  foldGrads(): void {
    this.pairs.forEach(({ half, master, name }, i) => {
      const g = half.grad;
      if (!g) return;
      const src = gradData(g, master, name);
      const acc = master.grad;
      if (acc) {
        if (acc.dtype !== 'float32' || !acc.isContiguous()) {
          throw new TypeError(`mixed precision: the accumulated gradient of '${name}' is a ${acc.isContiguous() ? '' : 'non-contiguous '}${acc.dtype} tensor; expected a contiguous float32 one`);
        }
        unscaleToMaster(src, g.dtype as GradDType, acc.data<'float32'>(), 1, { accumulate: true });
      } else {
        const buf = this.#gradBuffer(i);
        unscaleToMaster(src, g.dtype as GradDType, buf.data<'float32'>(), 1);
        master.grad = buf;
      }
      // Dropped rather than zeroed: the next backward then adopts the gradient it computes
      // instead of adding it into a zeroed 16-bit buffer (one pass less, same values).
      half.grad = null;
    });
  }

  /**
   * The counterpart of `unscaleGrads` for gradients accumulated with `foldGrads` (and reduced
   * across ranks): multiply the masters' fp32 gradients by `invScale` in place. Returns the index
   * in `pairs` of the first with an inf or NaN, or -1 when all are finite.
   */
  unscaleMasterGrads(invScale: number): number {
    let firstBad = -1;
    this.pairs.forEach(({ master, name }, i) => {
      const g = master.grad;
      if (!g) return;
      if (g.dtype !== 'float32' || !g.isContiguous()) {
        throw new TypeError(`mixed precision: the accumulated gradient of '${name}' is a ${g.isContiguous() ? '' : 'non-contiguous '}${g.dtype} tensor; expected a contiguous float32 one`);
      }
      const d = g.data<'float32'>();
      // In place is safe: every kernel reads element i before it writes element i.
      const finite = unscaleToMaster(d, 'float32', d, invScale);
      if (!finite && firstBad < 0) firstBad = i;
    });
    return firstBad;
  }

  #gradBuffer(i: number): Tensor {
    return (this.#gradBuffers[i] ??= zeros(this.pairs[i]!.master.shape));
  }

  /** The masters' gradients that exist (those of parameters that received one). */
  masterGrads(): Tensor[] {
    const out: Tensor[] = [];
    for (const { master } of this.pairs) if (master.grad) out.push(master.grad);
    return out;
  }

  /** Round every master into its 16-bit parameter. */
  copyToHalf(): void {
    for (const { half, master } of this.pairs) {
      const src = master.isContiguous() ? master.data<'float32'>() : master.toFloat32Array();
      if (half.isContiguous()) {
        masterToHalf(src, half.data() as Uint16Array, this.dtype);
      } else {
        const bits = new Uint16Array(src.length);
        masterToHalf(src, bits, this.dtype);
        noGrad(() => half.copy_(new Tensor(bits, half.shape, this.dtype)));
      }
    }
  }

  /** The 16-bit weights were loaded from elsewhere (a weights-only checkpoint load): masters follow them. */
  afterModuleLoad(): void {
    noGrad(() => {
      for (const { half, master } of this.pairs) master.copy_(half.to('float32'));
    });
  }

  /** Drop the gradients of both the 16-bit parameters and the masters. */
  zeroGrad(): void {
    for (const { half, master } of this.pairs) {
      half.grad = null;
      master.grad = null;
    }
  }

  /**
   * The masters by parameter name. The tensors are the live masters (as torch's state dicts
   * are): serialize them, or clone them, before stepping again.
   */
  stateDict(): StateValue {
    const out: { [name: string]: StateValue } = {};
    for (const { master, name } of this.pairs) out[name] = master.detach();
    return out;
  }

  /** Copy saved masters in (every name must match, shapes too) and round them into the 16-bit parameters. */
  loadStateDict(state: StateValue): void {
    const where = 'fp32_master_weights';
    if (state === null || typeof state !== 'object' || Array.isArray(state) || state instanceof Tensor) {
      throw new TypeError(`${where}: expected a record of fp32 master weights by parameter name, got ${describeValue(state)}`);
    }
    const names = this.pairs.map((p) => p.name);
    const missing = names.filter((n) => !(n in state));
    if (missing.length) throw new RangeError(`${where}: the checkpoint has no master weight for ${missing.map((n) => `'${n}'`).join(', ')}`);
    checkKnownKeys(state, names, `${where} entry`);
    for (const { master, name } of this.pairs) {
      const t = state[name];
      if (!(t instanceof Tensor)) throw new TypeError(`${where}: '${name}' must be a Tensor, got ${describeValue(t)}`);
      if (t.numel !== master.numel || t.shape.join(',') !== master.shape.join(',')) {
        throw new RangeError(`${where}: '${name}' has shape [${t.shape.join(', ')}] in the checkpoint but the parameter has shape [${master.shape.join(', ')}]`);
      }
    }
    noGrad(() => {
      for (const { master, name } of this.pairs) master.copy_(state[name] as Tensor);
    });
    this.copyToHalf();
  }
}

function gradData(g: Tensor, master: Tensor, name: string): Float32Array | Uint16Array {
  if (g.numel !== master.numel) {
    throw new RangeError(`mixed precision: the gradient of '${name}' has ${g.numel} elements but the parameter has ${master.numel}`);
  }
  if (g.dtype !== 'float32' && g.dtype !== 'float16' && g.dtype !== 'bfloat16') {
    throw new TypeError(`mixed precision: the gradient of '${name}' is ${g.dtype}; expected a floating-point gradient`);
  }
  return (g.isContiguous() ? g : g.contiguous()).data() as Float32Array | Uint16Array;
}
