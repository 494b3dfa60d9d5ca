// Collectives built from the primitive ones, so they work on every backend (in-process, Gloo,
// third-party) with the primitives' timeouts, sequence numbers and mismatch diagnosis:
// torch.distributed's gather / scatter (one all-to-all in which only the root's pieces move),
// all_reduce_coalesced (one packed all-reduce per dtype), all_gather_object /
// broadcast_object_list (v8-serialised values, lengths first) and monitored_barrier.
import { deserialize, serialize } from 'node:v8';
import { Tensor, type DType } from '@ds/core';
import { checkRank, checkTensor } from './validate.js';
import type { CollectiveOp, ProcessGroup, ReduceOp } from './types.js';

export interface CompositeOptions {
  /** Override the group's timeout for the underlying collectives, in milliseconds. */
  timeoutMs?: number;
}

/** The whole of a contiguous tensor as a 1-d view over the same storage. */
function flat(t: Tensor): Tensor {
  return new Tensor(t.storage, [t.numel], t.dtype, { offset: t.offset });
}

function emptyOf(dtype: DType): Tensor {
  return new Tensor(storageOf(dtype, 0), [0], dtype);
}

function storageOf(dtype: DType, n: number): Float32Array | Uint16Array | Int32Array | BigInt64Array {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
  }
}

function fail(op: string, what: string): never {
  throw new TypeError(`${op}: ${what}`);
}

/** `list` must be `size` tensors shaped like `like` on the root, and absent elsewhere (as torch requires). */
function checkRootList(op: string, name: string, list: readonly Tensor[] | null | undefined, like: Tensor, isRoot: boolean, size: number, rootArg: string): Tensor[] {
  if (!isRoot) {
    if (list != null) fail(op, `${name} must be null on ranks other than ${rootArg} (only the ${rootArg} rank ${op === 'gather' ? 'receives' : 'sends'} the list)`);
    return [];
  }
  if (!Array.isArray(list) || list.length !== size) {
    fail(op, `${name} must be a list of ${size} tensors (one per rank) on the ${rootArg} rank, got ${Array.isArray(list) ? `${list.length}` : list === null ? 'null' : typeof list}`);
  }
  return list.map((x, i) => {
    const t = checkTensor(op as CollectiveOp, `${name}[${i}]`, x);
    if (t.dtype !== like.dtype) fail(op, `${name}[${i}] has dtype ${t.dtype} but tensor is ${like.dtype}; both must have the same dtype`);
    if (t.numel !== like.numel) fail(op, `${name}[${i}] has ${t.numel} elements but tensor has ${like.numel}; every entry must match it`);
    return t;
  });
}

/** Splits (rows) of an all-to-all in which only the root's pieces move. */
const fromOrToRoot = (size: number, count: number, root: number): number[] => Array.from({ length: size }, (_, j) => (j === root ? count : 0));
const everyRankIf = (size: number, count: number, isRoot: boolean): number[] => Array.from({ length: size }, () => (isRoot ? count : 0));

/**
 * torch.distributed.gather: `gatherList[i]` on group rank `dst` receives rank i's `tensor`; other
 * ranks pass `null`. Every rank calls it. Only the pieces bound for `dst` move.
 */
export async function gather(group: ProcessGroup, tensor: Tensor, gatherList: readonly Tensor[] | null, dst: number, opts: CompositeOptions = {}): Promise<void> {
  const t = checkTensor('gather' as CollectiveOp, 'tensor', tensor);
  const root = checkRank('gather' as CollectiveOp, 'dst', dst, group.size);
  const isRoot = group.rank === root;
  const outs = checkRootList('gather', 'gatherList', gatherList, t, isRoot, group.size, 'dst');
  const n = t.numel;
  const recv = isRoot ? new Tensor(storageOf(t.dtype, n * group.size), [n * group.size], t.dtype) : emptyOf(t.dtype);
  await group.allToAll(recv, flat(t), everyRankIf(group.size, n, isRoot), fromOrToRoot(group.size, n, root), { logName: 'gather', ...timeout(opts) });
  outs.forEach((o, i) => (o.data() as Float32Array).set((recv.data() as Float32Array).subarray(i * n, (i + 1) * n)));
}

/**
 * torch.distributed.scatter: rank i's `tensor` receives `scatterList[i]` of group rank `src`;
 * other ranks pass `null`. Every rank calls it. Only the root's pieces move.
 */
export async function scatter(group: ProcessGroup, tensor: Tensor, scatterList: readonly Tensor[] | null, src: number, opts: CompositeOptions = {}): Promise<void> {
  const t = checkTensor('scatter' as CollectiveOp, 'tensor', tensor);
  const root = checkRank('scatter' as CollectiveOp, 'src', src, group.size);
  const isRoot = group.rank === root;
  const ins = checkRootList('scatter', 'scatterList', scatterList, t, isRoot, group.size, 'src');
  const n = t.numel;
  let send = emptyOf(t.dtype);
  if (isRoot) {
    send = new Tensor(storageOf(t.dtype, n * group.size), [n * group.size], t.dtype);
    ins.forEach((x, i) => (send.data() as Float32Array).set(x.data() as Float32Array, i * n));
  }
  await group.allToAll(flat(t), send, fromOrToRoot(group.size, n, root), everyRankIf(group.size, n, isRoot), { logName: 'scatter', ...timeout(opts) });
}

/**
 * torch's all_reduce_coalesced: reduce many tensors with one all-reduce per dtype (packed into
 * one buffer in list order), then unpack. Every rank passes the same shapes and dtypes in the
 * same order.
 */
export async function allReduceCoalesced(group: ProcessGroup, tensors: readonly Tensor[], op: ReduceOp = 'sum', opts: CompositeOptions = {}): Promise<void> {
  if (!Array.isArray(tensors)) fail('allReduceCoalesced', `tensors must be a list of tensors, got ${typeof tensors}`);
  const ts = tensors.map((x, i) => checkTensor('allReduce', `tensors[${i}]`, x));
  const byDtype = new Map<DType, Tensor[]>();
  for (const t of ts) byDtype.set(t.dtype, [...(byDtype.get(t.dtype) ?? []), t]);
  for (const [dtype, list] of byDtype) {
    const total = list.reduce((s, t) => s + t.numel, 0);
    const packed = new Tensor(storageOf(dtype, total), [total], dtype);
    const buf = packed.data() as Float32Array;
    let at = 0;
    for (const t of list) {
      buf.set(t.data() as Float32Array, at);
      at += t.numel;
    }
    await group.allReduce(packed, op, { logName: 'allReduceCoalesced', ...timeout(opts) });
    at = 0;
    for (const t of list) {
      (t.data() as Float32Array).set(buf.subarray(at, at + t.numel));
      at += t.numel;
    }
  }
}

/** Serialised bytes padded to whole int32 words, as a tensor. */
function bytesTensor(bytes: Uint8Array, words: number): Tensor {
  const w = new Int32Array(words);
  new Uint8Array(w.buffer).set(bytes);
  return new Tensor(w, [words], 'int32');
}

/**
 * torch's all_gather_object: every rank's value (anything the structured-clone algorithm takes:
 * plain objects, arrays, Maps, typed arrays, bigint...), in rank order, on every rank.
 */
export async function allGatherObject<T = unknown>(group: ProcessGroup, obj: T, opts: CompositeOptions = {}): Promise<T[]> {
  const bytes = new Uint8Array(serialize(obj));
  const lengths = new Tensor(new Int32Array(group.size), [group.size], 'int32');
  await group.allGatherInto(lengths, new Tensor(Int32Array.of(bytes.length), [1], 'int32'), { logName: 'allGatherObject', ...timeout(opts) });
  const lens = Array.from(lengths.data() as Int32Array);
  const words = Math.ceil(Math.max(...lens) / 4);
  const all = new Tensor(new Int32Array(words * group.size), [words * group.size], 'int32');
  await group.allGatherInto(all, bytesTensor(bytes, words), { logName: 'allGatherObject', ...timeout(opts) });
  const raw = new Uint8Array((all.data() as Int32Array).buffer);
  return lens.map((len, r) => deserialize(raw.subarray(r * words * 4, r * words * 4 + len)) as T);
}

/**
 * torch's broadcast_object_list: `objects` of group rank `src` are copied into `objects` of every
 * other rank, in place. Every rank passes a list of the same length.
 */
export async function broadcastObjectList(group: ProcessGroup, objects: unknown[], src: number, opts: CompositeOptions = {}): Promise<void> {
  if (!Array.isArray(objects)) fail('broadcastObjectList', `objects must be an array (the list to fill in place), got ${typeof objects}`);
  const root = checkRank('broadcast', 'src', src, group.size);
  const bytes = group.rank === root ? new Uint8Array(serialize(objects)) : new Uint8Array(0);
  const len = new Tensor(Int32Array.of(bytes.length, objects.length), [2], 'int32');
  await group.broadcast(len, root, { logName: 'broadcastObjectList', ...timeout(opts) });
  const [n, count] = Array.from(len.data() as Int32Array) as [number, number];
  if (count !== objects.length) {
    fail('broadcastObjectList', `objects has ${objects.length} entries on group rank ${group.rank} but ${count} on the src rank ${root}; every rank must pass a list of the same length`);
  }
  const payload = bytesTensor(bytes, Math.ceil(n / 4));
  await group.broadcast(payload, root, { logName: 'broadcastObjectList', ...timeout(opts) });
  if (group.rank === root) return;
  const got = deserialize(new Uint8Array((payload.data() as Int32Array).buffer).subarray(0, n)) as unknown[];
  objects.splice(0, objects.length, ...got);
}

/**
 * torch's monitored_barrier. Every barrier here is monitored: on timeout each rank's error names
 * the ranks that did not arrive and what they last called (all of them, so `wait_all_ranks` is
 * always on), and a rank that died is reported as soon as it is seen, not at the timeout.
 */
export function monitoredBarrier(group: ProcessGroup, opts: CompositeOptions = {}): Promise<void> {
  return group.barrier({ logName: 'monitoredBarrier', ...timeout(opts) });
}

function timeout(opts: CompositeOptions): { timeoutMs?: number } {
  return opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs };
}
