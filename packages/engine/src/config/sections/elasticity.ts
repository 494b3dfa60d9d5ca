// The "elasticity" section (spec §1.10): the batch sizes an elastic job may scale across.
import * as z from 'zod';
import { always, bool, strict } from './common.js';

/** The newest elasticity algorithm DeepSpeed (and ds) implements. */
export const LATEST_ELASTICITY_VERSION = 0.2;

export const elasticitySchema = always(
  strict({
    enabled: bool(false),
    /** Required when enabled. */
    max_train_batch_size: z.number().int().min(1).default(2000),
    /** Required when enabled. */
    micro_batch_sizes: z.array(z.number().int().min(1)).min(1).default([2, 4, 6]),
    min_gpus: z.number().int().min(1).default(1),
    max_gpus: z.number().int().min(1).default(10000),
    num_gpus_per_node: z.number().int().min(1).default(1),
    model_parallel_size: z.number().int().min(1).default(1),
    min_time: z.number().min(0).default(0),
    prefer_larger_batch: bool(true),
    /** Let the elastic batch sizes override train_batch_size & co. instead of failing. */
    ignore_non_elastic_batch_info: bool(false),
    version: z
      .union([z.number(), z.string().regex(/^\d+(\.\d+)?$/).transform(Number)], { error: 'expected a version number such as 0.2' })
      .pipe(z.number().positive().max(LATEST_ELASTICITY_VERSION, { error: `the newest elasticity version is ${LATEST_ELASTICITY_VERSION}` }))
      .default(LATEST_ELASTICITY_VERSION),
  }),
);

export type ElasticityConfig = z.output<typeof elasticitySchema>;
