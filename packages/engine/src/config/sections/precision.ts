// fp16, bf16 (legacy key "bfloat16") and apex amp (spec §1.3).
import * as z from 'zod';
import { always, bool, nonNeg, nonNegInt, posInt, strict } from './common.js';

export const fp16Schema = always(
  strict({
    enabled: bool(false),
    /** Cast floating inputs to half before the module runs. */
    auto_cast: bool(false),
    /** 0 → dynamic loss scaling; > 0 → a static scale of exactly this value. */
    loss_scale: nonNeg(0),
    /** The first dynamic scale is 2^initial_scale_power. */
    initial_scale_power: nonNegInt(16),
    /** Overflow-free steps before the dynamic scale doubles. */
    loss_scale_window: posInt(1000),
    /** Overflows tolerated before the scale halves ("delayed shift"). */
    hysteresis: posInt(2),
    /** Refill the hysteresis budget only after `loss_scale_window` clean steps in a row. */
    consecutive_hysteresis: bool(false),
    /** The dynamic scale never goes below this. */
    min_loss_scale: z.number().positive().default(1),
    /** Keep fp16 master weights and gradients (ZeRO-2 with CPU offload only). */
    fp16_master_weights_and_grads: bool(false),
  }),
);

export const bf16Schema = always(
  strict({
    enabled: bool(false),
    immediate_grad_update: bool(false),
    /** A ds key: an inf/NaN gradient stops the run with an error naming the parameter ("error") or skips the step ("skip"). */
    nonfinite: z.enum(['error', 'skip']).default('error'),
  }),
);

const optionalBool = z.boolean().nullable().optional();
const optionalNum = z.number().nullable().optional();

/** apex amp: every key but `enabled` is forwarded to `amp.initialize` (the apex keys are listed so typos are caught). */
export const ampSchema = always(
  strict({
    enabled: bool(false),
    opt_level: z.enum(['O0', 'O1', 'O2', 'O3']).optional(),
    cast_model_type: z.string().nullable().optional(),
    patch_torch_functions: optionalBool,
    keep_batchnorm_fp32: z.union([z.boolean(), z.string()], { error: 'expected true, false or a string' }).nullable().optional(),
    master_weights: optionalBool,
    loss_scale: z.union([z.number(), z.literal('dynamic')], { error: 'expected a number or "dynamic"' }).optional(),
    cast_model_outputs: z.string().nullable().optional(),
    num_losses: z.number().int().min(1).optional(),
    verbosity: z.number().int().min(0).optional(),
    min_loss_scale: optionalNum,
    max_loss_scale: optionalNum,
  }),
);

export type Fp16Config = z.output<typeof fp16Schema>;
export type Bf16Config = z.output<typeof bf16Schema>;
export type AmpConfig = z.output<typeof ampSchema>;
