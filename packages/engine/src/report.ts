// Everything the engine says about a run: the rank-0 progress line every `steps_per_print`
// steps, the wall-clock breakdown and the monitors (CSV, TensorBoard).
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

const noTimers: StepTimers = { start() {}, stop() {} };

/** A reporter that prints DeepSpeed's progress line on rank 0 and nothing else. */
export function basicReporter(opts: { log: (line: string) => void; isRankZero: boolean }): EngineReporter {
  return {
    timers: noTimers,
    microStepDone() {},
    afterStep(engine, loss) {
      const every = engine.settings.stepsPerPrint;
      if (!opts.isRankZero || !every || engine.globalSteps % every !== 0) return;
      const lossPart = loss === null ? '' : `, loss=${loss.toFixed(4)}`;
      opts.log(`step=${engine.globalSteps}, skipped=${engine.skippedSteps}, lr=[${engine.getLr().join(', ')}]${lossPart}`);
    },
    async close() {},
  };
}
