// runCommBench returns one JSON record per (ranks, op, size) with nccl-tests bandwidths.
import { describe, expect, it } from 'vitest';
import { BENCH_OPS, runCommBench } from '../src/index.js';

describe('runCommBench', () => {
  it('measures every op at the requested sizes (no timing asserted)', async () => {
    const seen: string[] = [];
    const recs = await runCommBench({ ranks: [2], sizes: [4096, 65536], targetMs: 5, minIters: 2, onRecord: (r) => seen.push(r.op) });
    expect(recs).toHaveLength(BENCH_OPS.length * 2);
    expect(seen).toHaveLength(recs.length);
    for (const r of recs) {
      expect(r).toMatchObject({ suite: 'comm', backend: 'inproc', ranks: 2, dtype: 'float32' });
      expect(r.latencyUs).toBeGreaterThan(0);
      const factor = r.op === 'allReduce' ? 1 : 0.5; // 2(n-1)/n and (n-1)/n at n = 2
      expect(r.busbwGBps).toBeCloseTo(r.algbwGBps * factor, 10);
      expect(r.algbwGBps).toBeCloseTo(r.bytes / (r.latencyUs * 1e3), 10);
    }
    expect(JSON.parse(JSON.stringify(recs))).toEqual(recs);
  });
});
