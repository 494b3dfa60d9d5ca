// The optimizer ZeRO-Offload steps on the CPU: DeepSpeedCPUAdam. Its math is @ds/core's fused
// Adam kernel (SIMD in the native build), so this file only maps DeepSpeed's options and
// defaults onto optim.Adam (L2 decay, adamw_mode false) or optim.AdamW (decoupled decay).
// Note DeepSpeedCPUAdam's weight_decay defaults to 0 in both modes (torch's AdamW uses 0.01).
import { optim, type Tensor } from '@ds/core';

export interface CpuAdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  /** true: decoupled weight decay (AdamW); false: L2 added to the gradient (Adam). */
  adamwMode?: boolean;
  /** false drops both bias corrections. */
  biasCorrection?: boolean;
}

export type CpuAdamHyperparameters = Required<CpuAdamOptions>;

/** DeepSpeedCPUAdam's constructor defaults. */
export const CPU_ADAM_DEFAULTS: Readonly<CpuAdamHyperparameters> = Object.freeze({
  lr: 1e-3,
  betas: [0.9, 0.999] as [number, number],
  eps: 1e-8,
  weightDecay: 0,
  adamwMode: true,
  biasCorrection: true,
});

/** A config's "optimizer" section (DeepSpeed key names). */
export interface OptimizerSection {
  type: string;
  params?: Record<string, unknown>;
}

type Params = Iterable<Tensor> | Iterable<optim.ParamGroupInput<optim.AdamHyperparameters>>;

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = d[0]!;
    d[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = d[j]!;
      d[j] = Math.min(d[j]! + 1, d[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return d[b.length]!;
}

/** The closest known key within a typo's distance, for "did you mean" hints. */
export function closestKey(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return best !== null && bestD <= Math.max(1, Math.floor(key.length / 3)) ? best : null;
}

function unknownKey(where: string, key: string, known: readonly string[]): RangeError {
  const hint = closestKey(key, known);
  return new RangeError(
    `${where}: unknown key "${key}"${hint ? ` (did you mean "${hint}"?)` : ''}; valid: ${known.map((k) => `"${k}"`).join(', ')}`,
  );
}

const OPTION_KEYS = Object.keys(CPU_ADAM_DEFAULTS);

/** Fill DeepSpeedCPUAdam's defaults and check every value; errors name the option. */
export function resolveCpuAdamOptions(opts: CpuAdamOptions = {}, where = 'cpuAdam'): CpuAdamHyperparameters {
  if (opts === null || typeof opts !== 'object') throw new TypeError(`${where}: options must be an object, got ${opts === null ? 'null' : typeof opts}`);
  for (const k of Object.keys(opts)) if (!OPTION_KEYS.includes(k)) throw unknownKey(where, k, OPTION_KEYS);
  const h = { ...CPU_ADAM_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) } as CpuAdamHyperparameters;
  for (const k of ['lr', 'eps', 'weightDecay'] as const) {
    if (typeof h[k] !== 'number' || !(h[k] >= 0)) throw new RangeError(`${where}: ${k} must be a number >= 0, got ${JSON.stringify(h[k])}`);
  }
  if (!Array.isArray(h.betas) || h.betas.length !== 2 || h.betas.some((b) => typeof b !== 'number' || !(b >= 0 && b < 1))) {
    throw new RangeError(`${where}: betas must be a pair [beta1, beta2] with 0 <= beta < 1, got ${JSON.stringify(h.betas)}`);
  }
  for (const k of ['adamwMode', 'biasCorrection'] as const) {
    if (typeof h[k] !== 'boolean') throw new TypeError(`${where}: ${k} must be a boolean, got ${JSON.stringify(h[k])}`);
  }
  return { ...h, betas: [h.betas[0], h.betas[1]] };
}

/**
 * DeepSpeedCPUAdam(params, lr=1e-3, bias_correction=True, betas=(0.9, 0.999), eps=1e-8,
 * weight_decay=0, adamw_mode=True): the optimizer ZeRO-Offload runs on the host.
 */
export function cpuAdam(params: Params, opts: CpuAdamOptions = {}): optim.Adam | optim.AdamW {
  const h = resolveCpuAdamOptions(opts);
  const o: optim.AdamOptions = { lr: h.lr, betas: h.betas, eps: h.eps, weightDecay: h.weightDecay, biasCorrection: h.biasCorrection };
  return h.adamwMode ? new optim.AdamW(params as Iterable<Tensor>, o) : new optim.Adam(params as Iterable<Tensor>, o);
}

const CONFIG_KEYS = ['lr', 'betas', 'eps', 'weight_decay', 'adam_w_mode', 'bias_correction', 'torch_adam', 'amsgrad'];

/**
 * DeepSpeedCPUAdam's options from a config "optimizer" section, as `_configure_basic_optimizer`
 * reads it under optimizer offload: type "Adam" is AdamW unless params.adam_w_mode is false,
 * "AdamW" always is; torch_adam selects torch's Adam/AdamW (the same math here, but without a
 * bias_correction switch).
 */
export function cpuAdamOptionsFromConfig(section: OptimizerSection): CpuAdamHyperparameters {
  if (section === null || typeof section !== 'object' || typeof section.type !== 'string') {
    throw new TypeError('optimizer: expected { type, params } with a string type');
  }
  const type = section.type.toLowerCase();
  if (type !== 'adam' && type !== 'adamw') {
    throw new RangeError(
      `optimizer.type: offload_optimizer steps on the CPU with DeepSpeedCPUAdam, which needs "Adam" or "AdamW"; got ${JSON.stringify(section.type)}`,
    );
  }
  const p = section.params ?? {};
  if (p === null || typeof p !== 'object' || Array.isArray(p)) throw new TypeError('optimizer.params: expected an object');
  for (const k of Object.keys(p)) if (!CONFIG_KEYS.includes(k)) throw unknownKey('optimizer.params', k, CONFIG_KEYS);
  const bool = (key: string, fallback: boolean): boolean => {
    const v = p[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') throw new TypeError(`optimizer.params.${key}: expected true or false, got ${JSON.stringify(v)}`);
    return v;
  };
  if (bool('amsgrad', false)) throw new RangeError('optimizer.params.amsgrad: DeepSpeedCPUAdam does not support amsgrad (valid: false)');
  const torchAdam = bool('torch_adam', false);
  const biasCorrection = bool('bias_correction', true);
  if (torchAdam && !biasCorrection) {
    throw new RangeError('optimizer.params.bias_correction: torch_adam selects torch.optim.Adam/AdamW, which always bias-correct (valid: true, or drop torch_adam)');
  }
  const adamwMode = type === 'adamw' || bool('adam_w_mode', true);
  const where = 'optimizer.params';
  const num = (key: string, fallback: number): number => {
    const v = p[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v >= 0)) throw new RangeError(`${where}.${key}: expected a number >= 0, got ${JSON.stringify(v)}`);
    return v;
  };
  let betas = CPU_ADAM_DEFAULTS.betas;
  if (p.betas !== undefined) {
    const b = p.betas;
    if (!Array.isArray(b) || b.length !== 2 || b.some((x) => typeof x !== 'number' || !(x >= 0 && x < 1))) {
      throw new RangeError(`${where}.betas: expected [beta1, beta2] with 0 <= beta < 1, got ${JSON.stringify(b)}`);
    }
    betas = [b[0] as number, b[1] as number];
  }
  return resolveCpuAdamOptions({
    lr: num('lr', CPU_ADAM_DEFAULTS.lr),
    betas,
    eps: num('eps', CPU_ADAM_DEFAULTS.eps),
    weightDecay: num('weight_decay', CPU_ADAM_DEFAULTS.weightDecay),
    adamwMode,
    biasCorrection,
  }, where);
}

/** The optimizer `offload_optimizer: { device: "cpu" }` runs, built from the config's section. */
export function cpuAdamFromConfig(section: OptimizerSection, params: Params): optim.Adam | optim.AdamW {
  return cpuAdam(params, cpuAdamOptionsFromConfig(section));
}
