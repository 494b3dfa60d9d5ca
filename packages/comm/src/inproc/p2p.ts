// Point-to-point messages of the in-process backend. A send copies the tensor into the
// sender's heap and posts a descriptor on the (sender -> receiver) ring, so send/isend finish
// without waiting for the receiver (buffered, like MPI_Bsend). A receive takes the first
// posted message with its tag and group, in posting order, copies it out and marks it consumed;
// the sender frees the space later.
import { DTYPES, type Tensor } from '@ds/core';
import { CommMismatchError, CommTimeoutError, RankFailedError } from '../errors.js';
import type { CollectiveCall } from '../types.js';
import { formatCall, rankLabel } from '../validate.js';
import {
  E_BYTES, E_DTYPE, E_INDEX, E_NUMEL, E_OFFSET, E_STATE, E_TAG, ENTRY, R_HEAD, RANK_FAILED, RANK_RUNNING,
} from './control.js';
import { Deferred, type Engine, type GroupState, type Task } from './engine.js';

const E_GROUP = ENTRY - 1;

/** Per-rank bookkeeping of the rings this rank sends on and receives from. */
export class Mailbox {
  readonly sendNext: number[];
  readonly recvFloor: number[];
  readonly consumed: Set<number>[];
  #outstanding: { word: number; index: number; off: number; bytes: number }[] = [];

  constructor(readonly e: Engine) {
    this.sendNext = new Array<number>(e.worldSize).fill(0);
    this.recvFloor = new Array<number>(e.worldSize).fill(0);
    this.consumed = Array.from({ length: e.worldSize }, () => new Set<number>());
  }

  /** Free the heap space of messages the receivers have consumed. */
  reclaim(): void {
    const i32 = this.e.i32;
    let kept = 0;
    for (const m of this.#outstanding) {
      if (Atomics.load(i32, m.word + E_STATE) === 2 && i32[m.word + E_INDEX] === m.index) {
        this.e.heap.free(m.off, m.bytes);
        Atomics.store(i32, m.word + E_STATE, 0);
      } else this.#outstanding[kept++] = m;
    }
    this.#outstanding.length = kept;
  }

  track(word: number, index: number, off: number, bytes: number): void {
    this.#outstanding.push({ word, index, off, bytes });
  }
}

abstract class P2PTask implements Task {
  readonly deferred = new Deferred();
  completed = false;
  protected deadline = 0;
  protected started = false;
  constructor(
    readonly box: Mailbox,
    readonly g: GroupState,
    readonly call: CollectiveCall,
    readonly timeoutMs: number,
    readonly tensor: Tensor,
    /** peer's global rank */
    readonly peer: number,
    readonly tag: number,
  ) {}
  abstract attempt(): boolean;
  abstract waitTarget(): [number, number] | null;
  step(): boolean {
    if (!this.started) {
      this.started = true;
      this.deadline = performance.now() + this.timeoutMs;
    }
    if (this.attempt()) return true;
    return this.health();
  }
  /** Throws when the peer stopped or the deadline passed; true if a last attempt succeeded. */
  protected health(): boolean {
    const e = this.box.e;
    const state = e.control.rankState(this.peer);
    const peerGroupRank = this.g.members.indexOf(this.peer);
    if (state !== RANK_RUNNING) {
      if (this.attempt()) return true;
      throw new RankFailedError(
        `${formatCall(this.call)} failed: ${rankLabel(peerGroupRank, this.g.members)} ${state === RANK_FAILED ? 'failed' : 'finished'} ` +
          `(${e.control.rankText(this.peer) || 'no reason given'}) ${this.call.op === 'recv' ? 'without sending a matching message' : 'with its receive ring full'}`,
        { op: this.call.op, seq: -1, groupRanks: this.g.members, failedRanks: [peerGroupRank] },
      );
    }
    if (performance.now() >= this.deadline) {
      throw new CommTimeoutError(`${formatCall(this.call)} timed out after ${this.timeoutMs} ms: ${this.stuck()}`, {
        op: this.call.op,
        seq: -1,
        groupRanks: this.g.members,
        missingRanks: [peerGroupRank],
        timeoutMs: this.timeoutMs,
      });
    }
    return false;
  }
  protected abstract stuck(): string;
  settle(error: unknown): void {
    this.completed = true;
    if (error === undefined) this.deferred.resolve();
    else this.deferred.reject(error);
  }
}

export class SendTask extends P2PTask {
  #word = 0;
  attempt(): boolean {
    const e = this.box.e;
    const i32 = e.i32;
    const ring = e.control.ringWord(e.rank, this.peer);
    const index = this.box.sendNext[this.peer]!;
    const word = e.control.entryWord(ring, index);
    this.#word = word;
    if (Atomics.load(i32, word + E_STATE) !== 0) this.box.reclaim();
    if (Atomics.load(i32, word + E_STATE) !== 0) return false; // ring full: the receiver has not caught up
    const data = this.tensor.data();
    const bytes = data.byteLength;
    const off = e.heap.alloc(bytes);
    new Uint8Array(e.slabs.heaps[e.rank]!, off, bytes).set(new Uint8Array(data.buffer, data.byteOffset, bytes));
    i32[word + E_TAG] = this.tag;
    i32[word + E_OFFSET] = off | 0;
    i32[word + E_BYTES] = bytes | 0;
    i32[word + E_DTYPE] = DTYPES.indexOf(this.tensor.dtype);
    i32[word + E_NUMEL] = data.length;
    i32[word + E_INDEX] = index;
    i32[word + E_GROUP] = this.g.id;
    Atomics.store(i32, word + E_STATE, 1);
    this.box.track(word, index, off, bytes);
    this.box.sendNext[this.peer] = index + 1;
    Atomics.store(i32, ring + R_HEAD, index + 1);
    Atomics.notify(i32, ring + R_HEAD);
    return true;
  }
  waitTarget(): [number, number] {
    return [this.#word + E_STATE, Atomics.load(this.box.e.i32, this.#word + E_STATE)];
  }
  protected stuck(): string {
    return `the receive ring to ${rankLabel(this.g.members.indexOf(this.peer), this.g.members)} is full (${this.box.e.control.ringCap} messages not yet received)`;
  }
}

export class RecvTask extends P2PTask {
  #head = 0;
  attempt(): boolean {
    const e = this.box.e;
    const i32 = e.i32;
    const src = this.peer;
    const ring = e.control.ringWord(src, e.rank);
    const head = Atomics.load(i32, ring + R_HEAD);
    this.#head = head;
    const consumed = this.box.consumed[src]!;
    for (let index = this.box.recvFloor[src]!; index < head; index++) {
      if (consumed.has(index)) continue;
      const word = e.control.entryWord(ring, index);
      if (Atomics.load(i32, word + E_STATE) !== 1 || i32[word + E_INDEX] !== index) continue;
      if (i32[word + E_TAG] !== this.tag || i32[word + E_GROUP] !== this.g.id) continue;
      const data = this.tensor.data();
      const dtype = DTYPES[i32[word + E_DTYPE]!];
      const numel = i32[word + E_NUMEL]!;
      if (dtype !== this.tensor.dtype || numel !== data.length) {
        throw new CommMismatchError(
          `${formatCall(this.call)} mismatch: ${rankLabel(this.g.members.indexOf(src), this.g.members)} sent ${dtype} with ${numel} elements on tag ${this.tag} ` +
            `but this rank receives into ${this.tensor.dtype} [${this.tensor.shape.join(', ')}] (${data.length} elements)`,
          { op: 'recv', seq: -1, groupRanks: this.g.members, ranksInConflict: [this.g.members.indexOf(src), this.g.me] },
        );
      }
      const off = i32[word + E_OFFSET]! >>> 0;
      const bytes = i32[word + E_BYTES]! >>> 0;
      new Uint8Array(data.buffer, data.byteOffset, bytes).set(new Uint8Array(e.slabs.heaps[src]!, off, bytes));
      Atomics.store(i32, word + E_STATE, 2);
      Atomics.notify(i32, word + E_STATE);
      consumed.add(index);
      let floor = this.box.recvFloor[src]!;
      while (consumed.has(floor)) consumed.delete(floor++);
      this.box.recvFloor[src] = floor;
      return true;
    }
    return false;
  }
  waitTarget(): [number, number] {
    const e = this.box.e;
    return [e.control.ringWord(this.peer, e.rank) + R_HEAD, this.#head];
  }
  protected stuck(): string {
    const e = this.box.e;
    const ring = e.control.ringWord(this.peer, e.rank);
    const head = Atomics.load(e.i32, ring + R_HEAD);
    const tags = new Set<number>();
    for (let index = this.box.recvFloor[this.peer]!; index < head; index++) {
      const word = e.control.entryWord(ring, index);
      if (!this.box.consumed[this.peer]!.has(index) && Atomics.load(e.i32, word + E_STATE) === 1) tags.add(e.i32[word + E_TAG]!);
    }
    const who = rankLabel(this.g.members.indexOf(this.peer), this.g.members);
    return `${who} has not sent a matching message${tags.size ? ` (messages with other tags are waiting: ${[...tags].join(', ')})` : ''}`;
  }
}
