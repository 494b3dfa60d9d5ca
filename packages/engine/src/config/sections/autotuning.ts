// The "autotuning" section (spec §1.11).
import * as z from 'zod';
import { always, bool, nullableInt, nullableStr, strict } from './common.js';

const nonEmpty = (def: string) => z.string().min(1).default(def);

export const autotuningSchema = always(
  strict({
    enabled: bool(false),
    fast: bool(true),
    results_dir: nonEmpty('autotuning_results'),
    exps_dir: nonEmpty('autotuning_exps'),
    overwrite: bool(true),
    start_profile_step: z.number().int().min(0).default(3),
    end_profile_step: z.number().int().min(0).default(5),
    metric: z.enum(['throughput', 'latency', 'flops']).default('throughput'),
    metric_path: nullableStr(),
    tuner_type: z.enum(['gridsearch', 'random', 'model_based']).default('gridsearch'),
    tuner_early_stopping: z.number().int().min(0).default(5),
    tuner_num_trials: z.number().int().min(1).default(50),
    arg_mappings: z.record(z.string(), z.string()).nullable().default(null),
    model_info: always(
      strict({
        profile: bool(false),
        num_params: nullableInt(),
        hidden_size: nullableInt(),
        num_layers: nullableInt(),
      }),
    ),
    model_info_path: nullableStr(),
    mp_size: z.number().int().min(1).default(1),
    max_train_batch_size: nullableInt(),
    min_train_batch_size: z.number().int().min(1).default(1),
    max_train_micro_batch_size_per_gpu: z.number().int().min(1).default(1024),
    min_train_micro_batch_size_per_gpu: z.number().int().min(1).default(1),
    num_tuning_micro_batch_sizes: z.number().int().min(1).default(3),
  }),
);

export type AutotuningConfig = z.output<typeof autotuningSchema>;
