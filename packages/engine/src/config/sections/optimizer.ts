// The "optimizer" section (spec §1.4, §5): type names normalised as DeepSpeed does, and params
// checked against the constructor of the optimizer that type builds, with its defaults.
import * as z from 'zod';
import { bool, nonNeg, strict } from './common.js';

export const optimizerSectionSchema = strict({
  type: z.string().min(1),
  params: z.record(z.string(), z.unknown()).nullable().default(null),
  legacy_fusion: bool(false),
});

const lr = (def: number) => z.number().min(0).default(def);
const beta = z.number().min(0).max(1);
const betas = (b2: number) => z.tuple([beta, beta]).default([0.9, b2]);
const eps = (def: number) => z.number().min(0).default(def);
const noAmsgrad = z.literal(false, { error: 'amsgrad is not supported by DeepSpeed\'s fused optimizers; valid: false' }).default(false);

const adamParams = strict({
  lr: lr(1e-3),
  betas: betas(0.999),
  eps: eps(1e-8),
  weight_decay: nonNeg(0),
  bias_correction: bool(true),
  /** AdamW-style decoupled weight decay; DeepSpeed's default is true even for type "Adam". */
  adam_w_mode: bool(true),
  /** Build torch's Adam/AdamW instead of the fused kernel. */
  torch_adam: bool(false),
  amsgrad: noAmsgrad,
});

const lambParams = strict({
  lr: lr(1e-3),
  bias_correction: bool(true),
  betas: betas(0.999),
  eps: eps(1e-8),
  eps_inside_sqrt: bool(false),
  weight_decay: nonNeg(0),
  max_coeff: z.number().positive().default(10),
  min_coeff: z.number().min(0).default(0.01),
  amsgrad: noAmsgrad,
});

const adagradParams = strict({
  lr: lr(1e-2),
  eps: eps(1e-10),
  weight_decay: nonNeg(0),
  /** torch.optim.Adagrad only (no offload). */
  lr_decay: z.number().min(0).optional(),
  /** torch.optim.Adagrad only (no offload). */
  initial_accumulator_value: z.number().min(0).optional(),
  amsgrad: noAmsgrad,
});

const lionParams = strict({
  lr: lr(1e-3),
  betas: betas(0.999),
  weight_decay: nonNeg(0),
});

const sgdParams = strict({
  lr: lr(1e-3),
  momentum: nonNeg(0),
  dampening: z.number().default(0),
  weight_decay: nonNeg(0),
  nesterov: bool(false),
}).refine((p) => !p.nesterov || (p.momentum > 0 && p.dampening === 0), {
  message: 'nesterov needs momentum > 0 and dampening 0',
  path: ['nesterov'],
});

const oneBitCommon = {
  lr: lr(1e-3),
  bias_correction: bool(true),
  betas: betas(0.999),
  eps: eps(1e-8),
  eps_inside_sqrt: bool(false),
  weight_decay: nonNeg(0),
  amsgrad: noAmsgrad,
  cuda_aware: bool(false),
  comm_backend_name: z.string().default('nccl'),
};

const oneBitAdamParams = strict({ ...oneBitCommon, freeze_step: z.number().int().min(0).default(100_000) });

const zeroOneAdamParams = strict({
  ...oneBitCommon,
  var_freeze_step: z.number().int().min(0).default(100_000),
  var_update_scaler: z.number().int().min(1).default(16),
  local_step_scaler: z.number().int().min(1).default(32678),
  local_step_clipper: z.number().int().min(1).default(16),
});

const oneBitLambParams = strict({
  ...oneBitCommon,
  freeze_step: z.number().int().min(0).default(100_000),
  max_coeff: z.number().positive().default(10),
  min_coeff: z.number().min(0).default(0.01),
  coeff_beta: z.number().min(0).max(1).default(0.9),
  factor_max: z.number().positive().default(4),
  factor_min: z.number().positive().default(0.5),
  factor_threshold: z.number().min(0).default(0.1),
});

const muAdamParams = strict({ lr: lr(1e-3), betas: betas(0.999), eps: eps(1e-8), weight_decay: nonNeg(0), amsgrad: noAmsgrad });

/** Per normalised type: the schema of its params. */
export const OPTIMIZER_PARAMS = {
  adam: adamParams,
  adamw: adamParams,
  lamb: lambParams,
  adagrad: adagradParams,
  lion: lionParams,
  onebitadam: oneBitAdamParams,
  zerooneadam: zeroOneAdamParams,
  onebitlamb: oneBitLambParams,
  muadam: muAdamParams,
  muadamw: muAdamParams,
  musgd: sgdParams,
  SGD: sgdParams,
} as const;

export type OptimizerType = keyof typeof OPTIMIZER_PARAMS;

/** DeepSpeed lower-cases a type only when the lower-case form is one of its own optimizers. */
export const DEEPSPEED_OPTIMIZERS = ['adagrad', 'adam', 'adamw', 'lamb', 'onebitadam', 'onebitlamb', 'zerooneadam', 'muadam', 'muadamw', 'musgd', 'lion'] as const;

/** How the types are spelt in documentation (for "did you mean" and error lists). */
export const OPTIMIZER_DISPLAY_NAMES = ['Adam', 'AdamW', 'Adagrad', 'Lamb', 'Lion', 'OneBitAdam', 'ZeroOneAdam', 'OneBitLamb', 'MuAdam', 'MuAdamW', 'MuSGD', 'SGD'];

/** torch.optim classes DeepSpeed would accept verbatim but ds does not implement. */
export const TORCH_ONLY_OPTIMIZERS = ['Adadelta', 'Adamax', 'ASGD', 'LBFGS', 'NAdam', 'RAdam', 'RMSprop', 'Rprop', 'SparseAdam', 'Adafactor'];

/** The 1-bit optimizers that compress communication themselves and cannot run under ZeRO. */
export const ONE_BIT_OPTIMIZERS: readonly OptimizerType[] = ['onebitadam', 'zerooneadam', 'onebitlamb'];

/** Optimizers ZeRO is tested with (others need zero_allow_untested_optimizer). */
export const ZERO_SUPPORTED_OPTIMIZERS: readonly OptimizerType[] = ['adam', 'adamw', 'adagrad', 'lion'];

type ParamsOf<T extends OptimizerType> = z.output<(typeof OPTIMIZER_PARAMS)[T]>;

/** A resolved optimizer section: normalised type and every constructor parameter. */
export type OptimizerConfig = {
  [T in OptimizerType]: { type: T; params: ParamsOf<T>; legacy_fusion: boolean };
}[OptimizerType];

export type OptimizerConfigInput = z.input<typeof optimizerSectionSchema>;
export type AdamParams = ParamsOf<'adam'>;
export type SgdParams = ParamsOf<'SGD'>;
