// Every collective x dtype between real processes (2 and 3 ranks), subgroups, point-to-point
// ordering and compute/communication overlap.
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { explain, killAll, run, skipReason, WORKER } from './helpers.js';

const reason = skipReason();
if (reason) console.warn(`[comm-gloo] skipping multi-process tests: ${reason}`);

describe.skipIf(reason !== null)('gloo collectives across processes', () => {
  afterAll(killAll);

  it("initDistributed() in a launched process picks the 'gloo' backend from this package", async () => {
    const outs = await run(2, 'init', { script: path.join(path.dirname(WORKER), 'init-worker.ts') });
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    for (const o of outs) expect(o.result).toMatchObject({ backend: 'gloo', cls: 'GlooProcessGroup', size: 2, sum: 3 });
  });

  // Processes of one host meet in shared memory: 1 MiB slots, and 4 KiB slots so that every
  // collective spans several rounds. Over TCP (DS_GLOO_SHM_BYTES=0): at 2 ranks small
  // all-reduces take Gloo's ring (DS_GLOO_DIRECT_BYTES=0), at 3 the one-round exchange.
  const matrix = [
    { size: 2, transport: 'shared-memory', env: {} },
    { size: 3, transport: 'shared-memory', env: { DS_GLOO_SHM_BYTES: '4096' } },
    { size: 2, transport: 'tcp', env: { DS_GLOO_SHM_BYTES: '0', DS_GLOO_DIRECT_BYTES: '0' } },
    { size: 3, transport: 'tcp', env: { DS_GLOO_SHM_BYTES: '0', DS_GLOO_DIRECT_BYTES: '262144' } },
  ] as const;
  for (const { size, transport, env } of matrix) {
    it(`every collective x dtype at ${size} ranks over ${transport}${'DS_GLOO_SHM_BYTES' in env && transport !== 'tcp' ? ' (4 KiB slots)' : ''}`, async () => {
      const outs = await run(size, 'collectives', { env });
      expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
      for (const o of outs) {
        expect(o.result.failures, explain(outs)).toEqual([]);
        expect(o.result.checks).toBe(86 + 5 * size);
        expect(o.result.transport.collectives).toBe(transport);
      }
    });
  }

  it('each one-host group maps one shared-memory segment, and destroy() unmaps it', async () => {
    const outs = await run(2, 'segments');
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    for (const o of outs) expect(o.result).toEqual({ world: 1, withSub: 2, afterDestroy: 1, sum: 3 });
  });

  it('subgroups: members get a group with their own ranks, non-members null, nested groups work', async () => {
    const outs = await run(3, 'subgroups');
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    for (const o of outs) expect(o.result.failures).toEqual([]);
    expect(outs[0]!.result.info.a).toEqual({ rank: 0, size: 2, ranks: [0, 2] });
    expect(outs[1]!.result.info.a).toBeNull();
    expect(outs[2]!.result.info.a).toEqual({ rank: 1, size: 2, ranks: [0, 2] });
    expect(outs[0]!.result.info.b).toBeNull();
    expect(outs[2]!.result.info.b).toEqual({ rank: 0, ranks: [2, 1] });
    expect(outs[1]!.result.info.nested).toEqual({ rank: 0, ranks: [1] });
  });

  it('gather / scatter / allGatherObject from @ds/comm run over gloo', async () => {
    const outs = await run(3, 'composite');
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    expect(outs[0]!.result.gathered).toEqual([[0, 0], [1, 10], [2, 20]]);
    expect(outs[1]!.result.gathered).toBeNull();
    outs.forEach((o, r) => {
      expect(o.result.scattered).toEqual([r, 2 * r, 3 * r]);
      expect(o.result.objects).toEqual([0, 1, 2].map((i) => ({ rank: i, pad: 'y'.repeat(i * 7) })));
    });
  });

  it('send/recv: ring without deadlock, per-tag FIFO order, tags matched independently', async () => {
    const outs = await run(3, 'p2p');
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    for (const o of outs) expect(o.result.failures).toEqual([]);
    expect(outs[1]!.result.checks).toBe(5);
  });

  it("collectives leave the event loop free while awaited, Work.wait() blocks until done, and ops progress while the rank computes", async () => {
    const outs = await run(2, 'overlap');
    expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
    const r0 = outs[0]!.result;
    console.log(
      `[comm-gloo] overlap: rank 0 timer ticks while waiting ${r0.ticks}; 32 MiB allReduce ${r0.commMs.toFixed(1)} ms alone, ` +
        `${r0.waitMs.toFixed(1)} ms left to wait after ${r0.computeMs.toFixed(0)} ms of compute`,
    );
    expect(r0.value).toBe(3);
    expect(r0.completedAtIssue).toBe(false);
    expect(r0.completedAfter).toBe(true);
    expect(r0.valueAfter).toBe(3);
    // rank 1 joined 600 ms late; a 10 ms interval kept firing on rank 0 meanwhile
    expect(r0.ticks).toBeGreaterThanOrEqual(20);
    // The all-reduce ran during the busy loop, so little of it is left afterwards.
    for (const o of outs) expect(o.result.waitMs).toBeLessThan(Math.max(0.5 * o.result.commMs, 25));
  });
});
