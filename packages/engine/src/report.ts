// What the engine tells its reporter during a run (reporter.ts builds it from the config: the
// rank-0 progress line every `steps_per_print` steps, the wall-clock breakdown, the monitors).
import type { Engine } from './engine.js';

export interface StepTimers {
  start(name: string): void;
  stop(name: string): void;
}

export interface EngineReporter {
  readonly timers: StepTimers;
  /** End of every `engine.step()` call (one micro-batch); `boundary` when it stepped the optimizer. */
  microStepDone(boundary: boolean): void;
  afterStep(engine: Engine, loss: number | null): void;
  close(): Promise<void>;
}
