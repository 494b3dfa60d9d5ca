// Autoregressive sampling for GPT2LMHeadModel.
import { Generator, noGrad, tensor, type Tensor } from '@ds/core';
import type { GPT2LMHeadModel } from './model.js';

export interface GenerateOptions {
  maxNewTokens: number;
  /** 0 means greedy. */
  temperature?: number;
  /** Sample only among the k most likely tokens (0 = all). */
  topK?: number;
  generator?: Generator;
}

/** Continue `prompt` (token ids) and return prompt + new tokens. */
export function generate(model: GPT2LMHeadModel, prompt: readonly number[], opts: GenerateOptions): number[] {
  if (prompt.length === 0) throw new RangeError('generate: prompt must contain at least one token');
  const temperature = opts.temperature ?? 1;
  const topK = opts.topK ?? 0;
  const gen = opts.generator ?? new Generator(0);
  const ids = [...prompt];
  const ctx = model.config.n_positions;
  const wasTraining = model.training;
  model.eval();
  try {
    noGrad(() => {
      for (let s = 0; s < opts.maxNewTokens; s++) {
        const window = ids.slice(-ctx);
        const logits: Tensor = model.forward(tensor([window.map(BigInt)]));
        const v = model.config.vocab_size;
        const last = logits.reshape(-1, v).narrow(0, window.length - 1, 1).toFloat32Array();
        ids.push(sample(last, temperature, topK, gen));
      }
    });
  } finally {
    model.train(wasTraining);
  }
  return ids;
}

function sample(logits: Float32Array, temperature: number, topK: number, gen: Generator): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i]! > logits[best]!) best = i;
  if (temperature <= 0) return best;
  let order = Array.from(logits.keys());
  if (topK > 0 && topK < logits.length) order = order.sort((a, b) => logits[b]! - logits[a]!).slice(0, topK);
  const max = logits[best]!;
  const weights = order.map((i) => Math.exp((logits[i]! - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = gen.uniform() * total;
  for (let k = 0; k < order.length; k++) {
    r -= weights[k]!;
    if (r <= 0) return order[k]!;
  }
  return order[order.length - 1]!;
}
