import { describe, expect, it } from 'vitest';
import {
  decodeWorldInfo, didYouMean, encodeWorldInfo, parseResourceFilter, ResourceError, resolveResources, worldSize,
  type ActiveResources,
} from '../src/run/resources.js';

const one = (): ActiveResources => new Map([['worker-0', [0, 1, 2, 3]]]);
const two = (): ActiveResources => new Map([['worker-0', [0, 1, 2, 3]], ['worker-1', [0, 1, 2, 3]]]);
const obj = (m: ActiveResources) => Object.fromEntries(m);

describe('parseResourceFilter (DeepSpeed test_run.py vectors)', () => {
  it('one host', () => {
    expect(obj(parseResourceFilter(one(), '', 'worker-0:1'))).toEqual({ 'worker-0': [0, 2, 3] });
    expect(obj(parseResourceFilter(one(), '', 'worker-0:1,2'))).toEqual({ 'worker-0': [0, 3] });
    expect(obj(parseResourceFilter(one(), 'worker-0:1', ''))).toEqual({ 'worker-0': [1] });
    expect(obj(parseResourceFilter(one(), 'worker-0:1,1', ''))).toEqual({ 'worker-0': [1] });
    expect(obj(parseResourceFilter(one(), 'worker-0:1@worker-0:0,1', ''))).toEqual({ 'worker-0': [0, 1] });
    expect(obj(parseResourceFilter(one(), 'worker-0', ''))).toEqual({ 'worker-0': [0, 1, 2, 3] });
    expect(obj(parseResourceFilter(one(), '', 'worker-0'))).toEqual({});
    expect(obj(parseResourceFilter(one(), '', 'worker-0:0,1,2,3'))).toEqual({});
  });

  it('two hosts', () => {
    expect(obj(parseResourceFilter(two(), 'worker-1:0,3', ''))).toEqual({ 'worker-1': [0, 3] });
    expect(obj(parseResourceFilter(two(), '', 'worker-1'))).toEqual({ 'worker-0': [0, 1, 2, 3] });
    expect(obj(parseResourceFilter(two(), '', 'worker-0:0,1@worker-1:3'))).toEqual({ 'worker-0': [2, 3], 'worker-1': [0, 1, 2] });
  });

  it('keeps the hostfile order, not the order of the include list', () => {
    expect([...parseResourceFilter(two(), 'worker-1@worker-0:2', '').keys()]).toEqual(['worker-0', 'worker-1']);
  });

  it('no filter is a no-op', () => {
    expect(obj(parseResourceFilter(two()))).toEqual(obj(two()));
  });

  it('errors: both filters, unknown host (with a suggestion), unknown slot, bad slot', () => {
    expect(() => parseResourceFilter(one(), 'worker-0:1', 'worker-0:0')).toThrow('--include and --exclude are mutually exclusive');
    expect(() => parseResourceFilter(one(), 'jeff', '')).toThrow(
      '--include: host "jeff" is not in the hostfile (hosts: worker-0)',
    );
    expect(() => parseResourceFilter(two(), '', 'wroker-1:0')).toThrow(
      '--exclude: host "wroker-1" is not in the hostfile (hosts: worker-0, worker-1); did you mean "worker-1"?',
    );
    expect(() => parseResourceFilter(one(), 'worker-0:4', '')).toThrow(
      '--include: host "worker-0" has no slot 4 (its slots: 0, 1, 2, 3)',
    );
    expect(() => parseResourceFilter(two(), 'worker-1@worker-0:1@5', '')).toThrow('host "5" is not in the hostfile');
    expect(() => parseResourceFilter(one(), 'worker-0:a', '')).toThrow('--include: bad slot "a" for host "worker-0"');
    expect(() => parseResourceFilter(one(), 'worker-0@', '')).toThrow(/empty host/);
  });
});

describe('resolveResources (DeepSpeed runner.py main)', () => {
  const pool = new Map([['a', 4], ['b', 4], ['c', 2]]);
  const base = { localSlots: () => 1 };

  it('no hostfile: localhost with the local slots, or --num_gpus/--nproc of them', () => {
    expect(obj(resolveResources({ ...base, pool: null }).hosts)).toEqual({ localhost: [0] });
    expect(obj(resolveResources({ ...base, pool: null, numGpus: 3 }).hosts)).toEqual({ localhost: [0, 1, 2] });
    expect(resolveResources({ ...base, pool: null }).fromHostfile).toBe(false);
  });

  it('a hostfile gives every host its slots', () => {
    const r = resolveResources({ ...base, pool });
    expect(obj(r.hosts)).toEqual({ a: [0, 1, 2, 3], b: [0, 1, 2, 3], c: [0, 1] });
    expect(worldSize(r.hosts)).toBe(10);
  });

  it('--num_nodes keeps the first N hosts and --num_gpus uses slots 0..N-1 on each', () => {
    expect(obj(resolveResources({ ...base, pool, numNodes: 2 }).hosts)).toEqual({ a: [0, 1, 2, 3], b: [0, 1, 2, 3] });
    expect(obj(resolveResources({ ...base, pool, numNodes: 2, numGpus: 1 }).hosts)).toEqual({ a: [0], b: [0] });
  });

  it('--num_gpus beyond a host\'s slots is allowed (as in DeepSpeed) with a note', () => {
    const r = resolveResources({ ...base, pool, numGpus: 3 });
    expect(obj(r.hosts)).toEqual({ a: [0, 1, 2], b: [0, 1, 2], c: [0, 1, 2] });
    expect(r.notes.join('\n')).toMatch(/more than the 2 slots the hostfile gives c/);
  });

  it('include/exclude select hosts and slots', () => {
    expect(obj(resolveResources({ ...base, pool, include: 'c@a:1' }).hosts)).toEqual({ a: [1], c: [0, 1] });
    expect(obj(resolveResources({ ...base, pool, exclude: 'b@a:0,1,2' }).hosts)).toEqual({ a: [3], c: [0, 1] });
  });

  it('rejects counts together with filters, and --num_nodes > 1 without a hostfile', () => {
    expect(() => resolveResources({ ...base, pool, include: 'a', numNodes: 1 })).toThrow(ResourceError);
    expect(() => resolveResources({ ...base, pool, exclude: 'a', numGpus: 1 })).toThrow(/cannot combine --num_nodes\/--num_gpus/);
    expect(() => resolveResources({ ...base, pool: null, numNodes: 2 })).toThrow(/--num_nodes 2 needs a hostfile/);
    expect(() => resolveResources({ ...base, pool, include: 'a', exclude: 'b' })).toThrow(/mutually exclusive/);
  });

  it('rejects --num_nodes beyond the hosts available', () => {
    expect(() => resolveResources({ ...base, pool, numNodes: 4 })).toThrow('--num_nodes 4 but only 3 hosts available: a, b, c');
  });

  it('CUDA_VISIBLE_DEVICES becomes --include localhost:<ids> on a GPU machine without other selection', () => {
    const gpu = { pool: null, localSlots: () => 4, gpuCount: () => 4 };
    const r = resolveResources({ ...gpu, cudaVisibleDevices: '1,3' });
    expect(obj(r.hosts)).toEqual({ localhost: [1, 3] });
    expect(r.consumedCudaVisibleDevices).toBe(true);
    expect(r.notes[0]).toMatch(/setting --include=localhost:1,3/);
    const ignored = resolveResources({ ...gpu, cudaVisibleDevices: '1,3', numGpus: 2 });
    expect(obj(ignored.hosts)).toEqual({ localhost: [0, 1] });
    expect(ignored.notes[0]).toMatch(/ignoring it/);
    // On a CPU-only machine it is left alone.
    const cpu = resolveResources({ pool: null, localSlots: () => 1, gpuCount: () => 0, cudaVisibleDevices: '5' });
    expect(obj(cpu.hosts)).toEqual({ localhost: [0] });
    expect(cpu.consumedCudaVisibleDevices).toBe(false);
  });
});

describe('world info and suggestions', () => {
  it('round-trips the world info in host order', () => {
    const hosts: ActiveResources = new Map([['z', [0, 2]], ['a', [1]]]);
    const text = encodeWorldInfo(hosts);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect([...decodeWorldInfo(text)]).toEqual([['z', [0, 2]], ['a', [1]]]);
    expect(() => decodeWorldInfo('!!!')).toThrow(ResourceError);
  });

  it('suggests close host names only', () => {
    expect(didYouMean('worker1', ['worker-1', 'gpu-7'])).toBe('worker-1');
    expect(didYouMean('wokrer-2', ['worker-1', 'worker-2'])).toBe('worker-2');
    expect(didYouMean('zzz', ['worker-1'])).toBeUndefined();
    expect(didYouMean('c', ['a', 'b'])).toBeUndefined();
  });
});
