// Monitors, profilers and logging (spec §1.9): tensorboard, csv_monitor, wandb, comet,
// comms_logger, flops_profiler, timers.
import * as z from 'zod';
import { always, bool, int, nullableStr, outputMonitor, strict } from './common.js';

export const tensorboardSchema = outputMonitor();
export const csvMonitorSchema = outputMonitor();

export const wandbSchema = always(
  strict({
    enabled: bool(false),
    group: nullableStr(),
    team: nullableStr(),
    project: z.string().default('deepspeed'),
  }),
);

export const cometSchema = always(
  strict({
    enabled: bool(false),
    samples_log_interval: z.number().int().min(1).default(100),
    project: nullableStr(),
    workspace: nullableStr(),
    api_key: nullableStr(),
    experiment_name: nullableStr(),
    experiment_key: nullableStr(),
    online: z.boolean().nullable().default(null),
    mode: nullableStr(),
  }),
);

export const commsLoggerSchema = always(
  strict({
    enabled: bool(false),
    /** Log every collective; false → only those in prof_ops. */
    prof_all: bool(true),
    prof_ops: z.array(z.string()).default([]),
    verbose: bool(false),
    debug: bool(false),
  }),
);

export const flopsProfilerSchema = always(
  strict({
    enabled: bool(false),
    recompute_fwd_factor: z.number().min(0).default(0),
    profile_step: z.number().int().min(1).default(1),
    /** -1 → every depth. */
    module_depth: int(-1),
    top_modules: z.number().int().min(1).default(1),
    detailed: bool(true),
    output_file: nullableStr(),
  }),
);

export const timersSchema = always(
  strict({
    throughput: always(strict({ enabled: bool(true), synchronized: bool(true) })),
  }),
);

export type TensorboardConfig = z.output<typeof tensorboardSchema>;
export type CsvMonitorConfig = z.output<typeof csvMonitorSchema>;
export type WandbConfig = z.output<typeof wandbSchema>;
export type CometConfig = z.output<typeof cometSchema>;
export type CommsLoggerConfig = z.output<typeof commsLoggerSchema>;
export type FlopsProfilerConfig = z.output<typeof flopsProfilerSchema>;
export type TimersConfig = z.output<typeof timersSchema>;
