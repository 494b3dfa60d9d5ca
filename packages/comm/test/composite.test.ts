// gather / scatter / allReduceCoalesced / allGatherObject / broadcastObjectList / monitoredBarrier
// on the in-process backend (they are built on allToAll, allGatherInto, broadcast and barrier,
// so every backend that passes those runs them).
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '../src/index.js';

const script = new URL('./fixtures/composite.ts', import.meta.url);
type Out = Record<string, unknown>;

describe.each([1, 3, 4])('composite collectives, world of %i', (n) => {
  it('move exactly the values torch.distributed would', async () => {
    const out = await launchInProcess<Out>({ nprocs: n, script, timeoutMs: 10_000 });
    const ranks = Array.from({ length: n }, (_, i) => i);
    const sum = ranks.reduce((s, i) => s + i, 0);
    out.forEach((o, r) => {
      expect(o.gathered).toEqual(r === n - 1 ? ranks.map((i) => [10 * i, 10 * i + 1, 10 * i + 2]) : null);
      expect(o.scattered).toEqual([r, -r || 0]);
      expect(o.coalesced).toEqual([[sum, n, 2 * n, 3 * n], [2 * sum], [sum, 5 * n]]);
      expect(o.objects).toEqual(ranks.map((i) => ({ rank: i, name: 'x'.repeat(i * 5), m: new Map([[i, BigInt(i) * 3n]]) })));
      expect(o.broadcastObjects).toEqual([{ lr: 0.5, steps: [1, 2, 3] }, 'seed', 7n]);
      const errors = o.errors as string[];
      expect(errors[0]).toMatch(r === n - 1 ? /gather: gatherList must be a list of \d+ tensors \(one per rank\) on the dst rank, got null/ : /gather: gatherList must be null on ranks other than dst/);
      expect(errors[1]).toMatch(/scatter.*src.*out of range|scatter.*src/);
      expect(errors[2]).toMatch(/broadcastObjectList: objects must be an array/);
    });
  });
});
