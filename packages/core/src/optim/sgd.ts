// SGD with momentum, dampening, Nesterov and weight decay, torch.optim.SGD semantics.
import { kernels } from '../kernels/index.js';
import { wrap } from '../ops/util.js';
import type { Tensor } from '../tensor.js';
import { checkBoolean, checkedGrad, checkNonNegative, stateTensor, workingView } from './internal.js';
import { Optimizer, type ParamGroup, type ParamGroupInput } from './optimizer.js';

export interface SGDHyperparameters {
  lr: number;
  momentum: number;
  /** Scales down the gradient's contribution to the momentum buffer (1 - dampening). */
  dampening: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

export type SGDOptions = Partial<SGDHyperparameters>;
export type SGDParamGroup = ParamGroup<SGDHyperparameters>;

// torch >= 2.0 defaults lr to 1e-3 (1.x required it).
const SGD_DEFAULTS: SGDHyperparameters = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false };

function validate(h: SGDHyperparameters, where: string): void {
  checkNonNegative('SGD', 'lr', h.lr, where);
  checkNonNegative('SGD', 'momentum', h.momentum, where);
  if (typeof h.dampening !== 'number' || Number.isNaN(h.dampening)) {
    throw new TypeError(`SGD: dampening must be a number, got ${String(h.dampening)}${where}`);
  }
  checkNonNegative('SGD', 'weightDecay', h.weightDecay, where);
  checkBoolean('SGD', 'nesterov', h.nesterov, where);
  checkBoolean('SGD', 'maximize', h.maximize, where);
  if (h.nesterov && (h.momentum <= 0 || h.dampening !== 0)) {
    throw new RangeError(`SGD: nesterov momentum requires momentum > 0 and dampening = 0, got momentum ${h.momentum} and dampening ${h.dampening}${where}`);
  }
}

/** torch.optim.SGD; the momentum buffer starts as a copy of the first (decayed) gradient. */
export class SGD extends Optimizer<SGDHyperparameters> {
  constructor(params: Iterable<Tensor> | Iterable<ParamGroupInput<SGDHyperparameters>>, options: SGDOptions = {}) {
    super(params, options, { name: 'SGD', defaults: SGD_DEFAULTS, validate });
  }

  protected override stepGroup(group: SGDParamGroup, groupIndex: number): void {
    const { lr, momentum, dampening, weightDecay, nesterov, maximize } = group;
    const k = kernels();
    group.params.forEach((p, i) => {
      const grad = checkedGrad('SGD', p, groupIndex, i);
      if (!grad) return;
      const pv = workingView(p);
      // d may alias the gradient's storage until it has to be modified.
      const zeroCopy = grad.dtype === 'float32' && grad.isContiguous();
      let d = zeroCopy ? grad.data<'float32'>() : workingView(grad).data;
      let owned = !zeroCopy;
      const own = (): void => {
        if (!owned) {
          d = d.slice();
          owned = true;
        }
      };
      if (maximize) {
        own();
        k.scale(d, -1);
      }
      if (weightDecay !== 0) {
        own();
        k.axpy(weightDecay, pv.data, d);
      }
      if (momentum !== 0) {
        let st = this.state.get(p);
        if (!st) this.state.set(p, (st = {}));
        let buf: Float32Array;
        if (st.momentumBuffer === undefined) {
          const t = wrap(d.slice(), p.shape, p.dtype);
          st.momentumBuffer = t;
          // Read back so a 16-bit buffer's rounding is seen by the update, as in torch.
          buf = workingView(t).data;
        } else {
          const bv = workingView(stateTensor('SGD', st, 'momentumBuffer', groupIndex, i));
          k.scale(bv.data, momentum);
          k.axpy(1 - dampening, d, bv.data);
          bv.commit();
          buf = bv.data;
        }
        if (nesterov) {
          own();
          k.axpy(momentum, buf, d);
        } else {
          d = buf;
        }
      }
      k.axpy(-lr, d, pv.data);
      pv.commit();
    });
  }
}
