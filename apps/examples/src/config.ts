// The DeepSpeed config of a training run: the config file, the command line's overrides, and
// the "auto" values filled in (as the Hugging Face integration does for DeepSpeed).
import { readFileSync } from 'node:fs';

export interface ConfigOverrides {
  config: string;
  steps: number;
  batchSize: number | undefined;
  lr: number | undefined;
  warmup: number | undefined;
  weightDecay: number | undefined;
  clip: number | undefined;
  bf16: boolean;
}

type Json = Record<string, any>;

export function buildConfig(args: ConfigOverrides): Json {
  const config = JSON.parse(readFileSync(args.config, 'utf8')) as Json;
  if (args.batchSize !== undefined) {
    config.train_micro_batch_size_per_gpu = args.batchSize;
    delete config.train_batch_size;
  }
  if (args.clip !== undefined) config.gradient_clipping = args.clip;
  if (args.bf16) config.bf16 = { ...(config.bf16 ?? {}), enabled: true };
  const opt = config.optimizer?.params as Json | undefined;
  if (opt && args.lr !== undefined) opt.lr = args.lr;
  if (opt && args.weightDecay !== undefined) opt.weight_decay = args.weightDecay;
  const sched = config.scheduler?.params as Json | undefined;
  if (sched) {
    const warmup = args.warmup ?? Math.min(100, Math.floor(args.steps / 10));
    if (sched.total_num_steps === 'auto') sched.total_num_steps = args.steps;
    if (sched.warmup_num_steps === 'auto' || args.warmup !== undefined) sched.warmup_num_steps = warmup;
    if (sched.warmup_max_lr === 'auto' && opt) sched.warmup_max_lr = opt.lr;
  }
  return config;
}
