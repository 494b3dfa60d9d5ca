// DeepSpeed's SynchronizedWallClockTimer for the CPU: named timers that accumulate between
// start/stop pairs, read in milliseconds (reset on read by default), and the
// `time (ms) | name: 1.23 | ...` breakdown line.

/** Milliseconds from a monotonic origin. */
export type Clock = () => number;

export const defaultClock: Clock = () => performance.now();

/** Timed every micro-step with `wall_clock_breakdown` (DeepSpeed's names). */
export const MICRO_STEP_TIMERS = ['fwd_microstep', 'bwd_microstep', 'bwd_inner_microstep', 'bwd_allreduce_microstep', 'step_microstep'] as const;
/** Timed over each optimizer step (all its micro-steps). */
export const GLOBAL_STEP_TIMERS = ['fwd', 'bwd', 'bwd_inner', 'bwd_allreduce', 'step'] as const;
export type GlobalStepTimer = (typeof GLOBAL_STEP_TIMERS)[number];
/** The monitor events DeepSpeed writes for the global timers at each boundary (`elapsed(reset=false)`). */
export const TIMER_MONITOR_EVENTS: Readonly<Record<GlobalStepTimer, string>> = {
  fwd: 'Train/Samples/elapsed_time_ms_forward',
  bwd: 'Train/Samples/elapsed_time_ms_backward',
  bwd_inner: 'Train/Samples/elapsed_time_ms_backward_inner',
  bwd_allreduce: 'Train/Samples/elapsed_time_ms_backward_allreduce',
  step: 'Train/Samples/elapsed_time_ms_step',
};

export class Timer {
  readonly name: string;
  readonly #clock: Clock;
  #startedAt: number | null = null;
  #accumulated = 0;

  constructor(name: string, clock: Clock = defaultClock) {
    this.name = name;
    this.#clock = clock;
  }

  get running(): boolean {
    return this.#startedAt !== null;
  }

  start(): void {
    if (this.#startedAt !== null) throw new Error(`timer '${this.name}' is already running; stop() it before start() again`);
    this.#startedAt = this.#clock();
  }

  stop(): void {
    if (this.#startedAt === null) throw new Error(`timer '${this.name}' is not running; call start() first`);
    this.#accumulated += this.#clock() - this.#startedAt;
    this.#startedAt = null;
  }

  reset(): void {
    this.#accumulated = 0;
    if (this.#startedAt !== null) this.#startedAt = this.#clock();
  }

  /** Milliseconds accumulated since the last reset, including a running interval (which keeps running). */
  elapsed(reset = true): number {
    const now = this.#clock();
    const total = this.#accumulated + (this.#startedAt === null ? 0 : now - this.#startedAt);
    if (reset) {
      this.#accumulated = 0;
      if (this.#startedAt !== null) this.#startedAt = now;
    }
    return total;
  }
}

export interface TimersOptions {
  /** Default performance.now. */
  now?: Clock;
}

export class Timers {
  readonly #clock: Clock;
  readonly #timers = new Map<string, Timer>();

  constructor(opts: TimersOptions = {}) {
    this.#clock = opts.now ?? defaultClock;
  }

  /** The named timer, created on first use (DeepSpeed's `timers(name)`). */
  get(name: string): Timer {
    let t = this.#timers.get(name);
    if (t === undefined) {
      t = new Timer(name, this.#clock);
      this.#timers.set(name, t);
    }
    return t;
  }

  has(name: string): boolean {
    return this.#timers.has(name);
  }

  start(name: string): void {
    this.get(name).start();
  }

  stop(name: string): void {
    this.get(name).stop();
  }

  elapsed(name: string, reset = true): number {
    return this.get(name).elapsed(reset);
  }

  /**
   * `time (ms) | fwd: 12.34 | bwd: 20.00`: each named timer that exists, divided by
   * `normalizer` (e.g. the accumulation steps), reset unless `reset` is false. Timers never
   * started are left out, as in DeepSpeed.
   */
  log(names: readonly string[], opts: { normalizer?: number; reset?: boolean } = {}): string {
    const normalizer = opts.normalizer ?? 1;
    if (!(normalizer > 0) || !Number.isFinite(normalizer)) throw new RangeError(`Timers.log: normalizer must be a positive number, got ${normalizer}`);
    let line = 'time (ms)';
    for (const name of names) {
      const t = this.#timers.get(name);
      if (t !== undefined) line += ` | ${name}: ${(t.elapsed(opts.reset ?? true) / normalizer).toFixed(2)}`;
    }
    return line;
  }
}
