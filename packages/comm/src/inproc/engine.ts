// The per-rank progress engine of the in-process backend.
//
// A collective is a generator (see ops.ts) that publishes data, bumps this rank's arrival
// counter and yields a Wait (e.g. "every member reached phase 1 of seq 7"). The engine runs
// collectives one at a time in issue order (NCCL's stream order) and satisfies waits in one of
// two ways:
//  * blocking (a sync call, or Work.wait()): spin briefly, then Atomics.wait on the laggard's
//    counter — the lowest latency;
//  * asynchronous (`{ async: true }`): Atomics.waitAsync, so the JS thread is free; the next
//    step runs from the event loop when the peers arrive.
// Every wait is sliced (<= 100 ms) to check the deadline, dead ranks and aborted groups.
import { availableParallelism } from 'node:os';
import { CommError, CommTimeoutError, GroupAbortedError } from '../errors.js';
import type { CollectiveCall } from '../types.js';
import { Control, REC_SPLITS, REC_TEXT_LEN } from './control.js';
import { checkWait } from './diagnose.js';
import { HeapAllocator, type Slabs } from './slab.js';

const SLICE_MS = 100;
/**
 * Polls before sleeping in Atomics.wait. Spinning only pays when every rank has a core of its
 * own (ranks <= cores): a futex wake-up costs ~30 us, a poll that sees the peer arrive well under
 * 1 us (4 KiB all-reduce, 2 ranks on 2 idle cores: 31 us with 100 polls, 10 us with 2000). On an
 * oversubscribed machine polling steals the time the peer needs (4 ranks on 2 cores: 70 us with
 * 100 polls, 510 us with 30000), so it stays short there. DS_COMM_SPIN overrides.
 */
function spinCount(worldSize: number): number {
  const env = process.env.DS_COMM_SPIN;
  if (env !== undefined && env !== '') return Math.max(0, Number(env) | 0);
  return availableParallelism() >= worldSize ? 2000 : 100;
}

/** What a worker thread receives to join an in-process world. */
export interface InprocWorld {
  rank: number;
  worldSize: number;
  control: SharedArrayBuffer;
  slabs: Slabs;
  timeoutMs: number;
}

/** A group as the engine sees it: offsets into the control block. */
export class GroupState {
  readonly n: number;
  readonly counters: number[];
  constructor(
    readonly control: Control,
    readonly id: number,
    readonly base: number,
    readonly members: readonly number[],
    readonly me: number,
  ) {
    this.n = members.length;
    this.counters = members.map((_, m) => control.counterWord(base, this.n, m));
  }
  record(m: number, seq: number): number {
    return this.control.recordBase(this.base, this.n, m, seq & 1);
  }
  recordText(m: number, seq: number): string {
    const rb = this.record(m, seq);
    return this.control.readText((rb + REC_SPLITS + 2 * this.n) * 4, this.control.i32[rb + REC_TEXT_LEN]!);
  }
  describe(): string {
    const isWorld = this.id === 0;
    return isWorld ? `the world group (${this.n} ranks)` : `group [${this.members.join(', ')}]`;
  }
}

export type Wait =
  /** every member's counter >= target */
  | { kind: 'all'; g: GroupState; target: number; phase: number }
  /** a zone reader count reaches 0 */
  | { kind: 'zero'; word: number; what: string };

/** Something the engine drives: a collective (generator) or a receive. */
export interface Task {
  readonly call: CollectiveCall;
  readonly timeoutMs: number;
  /** Advance; returns true when finished. `blocking` lets it sleep until it can finish. */
  step(blocking: boolean): boolean;
  /** The word and value to waitAsync on while not finished. */
  waitTarget(): [number, number] | null;
  settle(error: unknown): void;
  readonly completed: boolean;
}

export class Deferred {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (e: unknown) => void;
  constructor() {
    this.promise = new Promise<void>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    this.promise.catch(() => {});
  }
}

/** A collective run from its generator. */
export class CollectiveTask implements Task {
  readonly deferred = new Deferred();
  completed = false;
  #wait: Wait | null = null;
  #deadline = 0;
  #started = false;
  constructor(
    readonly engine: Engine,
    readonly g: GroupState,
    readonly call: CollectiveCall,
    readonly timeoutMs: number,
    readonly gen: Generator<Wait, void, void>,
  ) {}

  step(blocking: boolean): boolean {
    if (!this.#started) {
      this.#started = true;
      this.#deadline = performance.now() + this.timeoutMs;
    }
    for (;;) {
      if (this.#wait) {
        if (!this.engine.satisfied(this.#wait)) {
          if (!blocking) {
            this.engine.health(this, this.#wait, this.#deadline);
            return false;
          }
          this.engine.block(this, this.#wait, this.#deadline);
        }
        this.#wait = null;
      }
      const r = this.gen.next();
      if (r.done) return true;
      this.#wait = r.value;
    }
  }

  waitTarget(): [number, number] | null {
    return this.#wait ? this.engine.waitWord(this.#wait) : null;
  }

  settle(error: unknown): void {
    this.completed = true;
    if (error === undefined) this.deferred.resolve();
    else {
      if (error instanceof CommError && !(error instanceof GroupAbortedError)) {
        this.engine.control.abortGroup(this.g.base, `rank ${this.engine.rank}: ${error.message}`, error instanceof CommTimeoutError ? 'timeout' : 'error');
      }
      this.deferred.reject(error);
    }
  }
}

export class Engine {
  readonly control: Control;
  readonly i32: Int32Array;
  readonly rank: number;
  readonly worldSize: number;
  readonly slabs: Slabs;
  readonly heap: HeapAllocator;
  readonly defaultTimeoutMs: number;
  #queue: Task[] = [];
  #side: Task[] = []; // receives and sends waiting for ring space: independent of the queue
  #armed = new Set<string>();
  /** toggles between the two small zones */
  smallToggle = 0;
  readonly spin: number;

  constructor(world: InprocWorld) {
    this.control = new Control(world.control);
    this.i32 = this.control.i32;
    this.rank = world.rank;
    this.worldSize = world.worldSize;
    this.slabs = world.slabs;
    this.heap = new HeapAllocator(world.slabs.heaps[world.rank]!);
    this.defaultTimeoutMs = world.timeoutMs;
    this.spin = spinCount(world.worldSize);
  }

  // ---- submission ---------------------------------------------------------------------------
  /** Queue a collective; a sync submit drives it (and anything queued before it) to completion. */
  submitCollective(task: Task, isAsync: boolean): void {
    this.#queue.push(task);
    if (isAsync) {
      if (this.#queue[0] === task) this.pump();
    } else {
      this.runUntil(task);
    }
  }

  /** Queue an independent task (p2p); it starts at once. */
  submitSide(task: Task, isAsync: boolean): void {
    this.#side.push(task);
    if (isAsync) this.pump();
    else this.runUntil(task);
  }

  /** Drive (blocking) until `task` is finished. */
  runUntil(task: Task): void {
    if (task.completed) return;
    if (this.#queue.includes(task)) {
      while (this.#queue.length) {
        const head = this.#queue[0]!;
        this.#finish(head, true);
        this.#queue.shift();
        if (head === task) break;
      }
      this.pump();
      return;
    }
    // a side task (p2p): step every side task in call order (so receives match messages in
    // the order they were posted), sleeping on the target's word in between
    for (;;) {
      this.#runSide();
      if (task.completed) break;
      const w = task.waitTarget();
      if (!w) continue;
      let k = 0;
      while (k < this.spin && Atomics.load(this.i32, w[0]) === w[1]) k++;
      if (k === this.spin) Atomics.wait(this.i32, w[0], w[1], SLICE_MS);
    }
    this.pump();
  }

  /** Non-blocking progress of everything, then arm async wake-ups. */
  pump(): void {
    while (this.#queue.length) {
      const head = this.#queue[0]!;
      if (!this.#finish(head, false)) break;
      this.#queue.shift();
    }
    this.#runSide();
    this.#arm();
  }

  /** Finish everything queued (used before a rank reports itself finished). */
  drain(): void {
    while (this.#queue.length) this.runUntil(this.#queue[this.#queue.length - 1]!);
    for (const t of [...this.#side]) this.runUntil(t);
  }

  get pending(): number {
    return this.#queue.length + this.#side.length;
  }

  #runSide(): void {
    for (const t of this.#side) if (!t.completed) this.#finish(t, false);
    this.#side = this.#side.filter((t) => !t.completed);
  }

  /** Step a task; returns true when it is finished (settled). */
  #finish(task: Task, blocking: boolean): boolean {
    if (task.completed) return true;
    let done: boolean;
    try {
      done = task.step(blocking);
    } catch (e) {
      task.settle(e);
      return true;
    }
    if (done) task.settle(undefined);
    return done;
  }

  #arm(): void {
    const targets: [number, number][] = [];
    const head = this.#queue[0];
    const t = head?.waitTarget();
    if (t) targets.push(t);
    for (const s of this.#side) {
      const w = s.waitTarget();
      if (w) targets.push(w);
    }
    for (const [word, value] of targets) {
      const key = `${word}:${value}`;
      if (this.#armed.has(key)) continue;
      const r = Atomics.waitAsync(this.i32, word, value, SLICE_MS);
      if (!r.async) {
        queueMicrotask(() => this.pump());
        continue;
      }
      this.#armed.add(key);
      void r.value.then(() => {
        this.#armed.delete(key);
        this.pump();
      });
    }
  }

  // ---- waits --------------------------------------------------------------------------------
  satisfied(w: Wait): boolean {
    const i32 = this.i32;
    switch (w.kind) {
      case 'all': {
        const c = w.g.counters;
        for (let m = 0; m < c.length; m++) if (Atomics.load(i32, c[m]!) < w.target) return false;
        return true;
      }
      case 'zero':
        return Atomics.load(i32, w.word) === 0;
    }
  }

  /** The word a wait sleeps on and the value it holds now. */
  waitWord(w: Wait): [number, number] {
    let word: number;
    if (w.kind === 'zero') word = w.word;
    else {
      word = w.g.counters[0]!;
      for (const c of w.g.counters) {
        if (Atomics.load(this.i32, c) < w.target) {
          word = c;
          break;
        }
      }
    }
    return [word, Atomics.load(this.i32, word)];
  }

  /** Sleep until `w` holds; throws on timeout, dead peers or an aborted group. */
  block(task: Task, w: Wait, deadline: number): void {
    const i32 = this.i32;
    for (let k = 0; k < this.spin; k++) if (this.satisfied(w)) return;
    for (;;) {
      if (this.satisfied(w)) return;
      this.health(task, w, deadline);
      const [word, value] = this.waitWord(w);
      if (w.kind === 'zero' ? value === 0 : value >= (w as { target: number }).target) continue;
      Atomics.wait(i32, word, value, Math.max(1, Math.min(SLICE_MS, deadline - performance.now())));
    }
  }

  /** Throw if the wait can no longer succeed (deadline passed, a peer died, the group aborted). */
  health(task: Task, w: Wait, deadline: number): void {
    checkWait(this, task, w, deadline);
  }
}
