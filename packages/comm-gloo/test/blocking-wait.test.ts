// Work.wait() blocks the JS thread until the comm thread has finished the call, so the work is
// completed, its output in place, as soon as wait() returns, even in synchronous code. Both
// ranks live in this process: every call is issued on both ranks before either waits for it
// (a rank blocked in wait() cannot issue anything).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { tensor, type Tensor } from '@ds/core';
import { commsLogger, MemoryStore, type CommTimeoutError } from '@ds/comm';
import { afterAll, describe, expect, it } from 'vitest';
import { createGlooGroup, loadGlooNative, type GlooProcessGroup } from '../src/index.js';
import { DTYPE_CODE, REDUCE_OP_CODE, type NativeGroup } from '../src/native.js';
import { skipReason } from './helpers.js';

const reason = skipReason();
if (reason) console.warn(`[comm-gloo] skipping the blocking-wait tests: ${reason}`);

const values = (t: Tensor): number[] => Array.from(t.toFloat32Array());

async function pair(timeoutMs: number): Promise<GlooProcessGroup[]> {
  const store = new MemoryStore();
  return Promise.all([0, 1].map((rank) => createGlooGroup({ rank, size: 2, store, hostname: '127.0.0.1', timeoutMs })));
}

describe.skipIf(reason !== null)('Work.wait() on the gloo backend', () => {
  const tmp: string[] = [];
  afterAll(() => tmp.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('returns with the call finished: isCompleted() at once, outputs in place (the JS-side copy of allGather included)', async () => {
    const [g0, g1] = await pair(10_000);
    try {
      const logger = commsLogger();
      const saved = { enabled: logger.enabled, profAll: logger.profAll, profOps: logger.profOps };
      logger.configure({ enabled: true, profAll: false, profOps: ['blocking_probe'] });
      logger.records.delete('blocking_probe');

      const a = [tensor([1, 2, 3]), tensor([10, 20, 30])];
      const w1 = g1!.allReduce(a[1]!, 'sum', { async: true, logName: 'blocking_probe' });
      const w0 = g0!.allReduce(a[0]!, 'sum', { async: true, logName: 'blocking_probe' });
      expect(w0.isCompleted()).toBe(false);
      const p0 = w0.wait();
      expect(w0.isCompleted()).toBe(true);
      expect(values(a[0]!)).toEqual([11, 22, 33]);
      void w1.wait();
      expect(w1.isCompleted()).toBe(true);
      expect(values(a[1]!)).toEqual([11, 22, 33]);

      // The list form of allGather copies out of a flat buffer on the JS thread.
      const outs = [0, 1].map(() => [tensor([0, 0]), tensor([0, 0])]);
      const ag = [g0!, g1!].map((g, r) => g.allGather(outs[r]!, tensor([r + 1, r + 5]), { async: true }));
      ag.forEach((w) => void w.wait());
      expect(ag.map((w) => w.isCompleted())).toEqual([true, true]);
      expect(outs.map((o) => o.map(values))).toEqual([
        [[1, 5], [2, 6]],
        [[1, 5], [2, 6]],
      ]);

      // reduceScatter: rank r keeps chunk r of the sum.
      const rs = [tensor([0, 0]), tensor([0, 0])];
      const rw = [g1!, g0!].map((g) => g.reduceScatter(rs[g.rank]!, tensor([1, 2, 3, 4].map((v) => v * (g.rank + 1))), 'sum', { async: true }));
      rw.forEach((w) => void w.wait());
      expect(rs.map(values)).toEqual([[3, 6], [9, 12]]);

      // Point-to-point: the receive is in place when wait() returns.
      const target = tensor(new Float32Array(4), { shape: [2, 2] });
      const sent = g1!.isend(tensor(Float32Array.from([1, 2, 3, 4]), { shape: [2, 2] }), 0, 4);
      const got = g0!.irecv(target, 1, 4);
      void got.wait();
      expect(got.isCompleted()).toBe(true);
      expect(values(target)).toEqual([1, 2, 3, 4]);
      void sent.wait();
      expect(sent.isCompleted()).toBe(true);

      // A second wait() is free and says the same; the promise settles once, logged once.
      void w0.wait();
      await Promise.all([p0, w1.wait(), ...ag.map((w) => w.wait()), ...rw.map((w) => w.wait()), got.wait(), sent.wait()]);
      expect(logger.records.get('blocking_probe')?.get(12)?.count).toBe(2); // one allReduce on each rank
      logger.records.delete('blocking_probe');
      logger.configure(saved);
    } finally {
      await Promise.all([g0!, g1!].map((g) => g.destroy()));
    }
  });

  it('a peer that never calls: wait() returns by the timeout with the usual diagnosis', async () => {
    const [g0, g1] = await pair(1000);
    try {
      await Promise.all([g0!.barrier(), g1!.barrier()]);
      const t0 = performance.now();
      const w = g0!.allReduce(tensor(new Float32Array(1024)), 'sum', { async: true, timeoutMs: 1000 });
      const p = w.wait();
      const elapsed = performance.now() - t0;
      expect(w.isCompleted()).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(elapsed).toBeLessThan(2500);
      const err = (await p.catch((e: unknown) => e)) as CommTimeoutError;
      expect(err.name).toBe('CommTimeoutError');
      expect(err.message).toContain('allReduce #1 (float32 [1024], sum) timed out after 1000 ms waiting for rank 1: it did not call allReduce #1 (rank 0 did)');
      expect(err.missingRanks).toEqual([1]);
      expect(err.seq).toBe(1);
      // The group is unusable afterwards; the next call says so through wait() as well.
      const after = g0!.barrier({ async: true });
      const pa = after.wait();
      expect(after.isCompleted()).toBe(true);
      await expect(pa).rejects.toThrow(/unusable after an earlier failure/);
    } finally {
      await Promise.all([g0!, g1!].map((g) => g.destroy()));
    }
  });

  it('the binding settles each call once: waitFor settles it, the later event-loop delivery does nothing', async () => {
    const lib = loadGlooNative()!;
    const dir = mkdtempSync(path.join(tmpdir(), 'ds-gloo-wait-'));
    tmp.push(dir);
    const groups: NativeGroup[] = [0, 1].map((rank) => new lib.Group({ rank, size: 2, hostname: '127.0.0.1', storePath: dir, timeoutMs: 5000 }));
    await Promise.all(groups.map((g) => g.connect()));
    try {
      const calls: Array<Array<Error | null>> = [[], []];
      const bufs = [Float32Array.from([1, 2]), Float32Array.from([3, 4])];
      // Rank 1 first: rank 0's call must not wait for a peer that has not called yet.
      const tickets: number[] = [];
      for (const r of [1, 0]) {
        tickets[r] = groups[r]!.allReduce(bufs[r]!, DTYPE_CODE.float32, REDUCE_OP_CODE.max, 5000, [2], 0, (e) => calls[r]!.push(e));
      }
      expect(tickets.every((t) => typeof t === 'number')).toBe(true);
      expect(groups[0]!.waitFor(tickets[0]!)).toBe(true);
      expect(calls[0]).toEqual([null]);
      expect(Array.from(bufs[0]!)).toEqual([3, 4]);
      expect(groups[0]!.waitFor(tickets[0]!)).toBe(false);
      // Let the thread-safe function deliver both completions.
      await new Promise((r) => setTimeout(r, 100));
      expect(calls).toEqual([[null], [null]]);
      expect(groups[1]!.waitFor(tickets[1]!)).toBe(false);
      expect(Array.from(bufs[1]!)).toEqual([3, 4]);
      // A bad argument is an error of the call itself, not of its completion.
      expect(() => groups[0]!.allReduce(bufs[0]!, DTYPE_CODE.float32, REDUCE_OP_CODE.sum, 5000, [2], 1, 7 as never)).toThrow(/onDone must be a function/);
    } finally {
      await Promise.all(groups.map((g) => g.close()));
    }
  });
});
