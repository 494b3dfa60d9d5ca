// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms") with DeepSpeed's
// FusedLion / DeepSpeedCPULion hyperparameters and defaults, on the fused `lion` kernel.
import { zerosLike } from '../creation.js';
import { kernels } from '../kernels/index.js';
import type { Tensor } from '../tensor.js';
import { describe } from '../ops/util.js';
import { checkedGrad, checkNonNegative, stateTensor, workingView } from './internal.js';
import { Optimizer, type ParamGroup, type ParamGroupInput } from './optimizer.js';

export interface LionHyperparameters {
  /** Step size: every parameter moves by exactly lr per step (plus weight decay). Default 1e-3. */
  lr: number;
  /**
   * [beta1, beta2]: beta1 mixes momentum and gradient for the update direction, beta2 is the
   * momentum's decay. Default [0.9, 0.999] (DeepSpeed; the paper suggests [0.9, 0.99]).
   */
  betas: [number, number];
  /** Decoupled weight decay: `p *= 1 - lr * weightDecay` each step. Default 0. */
  weightDecay: number;
}

export type LionOptions = Partial<LionHyperparameters>;
export type LionParamGroup = ParamGroup<LionHyperparameters>;

const LION_DEFAULTS: LionHyperparameters = { lr: 1e-3, betas: [0.9, 0.999], weightDecay: 0 };

function validate(h: LionHyperparameters, where: string): void {
  checkNonNegative('Lion', 'lr', h.lr, where);
  if (!Array.isArray(h.betas) || h.betas.length !== 2) {
    throw new TypeError(`Lion: betas must be a pair [beta1, beta2], got ${describe(h.betas)}${where}`);
  }
  h.betas.forEach((b, i) => {
    // beta = 1 is allowed, as in DeepSpeed and lion-pytorch: beta1 = 1 steps along the
    // momentum alone, beta2 = 1 freezes it.
    if (typeof b !== 'number' || !(b >= 0 && b <= 1)) {
      throw new RangeError(`Lion: invalid beta parameter at index ${i}: ${String(b)} (expected 0 <= beta <= 1)${where}`);
    }
  });
  checkNonNegative('Lion', 'weightDecay', h.weightDecay, where);
}

/**
 * Lion: per element, with momentum m (zero at the first step),
 *   c = beta1 m + (1 - beta1) g;  p = p (1 - lr wd) - lr sign(c);  m = beta2 m + (1 - beta2) g.
 * State per parameter: `step` and `expAvg` (DeepSpeed's `exp_avg`).
 *
 * NOTE: sign(0) = 0, as in lion-pytorch: where c is exactly 0 (a zero gradient on a fresh
 * momentum, or momentum and gradient that cancel) the parameter only decays. DeepSpeed's two
 * kernels disagree there and both move it anyway: the CUDA kernel treats 0 as negative (+lr),
 * the CPU kernel uses copysign (-lr for +0), so a frozen or masked parameter would drift.
 */
export class Lion extends Optimizer<LionHyperparameters> {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<LionHyperparameters>>, options: LionOptions = {}) {
    super(params, options, { name: 'Lion', defaults: LION_DEFAULTS, validate });
  }

  protected override stepGroup(group: LionParamGroup, groupIndex: number): void {
    const { lr, weightDecay } = group;
    const [beta1, beta2] = group.betas;
    group.params.forEach((p, i) => {
      const grad = checkedGrad('Lion', p, groupIndex, i);
      if (!grad) return;
      let st = this.state.get(p);
      if (!st) {
        st = { step: 0, expAvg: zerosLike(p) };
        this.state.set(p, st);
      }
      const prev = st.step;
      if (typeof prev !== 'number') throw new TypeError(`Lion: state 'step' of param group ${groupIndex} params[${i}] must be a number, got ${describe(prev)}`);
      st.step = prev + 1;
      const pv = workingView(p);
      const mv = workingView(stateTensor('Lion', st, 'expAvg', groupIndex, i));
      const g = grad.dtype === 'float32' && grad.isContiguous() ? grad.data<'float32'>() : workingView(grad).data;
      kernels().lion(pv.data, g, mv.data, lr, beta1, beta2, weightDecay);
      pv.commit();
      mv.commit();
    });
  }
}
