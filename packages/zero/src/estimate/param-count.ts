// Parameter counts the estimators take: P (total, shared parameters once) and L (the largest
// single module's own parameters), from a live module as DeepSpeed's `model_to_params` derives
// them, or from a GPT-2 config without building the model.
import type { nn } from '@ds/core';

export interface ParamCounts {
  /** P: every parameter once, however many modules share it. */
  totalParams: number;
  /** L: the most parameters one module holds itself (not counting its children). */
  largestLayerParams: number;
}

/** P and L of a live model (DeepSpeed's `model_to_params`). */
export function moduleParamCounts(model: nn.Module): ParamCounts {
  // Shared parameters count once, as DeepSpeed dedupes by data pointer: same storage and offset.
  const seen = new Map<unknown, Set<number>>();
  let totalParams = 0;
  for (const p of model.parameters()) {
    let offsets = seen.get(p.storage);
    if (!offsets) seen.set(p.storage, (offsets = new Set()));
    if (offsets.has(p.offset)) continue;
    offsets.add(p.offset);
    totalParams += p.numel;
  }
  let largestLayerParams = 0;
  for (const m of model.modules()) {
    const own = m.parameters(false).reduce((n, p) => n + p.numel, 0);
    largestLayerParams = Math.max(largestLayerParams, own);
  }
  return { totalParams, largestLayerParams };
}

/** The sizes of a GPT-2 (Hugging Face config.json names) that decide its parameter count. */
export interface GPT2Shape {
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  /** MLP width; null or missing means 4 * n_embd. */
  n_inner?: number | null;
}

/** Hugging Face's released GPT-2 sizes. */
export const GPT2_PRESETS: Readonly<Record<string, GPT2Shape>> = Object.freeze({
  gpt2: { vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12 },
  'gpt2-medium': { vocab_size: 50257, n_positions: 1024, n_embd: 1024, n_layer: 24 },
  'gpt2-large': { vocab_size: 50257, n_positions: 1024, n_embd: 1280, n_layer: 36 },
  'gpt2-xl': { vocab_size: 50257, n_positions: 1024, n_embd: 1600, n_layer: 48 },
});

function checkShape(cfg: GPT2Shape, where: string): { V: number; P: number; C: number; L: number; I: number } {
  if (cfg === null || typeof cfg !== 'object') throw new TypeError(`${where}: expected a GPT-2 config object`);
  for (const key of ['vocab_size', 'n_positions', 'n_embd', 'n_layer'] as const) {
    const v = cfg[key];
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`${where}: ${key} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  const inner = cfg.n_inner ?? 4 * cfg.n_embd;
  if (!Number.isSafeInteger(inner) || inner <= 0) throw new RangeError(`${where}: n_inner must be a positive integer or null, got ${JSON.stringify(cfg.n_inner)}`);
  return { V: cfg.vocab_size, P: cfg.n_positions, C: cfg.n_embd, L: cfg.n_layer, I: inner };
}

/**
 * Parameters of a GPT-2 LM head model (LM head tied to wte, so counted once):
 * wte V*C + wpe P*C + n_layer * (ln_1 2C + c_attn 3C*C+3C + c_proj C*C+C + ln_2 2C
 * + c_fc C*I+I + mlp.c_proj I*C+C) + ln_f 2C.
 */
export function gpt2ParamCount(config: GPT2Shape): number {
  const { V, P, C, L, I } = checkShape(config, 'gpt2ParamCount');
  const block = 2 * C + (3 * C * C + 3 * C) + (C * C + C) + 2 * C + (C * I + I) + (I * C + C);
  return V * C + P * C + L * block + 2 * C;
}

/** The largest module's own parameters in a GPT-2: usually the token embedding (V*C). */
export function gpt2LargestLayerParams(config: GPT2Shape): number {
  const { V, P, C, I } = checkShape(config, 'gpt2LargestLayerParams');
  return Math.max(V * C, P * C, 3 * C * C + 3 * C, C * C + C, C * I + I, I * C + C, 2 * C);
}

/** P and L of a GPT-2 config. */
export function gpt2ParamCounts(config: GPT2Shape): ParamCounts {
  return { totalParams: gpt2ParamCount(config), largestLayerParams: gpt2LargestLayerParams(config) };
}
