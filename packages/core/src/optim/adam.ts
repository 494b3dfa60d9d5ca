// Adam (L2 weight decay) and AdamW (decoupled weight decay), torch.optim semantics, with
// DeepSpeed's `biasCorrection` switch. The common case runs on the fused `adam` kernel so
// the native implementation applies; amsgrad needs a running max the kernel lacks and runs
// in TypeScript.
import { zerosLike } from '../creation.js';
import { kernels } from '../kernels/index.js';
import type { Tensor } from '../tensor.js';
import { describe } from '../ops/util.js';
import { checkBoolean, checkedGrad, checkNonNegative, stateTensor, workingView } from './internal.js';
import { Optimizer, type ParamGroup, type ParamGroupInput } from './optimizer.js';

export interface AdamHyperparameters {
  lr: number;
  /** Decay rates of the first and second moment estimates. */
  betas: [number, number];
  eps: number;
  /** Adam: L2 penalty added to the gradient; AdamW: decoupled decay `p *= 1 - lr * weightDecay`. */
  weightDecay: number;
  /** Use the running maximum of the second moment (Reddi et al.). */
  amsgrad: boolean;
  /** Maximize the objective instead of minimizing it. */
  maximize: boolean;
  /** DeepSpeed's bias_correction: false drops both bias corrections (bc1 = bc2 = 1). */
  biasCorrection: boolean;
}

export type AdamOptions = Partial<AdamHyperparameters>;
export type AdamParamGroup = ParamGroup<AdamHyperparameters>;

const ADAM_DEFAULTS: AdamHyperparameters = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  amsgrad: false,
  maximize: false,
  biasCorrection: true,
};

function validate(name: string, h: AdamHyperparameters, where: string): void {
  checkNonNegative(name, 'lr', h.lr, where);
  checkNonNegative(name, 'eps', h.eps, where);
  if (!Array.isArray(h.betas) || h.betas.length !== 2) {
    throw new TypeError(`${name}: betas must be a pair [beta1, beta2], got ${describe(h.betas)}${where}`);
  }
  h.betas.forEach((b, i) => {
    if (typeof b !== 'number' || !(b >= 0 && b < 1)) {
      throw new RangeError(`${name}: invalid beta parameter at index ${i}: ${String(b)} (expected 0 <= beta < 1)${where}`);
    }
  });
  checkNonNegative(name, 'weightDecay', h.weightDecay, where);
  checkBoolean(name, 'amsgrad', h.amsgrad, where);
  checkBoolean(name, 'maximize', h.maximize, where);
  checkBoolean(name, 'biasCorrection', h.biasCorrection, where);
}

/** Shared implementation; `mode` is the kernel's 0 = L2 (Adam), 1 = decoupled (AdamW). */
abstract class AdamBase extends Optimizer<AdamHyperparameters> {
  readonly #name: string;
  readonly #mode: 0 | 1;

  protected constructor(
    name: string,
    mode: 0 | 1,
    params: Iterable<Tensor> | Iterable<ParamGroupInput<AdamHyperparameters>>,
    options: AdamOptions,
    defaults: AdamHyperparameters,
  ) {
    super(params, options, { name, defaults, validate: (h, where) => validate(name, h, where) });
    this.#name = name;
    this.#mode = mode;
  }

  protected override stepGroup(group: AdamParamGroup, groupIndex: number): void {
    const name = this.#name;
    const mode = this.#mode;
    const { lr, eps, weightDecay, amsgrad, maximize, biasCorrection } = group;
    const [beta1, beta2] = group.betas;
    group.params.forEach((p, i) => {
      const grad = checkedGrad(name, p, groupIndex, i);
      if (!grad) return;
      let st = this.state.get(p);
      if (!st) {
        st = { step: 0, expAvg: zerosLike(p), expAvgSq: zerosLike(p) };
        this.state.set(p, st);
      }
      // amsgrad may be switched on for a group that has already stepped.
      if (amsgrad && st.maxExpAvgSq === undefined) st.maxExpAvgSq = zerosLike(p);
      const prev = st.step;
      if (typeof prev !== 'number') throw new TypeError(`${name}: state 'step' of param group ${groupIndex} params[${i}] must be a number, got ${describe(prev)}`);
      const step = prev + 1;
      st.step = step;

      // Like torch, the corrections are computed in float64 on the host side.
      const bc1 = biasCorrection ? 1 - beta1 ** step : 1;
      const bc2Sqrt = biasCorrection ? Math.sqrt(1 - beta2 ** step) : 1;

      const pv = workingView(p);
      const mv = workingView(stateTensor(name, st, 'expAvg', groupIndex, i));
      const vv = workingView(stateTensor(name, st, 'expAvgSq', groupIndex, i));
      let g = grad.dtype === 'float32' && grad.isContiguous() ? grad.data<'float32'>() : workingView(grad).data;
      if (maximize) {
        // torch negates the gradient before weight decay; a negated copy keeps the fused path.
        g = g.slice();
        kernels().scale(g, -1);
      }
      if (amsgrad) {
        const mx = workingView(stateTensor(name, st, 'maxExpAvgSq', groupIndex, i));
        amsgradUpdate(pv.data, g, mv.data, vv.data, mx.data, lr, beta1, beta2, eps, weightDecay, mode, bc1, bc2Sqrt);
        mx.commit();
      } else {
        kernels().adam(pv.data, g, mv.data, vv.data, lr, beta1, beta2, eps, weightDecay, mode, bc1, bc2Sqrt);
      }
      pv.commit();
      mv.commit();
      vv.commit();
    });
  }
}

/** The kernel's formula plus the running max of the second moment used in the denominator. */
function amsgradUpdate(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, mx: Float32Array,
  lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, mode: 0 | 1, bc1: number, bc2Sqrt: number,
): void {
  const stepSize = lr / bc1;
  const decay = mode === 1 ? 1 - lr * weightDecay : 1;
  for (let i = 0; i < p.length; i++) {
    let gi = g[i]!;
    if (mode === 0 && weightDecay !== 0) gi += weightDecay * p[i]!;
    m[i] = beta1 * m[i]! + (1 - beta1) * gi;
    v[i] = beta2 * v[i]! + (1 - beta2) * gi * gi;
    // torch takes the max of the stored (float32-rounded) moments.
    if (v[i]! > mx[i]! || Number.isNaN(v[i]!)) mx[i] = v[i]!;
    p[i] = p[i]! * decay - (stepSize * m[i]!) / (Math.sqrt(mx[i]!) / bc2Sqrt + eps);
  }
}

/** torch.optim.Adam: weight decay is an L2 term added to the gradient (DeepSpeed adamw_mode=false). */
export class Adam extends AdamBase {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<AdamHyperparameters>>, options: AdamOptions = {}) {
    super('Adam', 0, params, options, ADAM_DEFAULTS);
  }
}

/** torch.optim.AdamW: decoupled weight decay `p *= 1 - lr * weightDecay` (DeepSpeed adamw_mode=true). */
export class AdamW extends AdamBase {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<AdamHyperparameters>>, options: AdamOptions = {}) {
    super('AdamW', 1, params, options, { ...ADAM_DEFAULTS, weightDecay: 1e-2 });
  }
}
