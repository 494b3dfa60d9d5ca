// DynamicLossScaler against DeepSpeed's own DynamicLossScaler runs (golden/lossscale, exact),
// the sequences of spec §3.7, its state dict, and its option checks.
import { describe, expect, it } from 'vitest';
import { DynamicLossScaler, LossScaleAtMinimumError, type DynamicLossScalerOptions } from '@ds/precision';
import { readGoldenJson } from './golden.js';

interface GoldenCase {
  params: {
    init_scale: number;
    scale_window: number;
    delayed_shift: number;
    consecutive_hysteresis: boolean;
    min_scale: number;
    scale_factor?: number;
    raise_error_at_min_scale?: boolean;
  };
  overflow: number[];
  scale_before: number[];
  skipped: number[];
  scale_after: number[];
  hysteresis_after: number[];
  last_overflow_iter_after: number[];
  raised: { step: number; message: string; scale_before: number } | null;
}

const golden = readGoldenJson<{ cases: Record<string, GoldenCase> }>('lossscale/dynamic_loss_scaler.json').cases;

function fromParams(p: GoldenCase['params']): DynamicLossScaler {
  const opts: DynamicLossScalerOptions = {
    initScale: p.init_scale,
    scaleWindow: p.scale_window,
    hysteresis: p.delayed_shift,
    consecutiveHysteresis: p.consecutive_hysteresis,
    minScale: p.min_scale,
  };
  if (p.scale_factor !== undefined) opts.scaleFactor = p.scale_factor;
  if (p.raise_error_at_min_scale !== undefined) opts.raiseErrorAtMinScale = p.raise_error_at_min_scale;
  return new DynamicLossScaler(opts);
}

describe('DynamicLossScaler matches DeepSpeed (golden/lossscale)', () => {
  it('has every golden case', () => {
    expect(Object.keys(golden).length).toBeGreaterThanOrEqual(16);
  });

  for (const [name, c] of Object.entries(golden)) {
    it(name, () => {
      const s = fromParams(c.params);
      const steps = c.scale_before.length;
      for (let i = 0; i < steps; i++) {
        const at = `${name} step ${i}`;
        expect(s.scale, `${at}: scale_before`).toBe(c.scale_before[i]);
        const overflow = c.overflow[i] === 1;
        // DeepSpeed skips exactly the overflowing steps.
        expect(overflow ? 1 : 0, `${at}: skipped`).toBe(c.skipped[i]);
        s.update(overflow);
        expect(s.scale, `${at}: scale_after`).toBe(c.scale_after[i]);
        expect(s.curHysteresis, `${at}: hysteresis_after`).toBe(c.hysteresis_after[i]);
        expect(s.lastOverflowIter, `${at}: last_overflow_iter_after`).toBe(c.last_overflow_iter_after[i]);
        expect(s.curIter).toBe(i + 1);
      }
      if (c.raised) {
        expect(c.raised.step).toBe(steps);
        expect(s.scale).toBe(c.raised.scale_before);
        expect(c.overflow[steps]).toBe(1);
        let err: unknown;
        try {
          s.update(true);
        } catch (e) {
          err = e;
        }
        expect(err).toBeInstanceOf(LossScaleAtMinimumError);
        expect((err as Error).message).toContain(c.raised.message);
        expect((err as Error).message).toContain(`step ${steps + 1}`);
        expect((err as Error).message).toContain('fp16.min_loss_scale');
      } else {
        expect(steps).toBe(c.overflow.length);
      }
    });
  }
});

describe('DynamicLossScaler: spec §3.7 sequences (window 2, init 256, min 1)', () => {
  const run = (opts: DynamicLossScalerOptions, seq: string): { scales: number[]; hyst: number[] } => {
    const s = new DynamicLossScaler(opts);
    const scales: number[] = [];
    const hyst: number[] = [];
    for (const ch of seq) {
      s.update(ch === '1');
      scales.push(s.scale);
      hyst.push(s.curHysteresis);
    }
    return { scales, hyst };
  };
  const base = { initScale: 256, scaleWindow: 2, minScale: 1 };

  it('doubles on the window-th clean call (not window+1 as the fused path does)', () => {
    expect(run({ ...base, hysteresis: 1 }, '000000').scales).toEqual([256, 512, 512, 1024, 1024, 2048]);
    expect(run({ ...base, hysteresis: 2 }, '000000').scales).toEqual([256, 512, 512, 1024, 1024, 2048]);
  });
  it('hysteresis 1 halves on every overflow', () => {
    expect(run({ ...base, hysteresis: 1 }, '110001').scales).toEqual([128, 64, 64, 128, 128, 64]);
  });
  it('hysteresis 2 tolerates one overflow before halving', () => {
    expect(run({ ...base, hysteresis: 2 }, '110001')).toEqual({ scales: [256, 128, 128, 256, 256, 256], hyst: [1, 1, 1, 2, 2, 1] });
  });
  it('consecutive hysteresis refills after every clean step', () => {
    const opts = { initScale: 1024, scaleWindow: 3, minScale: 1, hysteresis: 2 };
    expect(run(opts, '101000111').scales).toEqual([1024, 1024, 512, 512, 512, 1024, 1024, 512, 256]);
    expect(run({ ...opts, consecutiveHysteresis: true }, '101000111').scales).toEqual([1024, 1024, 1024, 1024, 1024, 2048, 2048, 1024, 512]);
  });
  it('defaults are the DeepSpeed config defaults on every path: 2^16, window 1000, hysteresis 2, min 1', () => {
    const s = new DynamicLossScaler();
    expect([s.scale, s.scaleWindow, s.hysteresis, s.minScale, s.scaleFactor, s.consecutiveHysteresis]).toEqual([65536, 1000, 2, 1, 2, false]);
  });
});

describe('DynamicLossScaler state dict', () => {
  it('round-trips the scale and counters, and the restored scaler continues identically', () => {
    const seq = [0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0];
    const opts = { initScale: 1024, scaleWindow: 3, hysteresis: 2 };
    const a = new DynamicLossScaler(opts);
    for (const o of seq.slice(0, 7)) a.update(o === 1);
    const saved = JSON.parse(JSON.stringify(a.stateDict()));
    expect(saved).toMatchObject({ dynamic: true, cur_scale: a.scale, cur_iter: 7, last_overflow_iter: 6, cur_hysteresis: a.curHysteresis });
    const b = new DynamicLossScaler(opts);
    b.loadStateDict(saved);
    for (const o of seq.slice(7)) {
      a.update(o === 1);
      b.update(o === 1);
      expect([b.scale, b.curHysteresis, b.lastOverflowIter, b.curIter]).toEqual([a.scale, a.curHysteresis, a.lastOverflowIter, a.curIter]);
    }
  });

  it('rejects malformed state with the key and what is valid', () => {
    const s = new DynamicLossScaler();
    const good = s.stateDict() as Record<string, number | boolean>;
    expect(() => s.loadStateDict(5)).toThrow('expected a record of loss-scaler state');
    expect(() => s.loadStateDict({ ...good, cur_scale: 0 })).toThrow("'cur_scale' must be a positive finite number, got 0");
    expect(() => s.loadStateDict({ ...good, cur_iter: 1.5 })).toThrow("'cur_iter' must be an integer >= 0");
    expect(() => s.loadStateDict({ ...good, cur_iter: 3, last_overflow_iter: 3 })).toThrow("'last_overflow_iter' must be an integer in [-1, cur_iter)");
    expect(() => s.loadStateDict({ ...good, cur_hysteresis: '2' })).toThrow("'cur_hysteresis' must be a number");
    expect(() => s.loadStateDict({ dynamic: false, cur_scale: 128, cur_iter: 3 })).toThrow('set fp16.loss_scale to 128 to resume it');
    expect(s.scale).toBe(65536);
  });
});

describe('DynamicLossScaler options', () => {
  it('reject bad values and unknown keys with what is valid', () => {
    expect(() => new DynamicLossScaler({ initScale: 0 })).toThrow("DynamicLossScaler: 'initScale' must be a positive finite number, got number 0");
    expect(() => new DynamicLossScaler({ scaleWindow: 2.5 })).toThrow("'scaleWindow' must be an integer >= 1");
    expect(() => new DynamicLossScaler({ hysteresis: 0 })).toThrow("'hysteresis' must be an integer >= 1");
    expect(() => new DynamicLossScaler({ scaleFactor: 1 })).toThrow("'scaleFactor' must be > 1");
    expect(() => new DynamicLossScaler({ minScale: -1 })).toThrow("'minScale' must be a positive finite number");
    expect(() => new DynamicLossScaler({ consecutiveHysteresis: 1 as unknown as boolean })).toThrow("'consecutiveHysteresis' must be a boolean");
    expect(() => new DynamicLossScaler({ initscale: 4 } as DynamicLossScalerOptions)).toThrow("unknown DynamicLossScaler option 'initscale' (did you mean 'initScale'?)");
    expect(() => new DynamicLossScaler({ delayed_shift: 2 } as DynamicLossScalerOptions)).toThrow("unknown DynamicLossScaler option 'delayed_shift'");
  });
});
