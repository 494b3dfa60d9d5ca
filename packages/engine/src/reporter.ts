// The engine's reporter built from the config: DeepSpeed's rank-0 progress line every
// `steps_per_print` steps (with loss, loss scale, throughput and memory), the wall-clock
// breakdown, and the monitors (TensorBoard event files, CSV) on rank 0.
import type { Engine } from './engine.js';
import type { EngineReporter, StepTimers } from './report.js';
import { Timers, ThroughputTimer, cpuPeakFlops, createMonitors, formatProgress, mfu, type Monitor } from './monitor/index.js';

interface ReporterConfig {
  steps_per_print?: number | null;
  wall_clock_breakdown?: boolean;
  train_batch_size: number;
  tensorboard?: unknown;
  csv_monitor?: unknown;
  wandb?: unknown;
  comet?: unknown;
}

const STEP_TIMERS = ['fwd', 'bwd', 'bwd_allreduce', 'step'];

export function reporterFromConfig(config: ReporterConfig, opts: { log: (line: string) => void; isRankZero: boolean; flopsPerSample?: number }): EngineReporter {
  const breakdown = config.wall_clock_breakdown ?? false;
  const timers = new Timers();
  const throughput = new ThroughputTimer({ batchSize: config.train_batch_size, stepsPerOutput: null });
  const monitors: Monitor[] = opts.isRankZero
    ? createMonitors({ tensorboard: config.tensorboard, csv_monitor: config.csv_monitor, wandb: config.wandb, comet: config.comet } as Parameters<typeof createMonitors>[0])
    : [];
  const stepTimers: StepTimers = breakdown
    ? { start: (n) => timers.start(n), stop: (n) => timers.stop(n) }
    : { start() {}, stop() {} };
  // Throughput counts wall time from the end of one micro-step to the end of the next (data
  // loading and a forward outside engine.forward included), started by the first forward or
  // backward of the run.
  let timing = false;
  const peak = opts.flopsPerSample ? cpuPeakFlops() : 0;

  return {
    timers: {
      start(name) {
        if (!timing) {
          throughput.start();
          timing = true;
        }
        stepTimers.start(name);
      },
      stop: (name) => stepTimers.stop(name),
    },
    microStepDone(boundary: boolean) {
      throughput.stop(boundary, false);
      throughput.start();
    },
    afterStep(engine: Engine, loss: number | null) {
      if (!opts.isRankZero) return;
      if (monitors.length > 0) {
        const events: [string, number, number][] = [['Train/Samples/lr', engine.getLr()[0] ?? 0, engine.globalSamples]];
        if (loss !== null) events.push(['Train/Samples/train_loss', loss, engine.globalSamples]);
        if (engine.lossScale !== 1) events.push(['Train/Samples/loss_scale', engine.lossScale, engine.globalSamples]);
        for (const m of monitors) m.writeEvents(events);
      }
      const every = config.steps_per_print;
      if (every && engine.globalSteps % every === 0) {
        const samplesPerSec = throughput.avgSamplesPerSec();
        // Against this machine's peak: on one machine the ranks share its cores.
        const util = opts.flopsPerSample && samplesPerSec ? mfu(opts.flopsPerSample * config.train_batch_size, config.train_batch_size / samplesPerSec, peak) : undefined;
        opts.log(formatProgress({
          step: engine.globalSteps,
          skipped: engine.skippedSteps,
          lr: engine.getLr(),
          loss: loss ?? undefined,
          lossScale: engine.lossScale,
          samplesPerSec,
          mfu: util,
          rssBytes: process.memoryUsage().rss,
        }));
        if (breakdown) opts.log(timers.log(STEP_TIMERS));
      }
    },
    async close() {
      for (const m of monitors) await m.close();
    },
  };
}
