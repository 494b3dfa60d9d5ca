// In-process checks: a world of one rank, two ranks of one process meeting through any
// @ds/comm store, argument errors, and the FileStore rendezvous.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Tensor, tensor } from '@ds/core';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore, type ProcessGroup } from '@ds/comm';
import { createGlooGroup } from '../src/index.js';
import { explain, killAll, run, skipReason } from './helpers.js';

const reason = skipReason();
if (reason) console.warn(`[comm-gloo] skipping the in-process gloo tests: ${reason}`);

describe.skipIf(reason !== null)('gloo in one process', () => {
  afterAll(killAll);

  it('a world of one rank runs every collective as the identity', async () => {
    const g = await createGlooGroup({ rank: 0, size: 1 });
    expect(g.backend).toBe('gloo');
    expect([g.rank, g.size, g.ranks]).toEqual([0, 1, [0]]);
    const t = tensor([1, 2, 3]);
    await g.allReduce(t, 'avg');
    expect(Array.from(t.data() as Float32Array)).toEqual([1, 2, 3]);
    const out = tensor([0, 0, 0]);
    await g.allGatherInto(out, t);
    await g.reduceScatter(out, t, 'max');
    await g.allToAll(out, t);
    await g.broadcast(t, 0);
    await g.barrier({ async: true }).wait();
    expect(Array.from(out.data() as Float32Array)).toEqual([1, 2, 3]);
    expect(g.seq).toBe(6);
    const sub = await g.newGroup([0]);
    expect(sub?.ranks).toEqual([0]);
    await sub?.destroy();
    await g.destroy();
    expect(() => g.allReduce(t)).toThrow(/destroyed/);
  });

  it('two ranks in one process meet through an in-memory store (any @ds/comm Store works)', async () => {
    const store = new MemoryStore();
    const groups = await Promise.all([0, 1].map((rank) => createGlooGroup({ rank, size: 2, store, hostname: '127.0.0.1', timeoutMs: 10_000 })));
    const ts = [tensor([1, 2]), tensor([10, 20])];
    await Promise.all(groups.map((g, i) => g.allReduce(ts[i]!, 'max')));
    expect(ts.map((t) => Array.from(t.data() as Float32Array))).toEqual([[10, 20], [10, 20]]);
    const subs = await Promise.all(groups.map((g) => g.newGroup([1])));
    expect(subs[0]).toBeNull();
    expect((subs[1] as ProcessGroup).ranks).toEqual([1]);
    await subs[1]!.destroy();
    await Promise.all(groups.map((g) => g.destroy()));
  });

  it('bad arguments are rejected at the call, naming what was wrong', async () => {
    const g = await createGlooGroup({ rank: 0, size: 1 });
    try {
      expect(() => g.allReduce(tensor([1], { dtype: 'int32' }), 'avg')).toThrow(/'avg' needs a floating-point tensor/);
      expect(() => g.broadcast(tensor([1]), 3)).toThrow(/src=3 is not a rank of this group/);
      expect(() => g.allGatherInto(tensor([0]), tensor([1, 2]))).toThrow(/allGatherInto/);
      expect(() => g.allReduce({} as Tensor)).toThrow(/must be a Tensor/);
    } finally {
      await g.destroy();
    }
  });

  it("ranks on one host can rendezvous through Gloo's FileStore instead of TCP", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ds-gloo-filestore-'));
    try {
      const outs = await run(2, 'hosts', { env: { STORE_PATH: dir } });
      expect(outs.every((o) => o.code === 0), explain(outs)).toBe(true);
      for (const o of outs) expect(o.result.value).toEqual([3, 200]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
