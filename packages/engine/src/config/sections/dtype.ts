// The float dtypes a config names, in DeepSpeed's spellings (its DtypeEnum), normalised to fp32/fp16/bf16.
import * as z from 'zod';

export type FloatDtype = 'fp32' | 'fp16' | 'bf16';

const ALIASES: Record<string, FloatDtype> = {
  fp32: 'fp32', float32: 'fp32', float: 'fp32', 'torch.float32': 'fp32', 'torch.float': 'fp32',
  fp16: 'fp16', float16: 'fp16', half: 'fp16', 'torch.float16': 'fp16', 'torch.half': 'fp16',
  bf16: 'bf16', bfloat16: 'bf16', bfloat: 'bf16', 'torch.bfloat16': 'bf16',
};

/** A float dtype in any DeepSpeed spelling ("half", "torch.bfloat16", ...) → fp32 | fp16 | bf16. */
export const FLOAT_DTYPE = z
  .string()
  .transform((s) => ALIASES[s.toLowerCase()] ?? s)
  .pipe(z.enum(['fp32', 'fp16', 'bf16']));
