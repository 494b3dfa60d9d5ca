// The steps every in-process collective is made of: record what this rank called, arrive at a
// phase, wait for the group, compare the calls, borrow a zone to publish into, and hand the
// peers' zones back when done reading them.
import { CommMismatchError } from '../errors.js';
import type { CollectiveCall } from '../types.js';
import { callKey, formatCall, hashString, mismatchMessage, rankLabel } from '../validate.js';
import { REC_HASH, REC_PARAM, REC_SEQ, REC_SPLITS, REC_TEXT_LEN, REC_ZONE, TEXT_BYTES } from './control.js';
import type { Engine, GroupState, Wait } from './engine.js';
import { ARENA_ZONE, ensureCapacity, LARGE_ZONE } from './slab.js';

export type OpGen<R = void> = Generator<Wait, R, void>;

/** Write this rank's record for `call` (before arriving at phase 1). */
export function publishRecord(
  e: Engine,
  g: GroupState,
  call: CollectiveCall,
  zone: number,
  param = 0,
  splits?: { input: readonly number[]; output: readonly number[] },
): void {
  const i32 = e.i32;
  const rb = g.record(g.me, call.seq);
  const rec = recordOf(call);
  i32[rb + REC_SEQ] = call.seq;
  i32[rb + REC_HASH] = rec.hash;
  i32[rb + REC_ZONE] = zone;
  i32[rb + REC_PARAM] = param;
  if (splits) {
    for (let j = 0; j < g.n; j++) {
      i32[rb + REC_SPLITS + j] = splits.input[j]!;
      i32[rb + REC_SPLITS + g.n + j] = splits.output[j]!;
    }
  }
  e.control.u8.set(rec.text, (rb + REC_SPLITS + 2 * g.n) * 4);
  i32[rb + REC_TEXT_LEN] = rec.text.length;
}

const encoder = new TextEncoder();
const recordCache = new Map<string, { hash: number; text: Uint8Array }>();

/** The hash of a call's key and its text, cached (collectives repeat the same calls). */
function recordOf(call: CollectiveCall): { hash: number; text: Uint8Array } {
  const key = callKey(call);
  const cacheKey = call.op === 'allToAll' ? `${key}|${call.inputSplits?.join(',') ?? ''}|${call.outputSplits?.join(',') ?? ''}` : key;
  let rec = recordCache.get(cacheKey);
  if (!rec) {
    if (recordCache.size >= 1024) recordCache.clear();
    const text = encoder.encode(formatCall(call));
    rec = { hash: hashString(key), text: text.subarray(0, Math.min(text.length, TEXT_BYTES)) };
    recordCache.set(cacheKey, rec);
  }
  return rec;
}

export function arrive(e: Engine, g: GroupState, seq: number, phase: number): void {
  const w = g.counters[g.me]!;
  Atomics.store(e.i32, w, seq * 4 + phase);
  Atomics.notify(e.i32, w);
}

export function waitAll(g: GroupState, seq: number, phase: number): Wait {
  return { kind: 'all', g, target: seq * 4 + phase, phase };
}

/** After every member arrived at phase 1: throw the same mismatch error on every rank if calls differ. */
export function checkCalls(e: Engine, g: GroupState, call: CollectiveCall): void {
  const i32 = e.i32;
  const hash0 = i32[g.record(0, call.seq) + REC_HASH];
  for (let m = 1; m < g.n; m++) {
    if (i32[g.record(m, call.seq) + REC_HASH] !== hash0) {
      throw new CommMismatchError(mismatchMessage(call, 0, g.recordText(0, call.seq), m, g.recordText(m, call.seq), g.members), {
        op: call.op,
        seq: call.seq,
        groupRanks: g.members,
        ranksInConflict: [0, m],
      });
    }
  }
}

/** allToAll: rank i's inputSplits[j] must equal rank j's outputSplits[i], for every pair. */
export function checkSplits(e: Engine, g: GroupState, call: CollectiveCall): void {
  const i32 = e.i32;
  const n = g.n;
  for (let i = 0; i < n; i++) {
    const ri = g.record(i, call.seq);
    for (let j = 0; j < n; j++) {
      const sends = i32[ri + REC_SPLITS + j]!;
      const expects = i32[g.record(j, call.seq) + REC_SPLITS + n + i]!;
      if (sends !== expects) {
        throw new CommMismatchError(
          `${call.op} #${call.seq} mismatch: ${rankLabel(i, g.members)} sends ${sends} rows to ${rankLabel(j, g.members)} (inputSplits[${j}]) ` +
            `but ${rankLabel(j, g.members)} expects ${expects} rows from ${rankLabel(i, g.members)} (outputSplits[${i}])`,
          { op: call.op, seq: call.seq, groupRanks: g.members, ranksInConflict: [i, j] },
        );
      }
    }
  }
}

/** Split sizes member `m` recorded for `seq` (input or output side). */
export function recordedSplits(e: Engine, g: GroupState, m: number, seq: number, side: 'input' | 'output'): Int32Array {
  const rb = g.record(m, seq) + REC_SPLITS + (side === 'output' ? g.n : 0);
  return e.i32.subarray(rb, rb + g.n);
}

export function recordedParam(e: Engine, g: GroupState, m: number, seq: number): number {
  return e.i32[g.record(m, seq) + REC_PARAM]!;
}

/** The zone member `m` published into at `seq` (-1: none). */
export function zoneOf(e: Engine, g: GroupState, m: number, seq: number): number {
  return e.i32[g.record(m, seq) + REC_ZONE]!;
}

/**
 * Borrow one of this rank's zones for `bytes` of data that `readers` peers will read: the
 * alternate small zone when it fits, else the large one (grown as needed). Waits until the
 * readers of the zone's previous use have released it.
 */
export function* acquireZone(e: Engine, bytes: number, readers: number): OpGen<number> {
  let zone: number;
  if (bytes <= e.slabs.smallZoneBytes) {
    e.smallToggle ^= 1;
    zone = e.smallToggle;
  } else {
    zone = LARGE_ZONE;
  }
  const word = e.control.zoneWord(e.rank, zone);
  if (Atomics.load(e.i32, word) !== 0) yield { kind: 'zero', word, what: `this rank's ${zone === LARGE_ZONE ? 'large' : 'small'} buffer` };
  if (zone === LARGE_ZONE) ensureCapacity(e.slabs.zones[e.rank]![zone]!, bytes, 'a collective buffer');
  Atomics.store(e.i32, word, readers);
  return zone;
}

/** The zone SharedArrayBuffer member `m` of `g` published into. */
export function zoneBuffer(e: Engine, g: GroupState, m: number, zone: number): SharedArrayBuffer {
  return e.slabs.zones[g.members[m]!]![zone]!;
}

/** Tell the owners of the zones this rank read (every other member that published) that it is done. */
export function release(e: Engine, g: GroupState, seq: number, only?: number): void {
  for (let m = 0; m < g.n; m++) {
    if (m === g.me || (only !== undefined && m !== only)) continue;
    const zone = zoneOf(e, g, m, seq);
    if (zone < 0) continue;
    const word = e.control.zoneWord(g.members[m]!, zone);
    if (Atomics.sub(e.i32, word, 1) === 1) Atomics.notify(e.i32, word);
  }
}

/** Element range of chunk `c` when `numel` elements are cut into `n` chunks (64-byte aligned starts). */
export function chunkRange(numel: number, n: number, c: number): [number, number] {
  const size = Math.ceil(numel / n / 16) * 16;
  const start = Math.min(c * size, numel);
  return [start, Math.min(start + size, numel)];
}

/** Where member `m`'s published data starts in its zone (arena tensors start at their offset). */
export function zoneBase(e: Engine, g: GroupState, m: number, seq: number): number {
  return zoneOf(e, g, m, seq) === ARENA_ZONE ? recordedParam(e, g, m, seq) >>> 0 : 0;
}

/** Bytes [byteOff, byteOff + byteLen) of what member `m` published at `seq`. */
export function peerBytes(e: Engine, g: GroupState, m: number, seq: number, byteOff: number, byteLen: number): Uint8Array {
  return new Uint8Array(zoneBuffer(e, g, m, zoneOf(e, g, m, seq)), zoneBase(e, g, m, seq) + byteOff, byteLen);
}

/** Byte offset of `data` in this rank's arena (allocShared), or -1 when it is ordinary memory. */
export function arenaOffset(e: Engine, data: { buffer: ArrayBufferLike; byteOffset: number }): number {
  return data.buffer === e.slabs.zones[e.rank]![ARENA_ZONE] ? data.byteOffset : -1;
}

/** Lend this rank's arena tensor to `readers` peers (they release it like a zone). */
export function* lendArena(e: Engine, readers: number): OpGen {
  const word = e.control.zoneWord(e.rank, ARENA_ZONE);
  if (Atomics.load(e.i32, word) !== 0) yield { kind: 'zero', word, what: "this rank's shared tensors" };
  Atomics.store(e.i32, word, readers);
}

/** Wait until every peer finished reading this rank's arena tensor (before the op may complete). */
export function* reclaimArena(e: Engine): OpGen {
  const word = e.control.zoneWord(e.rank, ARENA_ZONE);
  if (Atomics.load(e.i32, word) !== 0) yield { kind: 'zero', word, what: "this rank's shared tensor" };
}
