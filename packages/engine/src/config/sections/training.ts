// activation_checkpointing, pipeline, checkpoint and data_types (spec §1.6-1.8).
import * as z from 'zod';
import { always, bool, nonNegInt, strict } from './common.js';
import { FLOAT_DTYPE } from './dtype.js';

export const activationCheckpointingSchema = always(
  strict({
    partition_activations: bool(false),
    contiguous_memory_optimization: bool(false),
    cpu_checkpointing: bool(false),
    number_checkpoints: z.number().int().min(1).nullable().default(null),
    synchronize_checkpoint_boundary: bool(false),
    profile: bool(false),
  }),
);

export const pipelineSchema = always(
  strict({
    /** Pipeline stages; "auto" → taken from the model. */
    stages: z.union([z.literal('auto'), z.number().int().min(1)], { error: 'expected "auto" or a number of stages >= 1' }).default('auto'),
    partition: z.string().default('best'),
    seed_layers: bool(false),
    activation_checkpoint_interval: nonNegInt(0),
    pipe_partitioned: bool(true),
    grad_partitioned: bool(true),
  }),
);

const upper = (s: string) => s.toUpperCase();

export const checkpointSchema = always(
  strict({
    /** What to do when ranks save under different tags (case-insensitive in the file). */
    tag_validation: z.string().transform(upper).pipe(z.enum(['WARN', 'IGNORE', 'FAIL'])).default('WARN'),
    load_universal: bool(false),
    use_node_local_storage: bool(false),
    parallel_write: always(strict({ pipeline_stage: bool(false) })),
  }),
);

export const dataTypesSchema = always(
  strict({
    /** Gradient-accumulation dtype; null → derived from the model dtype (see resolveConfig). */
    grad_accum_dtype: FLOAT_DTYPE.nullable().default(null),
  }),
);

export type ActivationCheckpointingConfig = z.output<typeof activationCheckpointingSchema>;
export type PipelineConfig = z.output<typeof pipelineSchema>;
export type CheckpointConfig = z.output<typeof checkpointSchema>;
export type DataTypesConfig = z.output<typeof dataTypesSchema>;
