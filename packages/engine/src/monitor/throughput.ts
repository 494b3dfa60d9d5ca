// DeepSpeed's ThroughputTimer: samples per second over the run (skipping warm-up steps)
// and for the last optimizer step.
import { pyFloat } from './python-format.js';
import { defaultClock, type Clock } from './timers.js';

export interface MemoryReading {
  allocatedBytes: number;
  maxAllocatedBytes: number;
}

export interface ThroughputTimerOptions {
  /** Samples per optimizer step (`train_batch_size`). */
  batchSize: number;
  /** Optimizer steps left out of the averages (compilation, allocator warm-up); default 2. */
  startStep?: number;
  /** Log the throughput line every this many optimizer steps; default null (never). */
  stepsPerOutput?: number | null;
  /** `timers.throughput.enabled`; default true. */
  enabled?: boolean;
  /** Default performance.now (ms). */
  now?: Clock;
  /** Where the throughput line goes; default nowhere. */
  log?: (line: string) => void;
  /** Memory for the line; default the process's resident set size and its peak. */
  memory?: () => MemoryReading;
}

function processMemory(): MemoryReading {
  return { allocatedBytes: process.memoryUsage().rss, maxAllocatedBytes: process.resourceUsage().maxRSS * 1024 };
}

function gib(bytes: number): string {
  return pyFloat(Math.round((bytes / 1024 ** 3) * 100) / 100);
}

/**
 * Call `start()` when a micro-step begins and `stop(globalStep)` when it ends, with
 * `globalStep` true for the micro-step that finishes an optimizer step. Time is measured
 * only once `startStep` optimizer steps have passed, so with G optimizer steps done the
 * running average is batchSize / (timed seconds / (G - startStep)).
 */
export class ThroughputTimer {
  readonly batchSize: number;
  readonly startStep: number;
  readonly stepsPerOutput: number | null;
  readonly enabled: boolean;
  epochCount = 0;
  microStepCount = 0;
  globalStepCount = 0;
  /** Milliseconds timed so far (steps after startStep only). */
  totalElapsedMs = 0;
  readonly #clock: Clock;
  readonly #log: ((line: string) => void) | null;
  readonly #memory: () => MemoryReading;
  #started = false;
  #startedAt: number | null = null;
  #stepElapsedMs = 0;
  #lastStepSamplesPerSec: number | null = null;

  constructor(opts: ThroughputTimerOptions) {
    if (!(opts.batchSize > 0) || !Number.isFinite(opts.batchSize)) throw new RangeError(`ThroughputTimer: batchSize must be a positive number of samples per step, got ${opts.batchSize}`);
    const startStep = opts.startStep ?? 2;
    if (!Number.isInteger(startStep) || startStep < 0) throw new RangeError(`ThroughputTimer: startStep must be a non-negative integer, got ${startStep}`);
    const every = opts.stepsPerOutput ?? null;
    if (every !== null && (!Number.isInteger(every) || every < 1)) throw new RangeError(`ThroughputTimer: stepsPerOutput must be a positive integer or null, got ${every}`);
    this.batchSize = opts.batchSize;
    this.startStep = startStep;
    this.stepsPerOutput = every;
    this.enabled = opts.enabled ?? true;
    this.#clock = opts.now ?? defaultClock;
    this.#log = opts.log ?? null;
    this.#memory = opts.memory ?? processMemory;
  }

  /** A new epoch: the micro-step count restarts. */
  updateEpochCount(): void {
    this.epochCount++;
    this.microStepCount = 0;
  }

  start(): void {
    if (!this.enabled) return;
    this.#started = true;
    if (this.globalStepCount >= this.startStep) this.#startedAt = this.#clock();
  }

  stop(globalStep = false, reportSpeed = true): void {
    if (!this.enabled || !this.#started) return;
    this.#started = false;
    this.microStepCount++;
    if (globalStep) this.globalStepCount++;
    // Set by the first start() past the warm-up steps, and kept: every later stop is timed.
    if (this.#startedAt === null) return;
    const duration = this.#clock() - this.#startedAt;
    this.totalElapsedMs += duration;
    this.#stepElapsedMs += duration;
    if (!globalStep) return;
    this.#lastStepSamplesPerSec = this.#stepElapsedMs > 0 ? this.batchSize / (this.#stepElapsedMs / 1000) : null;
    if (reportSpeed && this.#log !== null && this.stepsPerOutput !== null && this.globalStepCount % this.stepsPerOutput === 0) {
      this.#log(this.reportLine());
    }
    this.#stepElapsedMs = 0;
  }

  /** Samples/s over all timed optimizer steps; null until one has been timed. */
  avgSamplesPerSec(): number | null {
    const steps = this.globalStepCount - this.startStep;
    if (steps <= 0 || this.totalElapsedMs <= 0) return null;
    return this.batchSize / (this.totalElapsedMs / 1000 / steps);
  }

  /** Samples/s of the last timed optimizer step; null until one has been timed. */
  currSamplesPerSec(): number | null {
    return this.#lastStepSamplesPerSec;
  }

  /** DeepSpeed's line: `epoch=E/micro_step=M/global_step=G, RunningAvgSamplesPerSec=..., CurrSamplesPerSec=..., MemAllocated=...GB, MaxMemAllocated=...GB`. */
  reportLine(): string {
    const mem = this.#memory();
    const avg = this.avgSamplesPerSec();
    const curr = this.currSamplesPerSec();
    return `epoch=${this.epochCount}/micro_step=${this.microStepCount}/global_step=${this.globalStepCount}, ` +
      `RunningAvgSamplesPerSec=${avg === null ? 'nan' : pyFloat(avg)}, CurrSamplesPerSec=${curr === null ? 'nan' : pyFloat(curr)}, ` +
      `MemAllocated=${gib(mem.allocatedBytes)}GB, MaxMemAllocated=${gib(mem.maxAllocatedBytes)}GB`;
  }
}
