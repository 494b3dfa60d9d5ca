// initDistributed and the launcher environment, backend selection, argument validation (on a
// world of one in this thread) and the comms logger.
import { tensor, zeros, type Tensor } from '@ds/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BaseProcessGroup, CommsLogger, MemoryStore, PromiseWork, busFactor, convertSize, destroyProcessGroup, getLocalRank, getRank,
  getWorldGroup, getWorldSize, initDistributed, isInitialized, loadBackend, readLaunchEnv, registerBackend, trimMean,
  type BackendInitOptions, type BackendWork, type CollectiveRequest, type ProcessGroup, type RunContext,
} from '../src/index.js';

afterEach(() => destroyProcessGroup());

describe('launcher environment', () => {
  it('torchrun / ds run variables', () => {
    expect(readLaunchEnv({ RANK: '3', WORLD_SIZE: '8', LOCAL_RANK: '1', LOCAL_WORLD_SIZE: '2', MASTER_ADDR: '10.0.0.1', MASTER_PORT: '29501' })).toEqual({
      rank: 3, worldSize: 8, localRank: 1, localWorldSize: 2, masterAddr: '10.0.0.1', masterPort: 29501, source: 'torchrun',
    });
  });
  it('mpirun (Open MPI) and srun (Slurm)', () => {
    expect(readLaunchEnv({ OMPI_COMM_WORLD_RANK: '5', OMPI_COMM_WORLD_SIZE: '6', OMPI_COMM_WORLD_LOCAL_RANK: '2', OMPI_COMM_WORLD_LOCAL_SIZE: '3' })).toMatchObject({
      rank: 5, worldSize: 6, localRank: 2, localWorldSize: 3, source: 'openmpi',
    });
    expect(readLaunchEnv({ SLURM_PROCID: '6', SLURM_NTASKS: '8', SLURM_LOCALID: '2', SLURM_NODEID: '1', SLURM_TASKS_PER_NODE: '4(x2)' })).toMatchObject({
      rank: 6, worldSize: 8, localRank: 2, localWorldSize: 4, source: 'slurm',
    });
    expect(readLaunchEnv({})).toMatchObject({ rank: 0, worldSize: 1, source: 'none' });
  });
  it('bad values name the variable', () => {
    expect(() => readLaunchEnv({ RANK: 'x', WORLD_SIZE: '2' })).toThrow('environment variable RANK="x" is not a non-negative integer');
    expect(() => readLaunchEnv({ RANK: '2', WORLD_SIZE: '2' })).toThrow('rank 2 is out of range for a world of 2 (from the torchrun environment)');
    expect(() => readLaunchEnv({ RANK: '0' })).toThrow(/RANK and WORLD_SIZE must be set together/);
    expect(() => readLaunchEnv({ MASTER_PORT: '70000' })).toThrow(/MASTER_PORT=70000 is not a TCP port/);
  });
});

describe('initDistributed', () => {
  it('a lone process gets a world of one on the in-process backend', async () => {
    expect(isInitialized()).toBe(false);
    expect(() => getRank()).toThrow('getRank: the distributed backend is not initialised; call await initDistributed() first');
    const world = await initDistributed({ env: {} });
    expect([world.backend, world.rank, world.size, getRank(), getWorldSize(), getLocalRank()]).toEqual(['inproc', 0, 1, 0, 1, 0]);
    expect(getWorldGroup()).toBe(world);
    expect(await initDistributed()).toBe(world); // idempotent
    const t = tensor([1, 2, 3]);
    await world.allReduce(t, 'avg');
    const out = zeros([3]);
    await world.allGatherInto(out, t);
    const a2a = zeros([2, 2]);
    await world.allToAll(a2a, tensor([[1, 2], [3, 4]]), [2], [2]);
    expect([Array.from(out.toFloat32Array()), a2a.toArray()]).toEqual([[1, 2, 3], [[1, 2], [3, 4]]]);
    const sub = await world.newGroup([0]);
    await sub!.barrier();
    await destroyProcessGroup();
    expect(isInitialized()).toBe(false);
    expect(() => world.barrier()).toThrow('barrier: this process group was destroyed');
  });
  it('the default timeout comes from DS_COMM_TIMEOUT_MS (else 5 minutes); groups and calls override it', async () => {
    const saved = process.env.DS_COMM_TIMEOUT_MS;
    try {
      process.env.DS_COMM_TIMEOUT_MS = '1234';
      const world = await initDistributed({ env: {} });
      expect(world.timeoutMs).toBe(1234);
      world.timeoutMs = 50;
      expect(world.timeoutMs).toBe(50);
      expect(() => (world.timeoutMs = -1)).toThrow('ProcessGroup.timeoutMs: timeoutMs must be a positive number of milliseconds, got -1');
      await destroyProcessGroup();
      process.env.DS_COMM_TIMEOUT_MS = 'soon';
      await expect(initDistributed({ env: {} })).rejects.toThrow('DS_COMM_TIMEOUT_MS: timeoutMs must be a positive number of milliseconds, got NaN');
      delete process.env.DS_COMM_TIMEOUT_MS;
      expect((await initDistributed({ env: {} })).timeoutMs).toBe(300_000);
    } finally {
      if (saved === undefined) delete process.env.DS_COMM_TIMEOUT_MS;
      else process.env.DS_COMM_TIMEOUT_MS = saved;
    }
  });
  it("backend 'inproc' with several processes points to launchInProcess", async () => {
    await expect(initDistributed({ backend: 'inproc', env: { RANK: '0', WORLD_SIZE: '2' } })).rejects.toThrow(/start them with launchInProcess/);
  });
  it('a missing backend package says which package to add', async () => {
    const missing = (): Promise<never> => Promise.reject(Object.assign(new Error("Cannot find package '@ds/comm-gloo'"), { code: 'ERR_MODULE_NOT_FOUND' }));
    await expect(loadBackend('gloo', missing)).rejects.toThrow("backend 'gloo' needs the package @ds/comm-gloo: pnpm add @ds/comm-gloo");
    await expect(initDistributed({ backend: 'nosuch', env: { RANK: '0', WORLD_SIZE: '2' } })).rejects.toThrow(
      "backend 'nosuch' needs the package @ds/comm-nosuch: pnpm add @ds/comm-nosuch",
    );
  });
  it('DS_BACKEND picks a registered process backend, which gets the rank layout and the store', async () => {
    let seen: BackendInitOptions | null = null;
    registerBackend('loopback', async (opts) => {
      seen = opts;
      return new LoopbackGroup(opts.timeoutMs);
    });
    const store = new MemoryStore();
    const world = await initDistributed({ store, env: { DS_BACKEND: 'loopback', RANK: '0', WORLD_SIZE: '1', MASTER_ADDR: 'h', MASTER_PORT: '1234' }, timeoutMs: 1234 });
    expect(world.backend).toBe('loopback');
    expect(seen).toMatchObject({ rank: 0, worldSize: 1, localRank: 0, localWorldSize: 1, masterAddr: 'h', masterPort: 1234, timeoutMs: 1234 });
    expect(seen!.store).toBe(store);
    const t = tensor([5]);
    await world.allReduce(t, 'sum', { async: true }).wait();
    expect(t.toArray()).toEqual([5]);
  });
});

/** A minimal third-party backend built on BaseProcessGroup (one rank). */
class LoopbackGroup extends BaseProcessGroup {
  constructor(timeoutMs: number) {
    super({ rank: 0, ranks: [0], backend: 'loopback', timeoutMs });
  }
  protected runCollective(req: CollectiveRequest, _ctx: RunContext): BackendWork {
    if (req.kind === 'allGatherInto') (req.output.data() as Float32Array).set(req.input.data() as Float32Array);
    return new PromiseWork(Promise.resolve());
  }
  protected runSend(_t: Tensor, _d: number, _g: number, _c: RunContext): BackendWork {
    return new PromiseWork(Promise.reject(new Error('no peers')));
  }
  protected runRecv(_t: Tensor, _s: number, _g: number, _c: RunContext): BackendWork {
    return new PromiseWork(Promise.reject(new Error('no peers')));
  }
  protected async runNewGroup(): Promise<ProcessGroup | null> {
    return new LoopbackGroup(this.timeoutMs);
  }
  protected async release(): Promise<void> {}
}

describe('argument validation names what is wrong', () => {
  it('every collective checks its arguments before communicating', async () => {
    const w = await initDistributed({ env: {} });
    const t = zeros([2, 3]);
    expect(() => w.allReduce(t.transpose(0, 1))).toThrow('allReduce: tensor must be contiguous (shape [3, 2], strides [1, 3]); pass t.contiguous() and copy the result back');
    expect(() => w.allReduce(zeros([2], { dtype: 'int32' }), 'avg')).toThrow("allReduce: op 'avg' needs a floating-point tensor, this one is int32; reduce with 'sum' and divide");
    expect(() => w.allReduce(t, 'mean' as 'sum')).toThrow('allReduce: unknown reduce op "mean"; expected one of sum, product, min, max, avg');
    expect(() => w.broadcast(t, 1)).toThrow('broadcast: src=1 is not a rank of this group (valid: 0..0; ranks are group ranks)');
    expect(() => w.allGatherInto(zeros([5]), zeros([4]))).toThrow('allGatherInto: output (shape [5]) has 5 elements, expected 4');
    expect(() => w.allGatherInto(zeros([4], { dtype: 'float16' }), zeros([4]))).toThrow('allGatherInto: output has dtype float16 but the input is float32; both must have the same dtype');
    expect(() => w.allGather([zeros([4]), zeros([4])], zeros([4]))).toThrow('allGather: outputs must be a list of 1 tensors (one per rank), got 2');
    expect(() => w.reduceScatter(zeros([3]), zeros([4]))).toThrow('reduceScatter: input (shape [4]) has 4 elements, expected 3');
    expect(() => w.allToAll(zeros([3, 2]), zeros([3, 2]), [2], [3])).toThrow('allToAll: outputSplits [2] sum to 2 rows but the tensor has 3');
    expect(() => w.allToAll(zeros([3, 2]), zeros([3, 3]))).toThrow(/must have the same dims after dim 0/);
    expect(() => w.allToAll(zeros([3, 2]), zeros([3, 2]), [1, 2], null)).toThrow('allToAll: outputSplits must list one size per rank (1), got [1,2]');
    expect(() => w.send(t, 0)).toThrow('send: a rank cannot send to itself (rank 0)');
    expect(() => w.recv(t, 0)).toThrow('recv: a rank cannot recv from itself (rank 0)');
    await expect(w.newGroup([0, 5])).rejects.toThrow('newGroup: global rank 5 is not a member of this group (members: [0])');
    expect(() => w.allReduce(t, 'sum', { timeoutMs: 0 })).toThrow('allReduce: timeoutMs must be a positive number of milliseconds, got 0');
  });
});

describe('comms logger', () => {
  it('nccl-tests bandwidths (not DeepSpeed\'s doubled all-reduce algbw)', () => {
    const l = new CommsLogger();
    l.configure({ enabled: true });
    l.record('allReduce', 1e6, 1, 4); // S/t = 1 GB/s; busbw x 2(n-1)/n = 1.5
    l.record('allGatherInto', 1e6, 1, 4); // S = n x input = 4 MB -> 4 GB/s; busbw x (n-1)/n = 3
    l.record('reduceScatter', 1e6, 2, 4); // S = 4 MB over 2 ms -> 2 GB/s; busbw 1.5
    l.record('allToAll', 1e6, 1, 4); // 1 GB/s; busbw 0.75
    l.record('broadcast', 1e6, 1, 4); // busbw = algbw
    const get = (name: string): [number, number] => {
      const r = l.summaryRows().find((x) => x.name === name)!;
      return [r.algbwGBps, r.busbwGBps];
    };
    expect(get('allReduce')).toEqual([1, 1.5]);
    expect(get('allGatherInto')).toEqual([4, 3]);
    expect(get('reduceScatter')).toEqual([2, 1.5]);
    expect(get('allToAll')).toEqual([1, 0.75]);
    expect(get('broadcast')).toEqual([1, 1]);
    expect(busFactor('allReduce', 2)).toBe(1);
  });
  it('DeepSpeed config keys, prof_ops, verbose lines and the summary table', () => {
    const l = new CommsLogger();
    const lines: string[] = [];
    l.print = (s) => lines.push(s);
    l.configure({ enabled: true, prof_all: false, prof_ops: ['all_reduce'], verbose: true });
    expect(l.shouldProfile('allReduce')).toBe(true);
    expect(l.shouldProfile('broadcast')).toBe(false);
    expect(l.shouldProfile('broadcast', { prof: true })).toBe(true);
    for (let i = 0; i < 10; i++) l.record('allReduce', 4096, i === 9 ? 100 : 1, 2, 'grads');
    expect(lines[0]).toBe('comm op: grads | time (ms): 1.00 | msg size: 4.0 KB | algbw (GB/s): 0.00 | busbw (GB/s): 0.00');
    const text = l.summaryText();
    expect(text.split('\n')[0]).toBe(
      ['Comm. Op', 'Message Size', 'Count', 'Total Latency(ms)', 'Avg Latency(ms)', 'algbw_avg (GB/s)', 'busbw_avg (GB/s)'].map((s) => s.padEnd(20)).join(''),
    );
    expect(text).toContain('grads');
    const row = l.summaryRows()[0]!;
    expect([row.count, row.totalLatencyMs, row.avgLatencyMs]).toEqual([10, 109, 1]); // trimmed mean drops the outlier
  });
  it('helpers match DeepSpeed (trim_mean, convert_size)', () => {
    expect(trimMean([1, 2, 3, 4, 100], 0.1)).toBe(22); // round(0.5) = 0 (half to even): nothing trimmed
    expect(trimMean(Array.from({ length: 15 }, (_, i) => i), 0.1)).toBe(7); // round(1.5) = 2 trimmed each end
    expect([convertSize(0), convertSize(4096), convertSize(1536), convertSize(64 * 2 ** 20)]).toEqual(['0B', '4.0 KB', '1.5 KB', '64.0 MB']);
  });
  it('groups time their ops into the thread\'s logger when enabled', async () => {
    const { configureCommsLogger, commsLogger, logSummary } = await import('../src/index.js');
    const spy = vi.spyOn(commsLogger(), 'print').mockImplementation(() => {});
    configureCommsLogger({ enabled: true, profAll: true });
    const w = await initDistributed({ env: {} });
    await w.allReduce(zeros([1024]));
    await w.allReduce(zeros([1024]), 'sum', { async: true }).wait();
    const { rows, text } = logSummary();
    expect(rows.find((r) => r.name === 'allReduce')).toMatchObject({ messageBytes: 4096, count: 2 });
    expect(spy).toHaveBeenCalledWith(text);
    configureCommsLogger({ enabled: false });
    commsLogger().reset();
    spy.mockRestore();
  });
});
