// The optimizer a config's "optimizer" section names (DeepSpeed `_configure_basic_optimizer`).
// Parameter names are DeepSpeed's (snake_case); every update runs in @ds/core's fused kernels.
import { optim, type Tensor } from '@ds/core';

type Params = Iterable<Tensor> | Iterable<optim.ParamGroupInput>;

export interface OptimizerSection {
  type: string;
  params?: Record<string, unknown>;
}

const SUPPORTED = ['Adam', 'AdamW', 'SGD', 'Lion'];

export function buildOptimizer(section: OptimizerSection, params: Params): optim.Optimizer<object> {
  const p = { ...(section.params ?? {}) };
  const type = section.type.toLowerCase();
  const take = <T>(key: string, fallback: T): T => {
    const v = p[key];
    delete p[key];
    return (v === undefined ? fallback : v) as T;
  };
  let opt: optim.Optimizer<object>;
  if (type === 'adam' || type === 'adamw') {
    // DeepSpeed: "Adam" is AdamW unless adam_w_mode is false; "AdamW" always is.
    const adamWMode = take('adam_w_mode', true);
    const adamW = type === 'adamw' || adamWMode;
    // ds has one Adam: the fused kernel computes torch's Adam/AdamW exactly, so torch_adam changes nothing.
    take('torch_adam', false);
    const options: optim.AdamOptions = {
      lr: take('lr', 1e-3),
      betas: take('betas', [0.9, 0.999] as [number, number]),
      eps: take('eps', 1e-8),
      weightDecay: take('weight_decay', 0),
      biasCorrection: take('bias_correction', true),
    };
    if (take('amsgrad', false)) throw new RangeError('optimizer.params.amsgrad: DeepSpeed\'s fused Adam does not support amsgrad (valid: false)');
    opt = adamW ? new optim.AdamW(params as Iterable<Tensor>, options) : new optim.Adam(params as Iterable<Tensor>, options);
  } else if (type === 'sgd' || type === 'musgd') {
    opt = new optim.SGD(params as Iterable<Tensor>, {
      lr: take('lr', 1e-3),
      momentum: take('momentum', 0),
      dampening: take('dampening', 0),
      weightDecay: take('weight_decay', 0),
      nesterov: take('nesterov', false),
    });
  } else if (type === 'lion') {
    opt = new optim.Lion(params as Iterable<Tensor>, {
      lr: take('lr', 1e-3),
      betas: take('betas', [0.9, 0.999] as [number, number]),
      weightDecay: take('weight_decay', 0),
    });
  } else {
    throw new RangeError(`optimizer.type: ${JSON.stringify(section.type)} is not available in ds; valid: ${SUPPORTED.map((s) => `"${s}"`).join(', ')} (or pass your own optimizer to initialize())`);
  }
  const left = Object.keys(p).filter((k) => p[k] !== undefined);
  if (left.length > 0) throw new RangeError(`optimizer.params: unknown key${left.length > 1 ? 's' : ''} ${left.map((k) => `"${k}"`).join(', ')} for optimizer type "${section.type}"`);
  return opt;
}
