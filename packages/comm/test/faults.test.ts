// Failure behaviour: a rank that skips a collective, calls a different one, throws or exits.
// Each scenario ends within its timeout, names the rank and the collective, and leaves no worker.
import { describe, expect, it } from 'vitest';
import { CommMismatchError, CommTimeoutError, GroupAbortedError, RankFailedError, spawnInProcess } from '../src/index.js';

const script = new URL('./fixtures/faults.ts', import.meta.url);

describe('fault injection (in-process)', () => {
  it('a rank that skips a collective: the others time out naming it and the sequence number', async () => {
    const t0 = Date.now();
    const out = await spawnInProcess<string>(3, script, { sleepMs: 3000 }, { exportName: 'skip', timeoutMs: 1000, graceMs: 5000 });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(out[1]).toMatchObject({ ok: true, value: 'skipped' });
    for (const r of [0, 2]) {
      const e = out[r]!.error!;
      expect(e).toBeInstanceOf(CommTimeoutError);
      expect(e.message).toMatch(/^allReduce #2 timed out after 1000 ms on the world group \(3 ranks\)/);
      expect(e.message).toContain('rank 1 did not arrive (its last call on this group was #1 allReduce(float32 [1024]))');
      expect(e.message).toMatch(/ranks 0 and 2 called allReduce\(float32 \[1024\]\)|rank [02] called allReduce/);
      expect((e as CommTimeoutError).missingRanks).toEqual([1]);
      expect((e as CommTimeoutError).seq).toBe(2);
    }
  });

  it('ranks calling different collectives, shapes or dtypes get the same mismatch error on every rank', async () => {
    const out = await spawnInProcess<{ op: string; shape: string; dtype: string; after: string }>(3, script, undefined, { exportName: 'mismatch', timeoutMs: 2000 });
    for (const o of out) {
      expect(o.ok).toBe(true);
      const v = o.value!;
      expect(v.op).toMatch(/^CommMismatchError: (allReduce|broadcast) #1 mismatch: rank 0 called allReduce\(float32 \[1024\]\) but rank 1 called broadcast\(float32 \[1024\], src=0\)$/);
      expect(v.shape).toContain('allReduce #0 mismatch: rank 0 called allReduce(float32 [1024]) but rank 1 called allReduce(float32 [4, 256])');
      expect(v.dtype).toContain('allGatherInto #0 mismatch: rank 0 called allGatherInto(float32 output [24], input [8]) but rank 1 called allGatherInto(float16 output [24], input [8])');
      // the group is aborted afterwards: the next call fails at once instead of hanging
      expect(v.after).toMatch(/^GroupAbortedError: allReduce #2 .*aborted/);
    }
    expect(CommMismatchError.name).toBe('CommMismatchError');
    expect(GroupAbortedError.name).toBe('GroupAbortedError');
  });

  it('allToAll split sizes that disagree are reported on every rank', async () => {
    const out = await spawnInProcess<string>(3, script, undefined, { exportName: 'splits', timeoutMs: 2000 });
    for (const o of out) {
      expect(o.value).toBe(
        'CommMismatchError: allToAll #0 mismatch: rank 1 sends 1 rows to rank 0 (inputSplits[0]) but rank 0 expects 2 rows from rank 1 (outputSplits[1])',
      );
    }
  });

  it('a rank that throws: the others fail fast naming it', async () => {
    const t0 = Date.now();
    const out = await spawnInProcess<string>(4, script, undefined, { exportName: 'throws', timeoutMs: 20_000 });
    expect(Date.now() - t0).toBeLessThan(8000); // far below the 20 s timeout
    expect(out[2]!.error!.message).toBe('boom on rank 2');
    for (const r of [0, 1, 3]) {
      const e = out[r]!.error!;
      expect(e).toBeInstanceOf(RankFailedError);
      expect(e.message).toContain('allReduce #1 on the world group (4 ranks) failed: rank 2 failed (threw Error: boom on rank 2) before arriving at allReduce(float32 [16])');
      expect((e as RankFailedError).failedRanks).toEqual([2]);
    }
  });

  it('a rank whose thread exits: the others fail fast naming it', async () => {
    const t0 = Date.now();
    const out = await spawnInProcess<string>(3, script, undefined, { exportName: 'exits', timeoutMs: 20_000 });
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(out[1]!.error!.message).toMatch(/rank 1 exited with code 3/);
    for (const r of [0, 2]) {
      expect(out[r]!.error).toBeInstanceOf(RankFailedError);
      expect(out[r]!.error!.message).toMatch(/barrier #1 .*rank 1 failed \(threw Error: rank 1 exited with code 3/);
    }
  });

  it('a receive with no matching message times out naming the peer and the waiting tags', async () => {
    const out = await spawnInProcess<string>(2, script, undefined, { exportName: 'recvTimeout', timeoutMs: 5000 });
    expect(out[1]!.value).toBe(
      'CommTimeoutError: recv(float32 [4], src=0, tag=3) timed out after 300 ms: rank 0 has not sent a matching message (messages with other tags are waiting: 7)',
    );
  });
});
