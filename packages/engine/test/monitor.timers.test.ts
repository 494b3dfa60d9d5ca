// Wall-clock breakdown timers and the throughput timer, on an injected clock.
import { describe, expect, it } from 'vitest';
import { GLOBAL_STEP_TIMERS, MICRO_STEP_TIMERS, ThroughputTimer, TIMER_MONITOR_EVENTS, Timer, Timers } from '../src/monitor/index.js';

function fakeClock(start = 1000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('Timers', () => {
  it('accumulates over start/stop pairs and resets on read by default', () => {
    const c = fakeClock();
    const timers = new Timers({ now: c.now });
    timers.start('fwd');
    c.advance(10);
    timers.stop('fwd');
    c.advance(100); // not running: not counted
    timers.start('fwd');
    c.advance(2.5);
    timers.stop('fwd');
    expect(timers.elapsed('fwd', false)).toBe(12.5);
    expect(timers.elapsed('fwd')).toBe(12.5);
    expect(timers.elapsed('fwd')).toBe(0);
  });

  it('reading a running timer includes the open interval and keeps it running', () => {
    const c = fakeClock();
    const t = new Timer('step', c.now);
    t.start();
    c.advance(7);
    expect(t.elapsed()).toBe(7);
    c.advance(3);
    expect(t.running).toBe(true);
    t.stop();
    expect(t.elapsed()).toBe(3);
  });

  it("log() prints DeepSpeed's line for the timers that exist, normalised and reset", () => {
    const c = fakeClock();
    const timers = new Timers({ now: c.now });
    for (const [name, ms] of [['fwd_microstep', 12.3], ['bwd_microstep', 5], ['step_microstep', 0.126]] as const) {
      timers.start(name);
      c.advance(ms);
      timers.stop(name);
    }
    expect(timers.log(MICRO_STEP_TIMERS, { reset: false })).toBe('time (ms) | fwd_microstep: 12.30 | bwd_microstep: 5.00 | step_microstep: 0.13');
    expect(timers.log(['fwd_microstep', 'bwd_microstep'], { normalizer: 2 })).toBe('time (ms) | fwd_microstep: 6.15 | bwd_microstep: 2.50');
    expect(timers.log(['fwd_microstep', 'bwd_microstep'])).toBe('time (ms) | fwd_microstep: 0.00 | bwd_microstep: 0.00');
    expect(timers.log(['never_started'])).toBe('time (ms)');
    expect(() => timers.log(['fwd_microstep'], { normalizer: 0 })).toThrow(/normalizer must be a positive number, got 0/);
  });

  it('says which timer was started twice or stopped while idle', () => {
    const timers = new Timers({ now: fakeClock().now });
    timers.start('bwd');
    expect(() => timers.start('bwd')).toThrow(/timer 'bwd' is already running/);
    timers.stop('bwd');
    expect(() => timers.stop('bwd')).toThrow(/timer 'bwd' is not running; call start\(\) first/);
  });

  it("exports DeepSpeed's timer names and their monitor events", () => {
    expect(GLOBAL_STEP_TIMERS).toEqual(['fwd', 'bwd', 'bwd_inner', 'bwd_allreduce', 'step']);
    expect(GLOBAL_STEP_TIMERS.map((n) => TIMER_MONITOR_EVENTS[n])).toEqual([
      'Train/Samples/elapsed_time_ms_forward', 'Train/Samples/elapsed_time_ms_backward', 'Train/Samples/elapsed_time_ms_backward_inner',
      'Train/Samples/elapsed_time_ms_backward_allreduce', 'Train/Samples/elapsed_time_ms_step',
    ]);
  });
});

describe('ThroughputTimer', () => {
  /** gas micro-steps per optimizer step; micro-step i of step g lasts 100*g ms, with untimed gaps between. */
  function run(t: ThroughputTimer, c: ReturnType<typeof fakeClock>, steps: number, gas: number, from = 1): void {
    for (let g = from; g < from + steps; g++) {
      for (let m = 0; m < gas; m++) {
        t.start();
        c.advance(100 * g);
        t.stop(m === gas - 1);
        c.advance(1000);
      }
    }
  }

  it('skips the first 2 optimizer steps, then averages tb / (total / (G - 2)) and reports every stepsPerOutput', () => {
    const c = fakeClock();
    const lines: string[] = [];
    const t = new ThroughputTimer({ batchSize: 32, stepsPerOutput: 2, now: c.now, log: (l) => lines.push(l), memory: () => ({ allocatedBytes: 1.5 * 2 ** 30, maxAllocatedBytes: 2.25 * 2 ** 30 }) });
    run(t, c, 2, 2);
    expect(t.globalStepCount).toBe(2);
    expect(t.totalElapsedMs).toBe(0);
    expect(t.avgSamplesPerSec()).toBeNull();
    expect(lines).toEqual([]);

    run(t, c, 1, 2, 3); // 2 x 300 ms
    expect(t.currSamplesPerSec()).toBeCloseTo(32 / 0.6, 12);
    expect(t.avgSamplesPerSec()).toBeCloseTo(32 / 0.6, 12);
    expect(lines).toEqual([]);

    run(t, c, 1, 2, 4); // 2 x 400 ms
    expect(t.totalElapsedMs).toBe(1400);
    expect(t.currSamplesPerSec()).toBe(40);
    expect(t.avgSamplesPerSec()).toBe(32 / (1.4 / 2));
    expect(lines).toEqual(['epoch=0/micro_step=8/global_step=4, RunningAvgSamplesPerSec=45.714285714285715, CurrSamplesPerSec=40.0, MemAllocated=1.5GB, MaxMemAllocated=2.25GB']);

    t.updateEpochCount();
    run(t, c, 2, 2, 5);
    expect(lines[1]).toMatch(/^epoch=1\/micro_step=4\/global_step=6, RunningAvgSamplesPerSec=/);
    expect(t.avgSamplesPerSec()).toBe(32 / ((1400 + 1000 + 1200) / 1000 / 4));
  });

  it('a stop without start, or a disabled timer, counts nothing', () => {
    const c = fakeClock();
    const t = new ThroughputTimer({ batchSize: 8, now: c.now });
    t.stop(true);
    expect(t.globalStepCount).toBe(0);
    const off = new ThroughputTimer({ batchSize: 8, enabled: false, now: c.now });
    run(off, c, 5, 1);
    expect([off.globalStepCount, off.microStepCount, off.avgSamplesPerSec()]).toEqual([0, 0, null]);
  });

  it('checks its options', () => {
    expect(() => new ThroughputTimer({ batchSize: 0 })).toThrow(/ThroughputTimer: batchSize must be a positive number of samples per step, got 0/);
    expect(() => new ThroughputTimer({ batchSize: 1, stepsPerOutput: 0 })).toThrow(/stepsPerOutput must be a positive integer or null, got 0/);
    expect(() => new ThroughputTimer({ batchSize: 1, startStep: -1 })).toThrow(/startStep must be a non-negative integer/);
  });
});
