import { describe, expect, it } from 'vitest';
import { kernels } from '@ds/core';
import { measureGemm } from '../src/gemm.js';
import { isBenchRecord } from '../src/report.js';

// Shape only: no timing thresholds (the machine is shared and noisy).
describe('measureGemm', () => {
  it('measures a tiny sgemm and returns one well-formed record', () => {
    const r = measureGemm(16, { warmup: 1, maxReps: 2, budgetMs: 50, context: { test: true } });
    expect(isBenchRecord(r)).toBe(true);
    expect(r.suite).toBe('gemm');
    expect(r.name).toBe('sgemm_16');
    expect(r.unit).toBe('GFLOP/s');
    expect(Number.isFinite(r.value)).toBe(true);
    expect(r.value).toBeGreaterThan(0);
    expect(r.context).toMatchObject({ m: 16, n: 16, k: 16, kernels: kernels().name, test: true });
    expect(r.context.reps).toBeGreaterThanOrEqual(1);
    expect(JSON.parse(JSON.stringify(r))).toEqual(r);
  });

  it('rejects a non-positive size', () => {
    expect(() => measureGemm(0)).toThrow(RangeError);
  });
});
