// What the engine loop itself reads from the resolved config, in one place.
export interface EngineSettings {
  trainBatchSize: number;
  microBatchSize: number;
  gradientAccumulationSteps: number;
  gradientClipping: number;
  /** Rank-0 progress line every N optimizer steps (null: never). */
  stepsPerPrint: number | null;
  wallClockBreakdown: boolean;
}

export interface SettingsSource {
  train_batch_size: number;
  train_micro_batch_size_per_gpu: number;
  gradient_accumulation_steps: number;
  gradient_clipping?: number;
  steps_per_print?: number | null;
  wall_clock_breakdown?: boolean;
}

export function settingsFrom(c: SettingsSource): EngineSettings {
  return {
    trainBatchSize: c.train_batch_size,
    microBatchSize: c.train_micro_batch_size_per_gpu,
    gradientAccumulationSteps: c.gradient_accumulation_steps,
    gradientClipping: c.gradient_clipping ?? 0,
    stepsPerPrint: c.steps_per_print ?? null,
    wallClockBreakdown: c.wall_clock_breakdown ?? false,
  };
}
