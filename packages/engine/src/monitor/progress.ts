// The rank-0 progress line every `steps_per_print` optimizer steps.
import { pyFloat, pyList } from './python-format.js';

export interface ProgressFields {
  /** Optimizer steps done, skipped ones included (`global_steps`). */
  step: number;
  skipped: number;
  /** Per param group. */
  lr: readonly number[];
  /** Per param group: `betas` pairs (Adam-style) or `momentum` values (SGD-style). */
  mom?: readonly (number | readonly number[])[] | null;
  loss?: number | null;
  lossScale?: number | null;
  samplesPerSec?: number | null;
  tokensPerSec?: number | null;
  /** Model flops utilisation as a fraction (0.42 prints as 42.00%). */
  mfu?: number | null;
  rssBytes?: number | null;
}

function num(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : pyFloat(x);
}

/**
 * DeepSpeed's `step=N, skipped=S, lr=[...], mom=[...]` (Python list syntax) followed by
 * what ds adds when given: `loss=2.3456, loss_scale=65536, samples/s=123.45,
 * tokens/s=12345.6, mfu=12.34%, rss=1.23GB` (GB = 2^30 bytes, as DeepSpeed's memory lines).
 */
export function formatProgress(f: ProgressFields): string {
  const parts = [`step=${f.step}`, `skipped=${f.skipped}`, `lr=${pyList(f.lr)}`];
  if (f.mom != null) parts.push(`mom=${pyList(f.mom)}`);
  if (f.loss != null) parts.push(`loss=${num(f.loss, 4)}`);
  if (f.lossScale != null) parts.push(`loss_scale=${Number.isInteger(f.lossScale) ? String(f.lossScale) : pyFloat(f.lossScale)}`);
  if (f.samplesPerSec != null) parts.push(`samples/s=${num(f.samplesPerSec, 2)}`);
  if (f.tokensPerSec != null) parts.push(`tokens/s=${num(f.tokensPerSec, 1)}`);
  if (f.mfu != null) parts.push(`mfu=${num(f.mfu * 100, 2)}%`);
  if (f.rssBytes != null) parts.push(`rss=${num(f.rssBytes / 1024 ** 3, 2)}GB`);
  return parts.join(', ');
}
