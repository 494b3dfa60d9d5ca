// The in-process collectives, each a generator of waits (driven by engine.ts). Data moves
// through the ranks' zones (shared memory) with plain copies and the core kernels; only the
// arrival counters synchronise.
//
// all-reduce, small (<= smallAllReduceBytes): publish, one sync, every rank reduces all
//   inputs itself (rank order 0..n-1).
// all-reduce, large: publish the other ranks' chunks, sync, rank r reduces chunk r (its own
//   values first, then the others in rank order) into its tensor and republishes it, sync,
//   every rank copies the other reduced chunks (reduce-scatter + all-gather, in parallel).
//   When every member's tensor lives in shared memory, rank r instead writes reduced chunk r
//   straight into every member's tensor (one sync fewer copy: each byte read once, written once).
// Inputs allocated with allocShared() live in the rank's arena: peers read them in place (no
// copy into a zone) and the op completes once every peer has released them.
import type { Tensor } from '@ds/core';
import { GroupAbortedError } from '../errors.js';
import type { CollectiveCall, ReduceOp } from '../types.js';
import type { Engine, GroupState } from './engine.js';
import {
  acquireZone, arenaOffset, arrive, checkCalls, checkSplits, chunkRange, lendArena, peerBytes, publishRecord, reclaimArena,
  recordedParam, recordedSplits, release, waitAll, zoneBase, zoneBuffer, zoneOf, type OpGen,
} from './protocol.js';
import { reduceSources } from './reduce.js';
import { ARENA_ZONE, bytesOf, typedView, type StorageArray } from './slab.js';

/** All-reduces up to this size use the one-sync path. */
export let smallAllReduceBytes = 64 * 1024;
/** Elements reduced per pass of a large all-reduce: small enough that the block is still in L2 when it is copied on. */
const REDUCE_BLOCK = 16 * 1024;
export function setSmallAllReduceBytes(bytes: number): void {
  smallAllReduceBytes = bytes;
}

interface OpEnv {
  e: Engine;
  g: GroupState;
  call: CollectiveCall;
}

const bytesAll = (a: StorageArray): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Phase 1 for every op: record, arrive, wait for the group, compare calls. */
function* meet(env: OpEnv, zone: number, param = 0, splits?: { input: readonly number[]; output: readonly number[] }): OpGen {
  const { e, g, call } = env;
  publishRecord(e, g, call, zone, param, splits);
  arrive(e, g, call.seq, 1);
  yield waitAll(g, call.seq, 1);
  try {
    checkCalls(e, g, call);
    if (splits) checkSplits(e, g, call);
  } catch (err) {
    // every rank sees the same records, so nobody will read this rank's zone: hand it back
    if (zone >= 0) Atomics.store(e.i32, e.control.zoneWord(e.rank, zone), 0);
    throw err;
  }
  const reason = e.control.abortReason(g.base);
  if (reason !== null) {
    throw new GroupAbortedError(`${call.op} #${call.seq} on ${g.describe()}: the group was aborted by an earlier failure: ${reason}`, {
      op: call.op,
      seq: call.seq,
      groupRanks: g.members,
    });
  }
}

/** Member `m`'s published data as a typed view of `n` elements at element offset `at`. */
function peerView(env: OpEnv, m: number, dtype: string, at: number, n: number): StorageArray {
  const { e, g, call } = env;
  const sab = zoneBuffer(e, g, m, zoneOf(e, g, m, call.seq));
  return typedView(dtype as 'float32', sab, zoneBase(e, g, m, call.seq) + at * bytesPer(dtype), n);
}

function bytesPer(dtype: string): number {
  return dtype === 'int64' ? 8 : dtype === 'float16' || dtype === 'bfloat16' ? 2 : 4;
}

/** Copy this rank's input into a zone, or lend it in place when it lives in the arena (allocShared). */
function* publishInput(env: OpEnv, data: StorageArray, readers: number, ranges?: [number, number][]): OpGen<{ zone: number; param: number }> {
  const { e } = env;
  const off = arenaOffset(e, data);
  if (off >= 0) {
    yield* lendArena(e, readers);
    return { zone: ARENA_ZONE, param: off | 0 };
  }
  const zone = yield* acquireZone(e, data.byteLength, readers);
  const dst = new Uint8Array(e.slabs.zones[e.rank]![zone]!);
  const bpe = data.BYTES_PER_ELEMENT;
  for (const [from, to] of ranges ?? [[0, data.length]]) if (to > from) dst.set(bytesOf(data, from, to), from * bpe);
  return { zone, param: 0 };
}

export function* allReduce(env: OpEnv, t: Tensor, op: ReduceOp): OpGen {
  const { e, g, call } = env;
  const data = t.data();
  const dtype = t.dtype;
  const n = g.n;
  const me = g.me;
  if (n === 1) return yield* meet(env, -1);
  const bytes = data.byteLength;
  if (bytes <= smallAllReduceBytes && bytes <= e.slabs.smallZoneBytes) {
    const zone = yield* acquireZone(e, bytes, n - 1);
    new Uint8Array(e.slabs.zones[e.rank]![zone]!, 0, bytes).set(bytesAll(data));
    yield* meet(env, zone);
    const sources = g.members.map((_, m) => peerView(env, m, dtype, 0, data.length));
    reduceSources(dtype, op, data, sources, n);
    release(e, g, call.seq);
    return;
  }
  // reduce-scatter + all-gather: peers need this rank's chunks other than its own
  const bpe = data.BYTES_PER_ELEMENT;
  const others: [number, number][] = [];
  for (let c = 0; c < n; c++) if (c !== me) others.push(chunkRange(data.length, n, c));
  const { zone, param } = yield* publishInput(env, data, n - 1, others);
  yield* meet(env, zone, param);
  const [s, end] = chunkRange(data.length, n, me);
  if (g.members.every((_, m) => zoneOf(e, g, m, call.seq) === ARENA_ZONE)) {
    // Every tensor lives in shared memory: reduce this rank's chunk and write the result straight
    // into every member's tensor, block by block while the block is still in cache — each byte
    // is read once and written once per member (half the traffic of publish-then-copy).
    const views = g.members.map((_, m) => (m === me ? data.subarray(s, end) : peerView(env, m, dtype, s, end - s)));
    const sources = [views[me]!, ...views.filter((_, m) => m !== me)];
    for (let b = 0; b < end - s; b += REDUCE_BLOCK) {
      const to = Math.min(b + REDUCE_BLOCK, end - s);
      const own = sources[0]!.subarray(b, to);
      reduceSources(dtype, op, own, sources.map((v, i) => (i === 0 ? own : v.subarray(b, to))), n);
      for (let m = 1; m < n; m++) (sources[m]!.subarray(b, to) as Float32Array).set(own as Float32Array);
    }
    release(e, g, call.seq);
    arrive(e, g, call.seq, 2);
    yield waitAll(g, call.seq, 2); // peers have written their chunks into this rank's tensor
    return yield* reclaimArena(e);
  }
  if (end > s) {
    const own = data.subarray(s, end);
    const sources: StorageArray[] = [own];
    for (let j = 0; j < n; j++) if (j !== me) sources.push(peerView(env, j, dtype, s, end - s));
    const out = zone === ARENA_ZONE ? null : typedView(dtype as 'float32', e.slabs.zones[e.rank]![zone]!, s * bpe, end - s);
    for (let b = 0; b < end - s; b += REDUCE_BLOCK) {
      const to = Math.min(b + REDUCE_BLOCK, end - s);
      const blk = own.subarray(b, to);
      reduceSources(dtype, op, blk, sources.map((v, i) => (i === 0 ? blk : v.subarray(b, to))), n);
      out?.subarray(b, to).set(blk as Float32Array); // republish while the block is in cache
    }
  }
  arrive(e, g, call.seq, 2);
  yield waitAll(g, call.seq, 2);
  for (let j = 0; j < n; j++) {
    if (j === me) continue;
    const [s2, e2] = chunkRange(data.length, n, j);
    if (e2 > s2) bytesOf(data, s2, e2).set(peerBytes(e, g, j, call.seq, s2 * bpe, (e2 - s2) * bpe));
  }
  release(e, g, call.seq);
  if (zone === ARENA_ZONE) yield* reclaimArena(e);
}

export function* reduce(env: OpEnv, t: Tensor, root: number, op: ReduceOp): OpGen {
  const { e, g, call } = env;
  const data = t.data();
  const dtype = t.dtype;
  const n = g.n;
  const me = g.me;
  if (n === 1) return yield* meet(env, -1);
  const bytes = data.byteLength;
  if (bytes <= smallAllReduceBytes && bytes <= e.slabs.smallZoneBytes) {
    const zone = yield* acquireZone(e, bytes, me === root ? 0 : 1);
    new Uint8Array(e.slabs.zones[e.rank]![zone]!, 0, bytes).set(bytesAll(data));
    yield* meet(env, zone);
    if (me === root) {
      reduceSources(dtype, op, data, g.members.map((_, m) => peerView(env, m, dtype, 0, data.length)), n);
      release(e, g, call.seq);
    }
    return;
  }
  // every rank reduces its chunk inside its own zone (its tensor stays unchanged); the root gathers
  const bpe = data.BYTES_PER_ELEMENT;
  const zone = yield* acquireZone(e, bytes, n - 1);
  new Uint8Array(e.slabs.zones[e.rank]![zone]!, 0, bytes).set(bytesAll(data));
  yield* meet(env, zone);
  const [s, end] = chunkRange(data.length, n, me);
  if (end > s) {
    const own = peerView(env, me, dtype, s, end - s);
    const sources: StorageArray[] = [own];
    for (let j = 0; j < n; j++) if (j !== me) sources.push(peerView(env, j, dtype, s, end - s));
    reduceSources(dtype, op, own, sources, n);
  }
  arrive(e, g, call.seq, 2);
  if (me === root) {
    yield waitAll(g, call.seq, 2);
    for (let j = 0; j < n; j++) {
      const [s2, e2] = chunkRange(data.length, n, j);
      if (e2 > s2) bytesOf(data, s2, e2).set(peerBytes(e, g, j, call.seq, s2 * bpe, (e2 - s2) * bpe));
    }
  }
  release(e, g, call.seq);
}

export function* broadcast(env: OpEnv, t: Tensor, root: number): OpGen {
  const { e, g, call } = env;
  const data = t.data();
  if (g.n === 1) return yield* meet(env, -1);
  if (g.me === root) {
    const { zone, param } = yield* publishInput(env, data, g.n - 1);
    yield* meet(env, zone, param);
    if (zone === ARENA_ZONE) yield* reclaimArena(e);
    return;
  }
  yield* meet(env, -1);
  bytesAll(data).set(peerBytes(e, g, root, call.seq, 0, data.byteLength));
  release(e, g, call.seq, root);
}

/** Shared by allGatherInto (outputs = chunks of one tensor) and allGather (a list). */
export function* allGather(env: OpEnv, outputs: StorageArray[], input: Tensor): OpGen {
  const { e, g, call } = env;
  const data = input.data();
  if (g.n === 1) {
    yield* meet(env, -1);
    bytesAll(outputs[g.me]!).set(bytesAll(data));
    return;
  }
  const { zone, param } = yield* publishInput(env, data, g.n - 1);
  yield* meet(env, zone, param);
  for (let j = 0; j < g.n; j++) {
    const out = bytesAll(outputs[j]!);
    if (j === g.me) out.set(bytesAll(data));
    else out.set(peerBytes(e, g, j, call.seq, 0, data.byteLength));
  }
  release(e, g, call.seq);
  if (zone === ARENA_ZONE) yield* reclaimArena(e);
}

export function* reduceScatter(env: OpEnv, output: Tensor, input: Tensor, op: ReduceOp): OpGen {
  const { e, g, call } = env;
  const inp = input.data();
  const out = output.data();
  const dtype = input.dtype;
  const n = g.n;
  const me = g.me;
  const chunk = out.length;
  if (n === 1) {
    yield* meet(env, -1);
    reduceSources(dtype, op, out, [inp], 1);
    return;
  }
  const others: [number, number][] = [];
  for (let c = 0; c < n; c++) if (c !== me) others.push([c * chunk, (c + 1) * chunk]);
  const { zone, param } = yield* publishInput(env, inp, n - 1, others);
  yield* meet(env, zone, param);
  if (chunk) {
    const sources: StorageArray[] = [inp.subarray(me * chunk, (me + 1) * chunk)];
    for (let j = 0; j < n; j++) if (j !== me) sources.push(peerView(env, j, dtype, me * chunk, chunk));
    reduceSources(dtype, op, out, sources, n);
  }
  release(e, g, call.seq);
  if (zone === ARENA_ZONE) yield* reclaimArena(e);
}

export function* allToAll(env: OpEnv, output: Tensor, input: Tensor, outputSplits: number[], inputSplits: number[], rowElems: number): OpGen {
  const { e, g, call } = env;
  const inp = input.data();
  const out = output.data();
  const n = g.n;
  const me = g.me;
  const prefix = (s: ArrayLike<number>, k: number): number => {
    let a = 0;
    for (let i = 0; i < k; i++) a += s[i]!;
    return a;
  };
  if (n === 1) {
    yield* meet(env, -1, 0, { input: inputSplits, output: outputSplits });
    bytesAll(out).set(bytesAll(inp));
    return;
  }
  const bpe = inp.BYTES_PER_ELEMENT;
  const pieces: [number, number][] = [];
  for (let j = 0; j < n; j++) {
    if (j === me) continue;
    const s = prefix(inputSplits, j) * rowElems;
    pieces.push([s, s + inputSplits[j]! * rowElems]);
  }
  const { zone, param } = yield* publishInput(env, inp, n - 1, pieces);
  yield* meet(env, zone, param, { input: inputSplits, output: outputSplits });
  for (let j = 0; j < n; j++) {
    const rows = outputSplits[j]!;
    if (!rows) continue;
    const dst = prefix(outputSplits, j) * rowElems;
    const len = rows * rowElems;
    if (j === me) {
      const s = prefix(inputSplits, me) * rowElems;
      bytesOf(out, dst, dst + len).set(bytesOf(inp, s, s + len));
    } else {
      const s = prefix(recordedSplits(e, g, j, call.seq, 'input'), me) * rowElems;
      bytesOf(out, dst, dst + len).set(peerBytes(e, g, j, call.seq, s * bpe, len * bpe));
    }
  }
  release(e, g, call.seq);
  if (zone === ARENA_ZONE) yield* reclaimArena(e);
}

export function* barrier(env: OpEnv): OpGen {
  yield* meet(env, -1);
}

/** newGroup on a parent: the parent's rank 0 creates the group block; everyone learns its id. */
export function* newGroup(env: OpEnv, ranks: readonly number[], result: { id: number }): OpGen {
  const { e, g, call } = env;
  const id = g.me === 0 ? e.control.createGroup(ranks) : 0;
  yield* meet(env, -1, id);
  result.id = recordedParam(e, g, 0, call.seq);
}
