// StaticLossScaler: a fixed scale that still counts steps, and its state dict.
import { describe, expect, it } from 'vitest';
import { StaticLossScaler } from '@ds/precision';

describe('StaticLossScaler', () => {
  it('keeps its scale through overflows and counts every step', () => {
    const s = new StaticLossScaler(138);
    for (const o of [false, true, true, false]) s.update(o);
    expect([s.scale, s.curIter, s.dynamic]).toEqual([138, 4, false]);
  });

  it('restores the step count; the scale stays the configured one', () => {
    const a = new StaticLossScaler(128);
    a.update(false);
    a.update(true);
    const b = new StaticLossScaler(64);
    b.loadStateDict(a.stateDict());
    expect([b.scale, b.curIter]).toEqual([64, 2]);
    expect(() => b.loadStateDict({ dynamic: true, cur_scale: 1, cur_iter: 0, last_overflow_iter: -1, cur_hysteresis: 2 })).toThrow(
      'set fp16.loss_scale to 0 to resume dynamic scaling',
    );
    expect(() => b.loadStateDict({ dynamic: false, cur_scale: 64, cur_iter: -1 })).toThrow("'cur_iter' must be an integer >= 0, got -1");
  });

  it('rejects a scale that is not a positive finite number', () => {
    for (const bad of [0, -2, Infinity, Number.NaN]) expect(() => new StaticLossScaler(bad)).toThrow("StaticLossScaler: 'scale' must be a positive finite number");
  });
});
