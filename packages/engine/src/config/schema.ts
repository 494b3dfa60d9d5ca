// The whole DeepSpeed config as one zod schema (spec §1): DeepSpeed's snake_case keys, types
// and defaults, with unknown keys rejected at every level. Legacy forms, "auto" values and
// aliases are normalised before this schema runs (legacy.ts, auto.ts).
import * as z from 'zod';
import { autotuningSchema } from './sections/autotuning.js';
import { bool, nonNeg, orNull, strict } from './sections/common.js';
import { elasticitySchema } from './sections/elasticity.js';
import { commsLoggerSchema, cometSchema, csvMonitorSchema, flopsProfilerSchema, tensorboardSchema, timersSchema, wandbSchema } from './sections/monitoring.js';
import { optimizerSectionSchema } from './sections/optimizer.js';
import {
  aioSchema, compressionTrainingSchema, curriculumLearningSchema, dataEfficiencySchema, eigenvalueSchema, hybridEngineSchema,
  moeSchema, nebulaSchema, progressiveLayerDropSchema, sparseAttentionSchema, tensorParallelSchema, weightQuantizationSchema,
} from './sections/other.js';
import { ampSchema, bf16Schema, fp16Schema } from './sections/precision.js';
import { schedulerSectionSchema } from './sections/scheduler.js';
import { activationCheckpointingSchema, checkpointSchema, dataTypesSchema, pipelineSchema } from './sections/training.js';
import { zeroSchema } from './sections/zero.js';

const batchKey = z.number().int().min(1).nullable().optional();
const commDtype = z
  .string()
  .transform((s) => s.toLowerCase())
  .pipe(z.enum(['fp32', 'fp16', 'bf16']));

export const deepSpeedConfigSchema = strict({
  // Batch triad: at least one of train_batch_size / train_micro_batch_size_per_gpu; the rest is derived.
  train_batch_size: batchKey,
  train_micro_batch_size_per_gpu: batchKey,
  gradient_accumulation_steps: batchKey,

  /** Global L2-norm clipping threshold; 0 → off. */
  gradient_clipping: nonNeg(0),
  /** Rank-0 progress line every N steps; null → never. */
  steps_per_print: z.number().int().min(1).nullable().default(null),
  wall_clock_breakdown: bool(false),
  memory_breakdown: bool(false),
  dump_state: bool(false),
  /** Divide gradients by the world size before the all-reduce instead of after. */
  prescale_gradients: bool(false),
  gradient_predivide_factor: z.number().positive().default(1),
  /** Dtype gradients are reduced in; null → the model dtype (see derived.communication_data_type). */
  communication_data_type: commDtype.nullable().default(null),
  seq_parallel_comm_data_type: commDtype.default('fp32'),
  sparse_gradients: bool(false),
  disable_allgather: bool(false),
  zero_allow_untested_optimizer: bool(false),
  zero_force_ds_cpu_optimizer: bool(true),
  graph_harvesting: bool(false),
  dataloader_drop_last: bool(false),
  vocabulary_size: z.number().int().min(1).nullable().default(null),
  use_data_before_expert_parallelism: bool(false),
  sequence_parallel_size: z.number().int().min(1).optional(),
  data_parallel_size: z.number().int().min(1).optional(),

  fp16: fp16Schema,
  bf16: bf16Schema,
  amp: ampSchema,
  optimizer: orNull(optimizerSectionSchema),
  scheduler: orNull(schedulerSectionSchema),
  zero_optimization: zeroSchema,
  activation_checkpointing: activationCheckpointingSchema,
  pipeline: pipelineSchema,
  checkpoint: checkpointSchema,
  data_types: dataTypesSchema,
  tensorboard: tensorboardSchema,
  csv_monitor: csvMonitorSchema,
  wandb: wandbSchema,
  comet: cometSchema,
  comms_logger: commsLoggerSchema,
  flops_profiler: flopsProfilerSchema,
  timers: timersSchema,
  elasticity: elasticitySchema,
  autotuning: autotuningSchema,
  sparse_attention: sparseAttentionSchema,
  compression_training: compressionTrainingSchema,
  data_efficiency: dataEfficiencySchema,
  curriculum_learning: curriculumLearningSchema,
  progressive_layer_drop: progressiveLayerDropSchema,
  eigenvalue: eigenvalueSchema,
  hybrid_engine: hybridEngineSchema,
  tensor_parallel: tensorParallelSchema,
  aio: aioSchema,
  nebula: nebulaSchema,
  weight_quantization: weightQuantizationSchema,
  moe: moeSchema,
});

/** A DeepSpeed config as written in its modern form (legacy keys and "auto" are also accepted by resolveConfig). */
export type DeepSpeedConfig = z.input<typeof deepSpeedConfigSchema>;
/** The config after the schema: every default filled in, before batch resolution and derivation. */
export type ParsedConfig = z.output<typeof deepSpeedConfigSchema>;

/** Every top-level key the schema knows. */
export const TOP_LEVEL_KEYS = Object.keys(deepSpeedConfigSchema.shape);
