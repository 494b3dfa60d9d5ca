// Subgroups, parallel-layout groups, point-to-point ordering and async overlap (in-process).
import { describe, expect, it } from 'vitest';
import { launchInProcess } from '../src/index.js';

const script = new URL('./fixtures/groups.ts', import.meta.url);
type Out = Record<string, unknown>;

describe('process groups', () => {
  it('newGroup: a subset, overlapping groups, reversed rank order', async () => {
    const out = await launchInProcess<Out>({ nprocs: 4, script, exportName: 'subgroups', timeoutMs: 10_000 });
    expect(out.map((o) => o.oddMember)).toEqual([false, true, false, true]);
    expect(out[1]!.odd).toEqual({ rank: 0, size: 2, ranks: [1, 3], sum: [4, 40] });
    expect(out[3]!.odd).toEqual({ rank: 1, size: 2, ranks: [1, 3], sum: [4, 40] });
    expect(out[0]!.a).toBe(3); // 0 + 1 + 2
    expect(out[3]!.b).toBe(300); // max(100, 200, 300)
    expect(out[1]!.both).toEqual([3, 300]);
    expect(out[2]!.both).toEqual([3, 300]);
    for (const [r, o] of out.entries()) {
      expect(o.reversed).toEqual({ rank: 3 - r, gathered: [3, 2, 1, 0] });
      expect(o.broadcastFromGlobal3).toBe(42);
    }
  });

  it('buildParallelGroups: pipe 2 x data 2 x tensor 2 (+ expert 2) on 8 ranks, DeepSpeed mapping', async () => {
    const out = await launchInProcess<Out>({ nprocs: 8, script, exportName: 'parallel', timeoutMs: 10_000 });
    // rank = (pipe * dp + data) * tp + tensor
    expect(out[5]).toMatchObject({ coord: { pipe: 1, data: 0, tensor: 1 }, data: [5, 7], pipe: [1, 5], tensor: [4, 5], model: [0, 1, 4, 5] });
    expect(out[2]).toMatchObject({ coord: { pipe: 0, data: 1, tensor: 0 }, data: [0, 2], pipe: [2, 6], tensor: [2, 3], model: [2, 3, 6, 7] });
    expect(out[5]!.expert).toEqual([5, 7]);
    expect(out[5]!.expertData).toEqual([5]);
    expect(out[5]!.sums).toEqual([12, 6, 9, 10]);
  });

  it('send/recv: per-tag order, irecv before isend, a ring, int64/bfloat16, groups do not cross', async () => {
    const out = await launchInProcess<Out>({ nprocs: 3, script, exportName: 'p2p', timeoutMs: 10_000 });
    expect(out[1]!.order).toEqual([1, 3, 5, 0, 2, 4]);
    expect(out[2]!.irecv).toEqual({ before: false, during: true });
    expect(out[2]!.irecvValue).toEqual([7, -8, 9]);
    expect(out.map((o) => o.ring)).toEqual([true, true, true]);
    expect(out[1]!.isolation).toEqual([222, 111]);
  });

  it('async: collectives overlap compute, and progress while the rank awaits other work', async () => {
    for (const nprocs of [2, 4]) {
      const out = await launchInProcess<Out>({ nprocs, script, exportName: 'overlap', timeoutMs: 10_000 });
      for (const o of out) {
        expect(o.okBig).toBe(true);
        expect(o.small).toEqual([nprocs - 1, nprocs]);
        expect(o.progressedWithoutWait).toBe(true);
        expect(o.value).toBe(nprocs);
        expect(o.computed).toEqual([128, 128]);
      }
    }
  });
});

describe('allocShared tensors (read in place by peers)', () => {
  it('every large collective gives the same results with shared and ordinary tensors mixed', async () => {
    for (const nprocs of [2, 3]) {
      const out = await launchInProcess<string[]>({ nprocs, script, exportName: 'shared', timeoutMs: 10_000 });
      for (const failures of out) expect(failures).toEqual([]);
    }
  });
  it('gives the same results when every rank keeps its tensors shared (results written into peers)', async () => {
    for (const nprocs of [2, 4]) {
      const out = await launchInProcess<string[]>({ nprocs, script, exportName: 'sharedEverywhere', timeoutMs: 10_000 });
      for (const failures of out) expect(failures).toEqual([]);
    }
  });
});
