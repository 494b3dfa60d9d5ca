// Every collective x dtype at world sizes 1, 2, 3, 4 and 8 (in-process ranks).
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '../src/index.js';
import type { Result } from './fixtures/collectives.js';

const script = new URL('./fixtures/collectives.ts', import.meta.url);

describe('collectives on the in-process backend', () => {
  for (const nprocs of [1, 2, 3, 4, 8]) {
    it(`world of ${nprocs}: every collective x dtype`, async () => {
      const results = await launchInProcess<Result>({ nprocs, script, timeoutMs: 20_000 });
      expect(results).toHaveLength(nprocs);
      for (const r of results) {
        expect(r.failures).toEqual([]);
        expect(r.checks).toBeGreaterThan(100);
      }
    });
  }
});
