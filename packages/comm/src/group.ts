// BaseProcessGroup: the backend-independent half of a ProcessGroup. It validates arguments,
// numbers the collectives, builds the call descriptor every rank records, times ops for the
// comms logger and turns `{ async: true }` into a Work handle. A backend (in-process threads,
// Gloo, MPI, NCCL) extends it and implements the `run*` methods.
import type { Tensor } from '@ds/core';
import { bytesPerElement } from '@ds/core';
import { GroupAbortedError } from './errors.js';
import { commsLogger } from './logger.js';
import type { CollectiveCall, CollectiveOptions, CollectiveOp, CollectiveResult, ProcessGroup, ReduceOp, Work } from './types.js';
import {
  checkNumel, checkRank, checkReduceOp, checkSameDtype, checkSplits, checkTag, checkTensor, checkTimeout, rowsOf,
} from './validate.js';

/** A backend's handle on an op: `done` settles when the op finishes, without driving it. */
export interface BackendWork extends Work {
  readonly done: Promise<void>;
}

/** A validated collective, as a backend receives it. Splits are in rows (dim 0). */
export type CollectiveRequest =
  | { kind: 'allReduce'; tensor: Tensor; reduceOp: ReduceOp }
  | { kind: 'reduce'; tensor: Tensor; root: number; reduceOp: ReduceOp }
  | { kind: 'broadcast'; tensor: Tensor; root: number }
  | { kind: 'allGatherInto'; output: Tensor; input: Tensor }
  | { kind: 'allGather'; outputs: Tensor[]; input: Tensor }
  | { kind: 'reduceScatter'; output: Tensor; input: Tensor; reduceOp: ReduceOp }
  | { kind: 'allToAll'; output: Tensor; input: Tensor; outputSplits: number[]; inputSplits: number[]; rowElems: number }
  | { kind: 'barrier' };

export interface RunContext {
  /** What this rank called (recorded for mismatch and timeout diagnostics). */
  call: CollectiveCall;
  timeoutMs: number;
  /** The caller asked for a Work handle; a sync call may block its thread until done. */
  async: boolean;
}

/** A Work over a promise (for backends whose ops are promise-based). */
export class PromiseWork implements BackendWork {
  readonly done: Promise<void>;
  #completed = false;
  constructor(promise: Promise<void>) {
    this.done = promise.then(
      () => {
        this.#completed = true;
      },
      (e: unknown) => {
        this.#completed = true;
        throw e;
      },
    );
    this.done.catch(() => {}); // the error is reported by wait()
  }
  wait(): Promise<void> {
    return this.done;
  }
  isCompleted(): boolean {
    return this.#completed;
  }
}

/** Default collective timeout: DS_COMM_TIMEOUT_MS, else 5 minutes. */
export function defaultTimeoutMs(): number {
  const env = process.env.DS_COMM_TIMEOUT_MS;
  if (env !== undefined && env !== '') return checkTimeout('DS_COMM_TIMEOUT_MS', Number(env));
  return 5 * 60_000;
}

export interface BaseGroupInit {
  rank: number;
  ranks: readonly number[];
  backend: string;
  timeoutMs?: number;
}

export abstract class BaseProcessGroup implements ProcessGroup {
  readonly rank: number;
  readonly size: number;
  readonly ranks: readonly number[];
  readonly backend: string;
  #timeoutMs: number;
  #seq = 0;
  #destroyed = false;

  constructor(init: BaseGroupInit) {
    this.rank = init.rank;
    this.ranks = Object.freeze([...init.ranks]);
    this.size = this.ranks.length;
    this.backend = init.backend;
    this.#timeoutMs = checkTimeout('ProcessGroup', init.timeoutMs ?? defaultTimeoutMs());
  }

  get timeoutMs(): number {
    return this.#timeoutMs;
  }
  set timeoutMs(ms: number) {
    this.#timeoutMs = checkTimeout('ProcessGroup.timeoutMs', ms);
  }
  get seq(): number {
    return this.#seq;
  }
  get destroyed(): boolean {
    return this.#destroyed;
  }

  // ---- what a backend implements ----------------------------------------------------------
  protected abstract runCollective(req: CollectiveRequest, ctx: RunContext): BackendWork;
  protected abstract runSend(tensor: Tensor, dst: number, tag: number, ctx: RunContext): BackendWork;
  protected abstract runRecv(tensor: Tensor, src: number, tag: number, ctx: RunContext): BackendWork;
  /** Collective over this group; members get the new group, others null. */
  protected abstract runNewGroup(ranks: readonly number[], ctx: RunContext): Promise<ProcessGroup | null>;
  protected abstract release(): Promise<void>;

  // ---- ProcessGroup -------------------------------------------------------------------------
  allReduce<O extends CollectiveOptions>(tensor: Tensor, op: ReduceOp = 'sum', opts?: O): CollectiveResult<O> {
    const t = checkTensor('allReduce', 'tensor', tensor);
    const reduceOp = checkReduceOp('allReduce', op, t.dtype);
    const call = this.#call('allReduce', t, [t.shape], { reduceOp });
    return this.#collective({ kind: 'allReduce', tensor: t, reduceOp }, call, bytesOf(t), opts);
  }

  reduce<O extends CollectiveOptions>(tensor: Tensor, dst: number, op: ReduceOp = 'sum', opts?: O): CollectiveResult<O> {
    const t = checkTensor('reduce', 'tensor', tensor);
    const root = checkRank('reduce', 'dst', dst, this.size);
    const reduceOp = checkReduceOp('reduce', op, t.dtype);
    const call = this.#call('reduce', t, [t.shape], { reduceOp, root });
    return this.#collective({ kind: 'reduce', tensor: t, root, reduceOp }, call, bytesOf(t), opts);
  }

  broadcast<O extends CollectiveOptions>(tensor: Tensor, src: number, opts?: O): CollectiveResult<O> {
    const t = checkTensor('broadcast', 'tensor', tensor);
    const root = checkRank('broadcast', 'src', src, this.size);
    const call = this.#call('broadcast', t, [t.shape], { root });
    return this.#collective({ kind: 'broadcast', tensor: t, root }, call, bytesOf(t), opts);
  }

  allGatherInto<O extends CollectiveOptions>(output: Tensor, input: Tensor, opts?: O): CollectiveResult<O> {
    const inp = checkTensor('allGatherInto', 'input', input);
    const out = checkTensor('allGatherInto', 'output', output);
    checkSameDtype('allGatherInto', 'output', out, inp.dtype);
    checkNumel('allGatherInto', `output (shape [${out.shape.join(', ')}])`, out.numel, inp.numel * this.size);
    const call = this.#call('allGatherInto', inp, [out.shape, inp.shape], {});
    return this.#collective({ kind: 'allGatherInto', output: out, input: inp }, call, bytesOf(inp), opts);
  }

  allGather<O extends CollectiveOptions>(outputs: Tensor[], input: Tensor, opts?: O): CollectiveResult<O> {
    const inp = checkTensor('allGather', 'input', input);
    if (!Array.isArray(outputs) || outputs.length !== this.size) {
      throw new RangeError(`allGather: outputs must be a list of ${this.size} tensors (one per rank), got ${Array.isArray(outputs) ? outputs.length : typeof outputs}`);
    }
    const outs = outputs.map((o, i) => {
      const t = checkTensor('allGather', `outputs[${i}]`, o);
      checkSameDtype('allGather', `outputs[${i}]`, t, inp.dtype);
      checkNumel('allGather', `outputs[${i}]`, t.numel, inp.numel);
      return t;
    });
    const call = this.#call('allGather', inp, [...outs.map((o) => o.shape), inp.shape], {});
    return this.#collective({ kind: 'allGather', outputs: outs, input: inp }, call, bytesOf(inp), opts);
  }

  reduceScatter<O extends CollectiveOptions>(output: Tensor, input: Tensor, op: ReduceOp = 'sum', opts?: O): CollectiveResult<O> {
    const inp = checkTensor('reduceScatter', 'input', input);
    const out = checkTensor('reduceScatter', 'output', output);
    checkSameDtype('reduceScatter', 'output', out, inp.dtype);
    checkNumel('reduceScatter', `input (shape [${inp.shape.join(', ')}])`, inp.numel, out.numel * this.size);
    const reduceOp = checkReduceOp('reduceScatter', op, inp.dtype);
    const call = this.#call('reduceScatter', inp, [out.shape, inp.shape], { reduceOp });
    return this.#collective({ kind: 'reduceScatter', output: out, input: inp, reduceOp }, call, bytesOf(out), opts);
  }

  allToAll<O extends CollectiveOptions>(
    output: Tensor,
    input: Tensor,
    outputSplits?: readonly number[] | null,
    inputSplits?: readonly number[] | null,
    opts?: O,
  ): CollectiveResult<O> {
    const inp = checkTensor('allToAll', 'input', input);
    const out = checkTensor('allToAll', 'output', output);
    checkSameDtype('allToAll', 'output', out, inp.dtype);
    const a = rowsOf('allToAll', 'input', inp);
    const b = rowsOf('allToAll', 'output', out);
    const trailing = (t: Tensor): string => `[${t.shape.slice(1).join(', ')}]`;
    if (inp.ndim !== out.ndim || trailing(inp) !== trailing(out)) {
      throw new RangeError(`allToAll: input ${`[${inp.shape.join(', ')}]`} and output ${`[${out.shape.join(', ')}]`} must have the same dims after dim 0 (${trailing(inp)} vs ${trailing(out)})`);
    }
    const ins = checkSplits('allToAll', 'inputSplits', inputSplits, a.rows, this.size);
    const outs = checkSplits('allToAll', 'outputSplits', outputSplits, b.rows, this.size);
    const call = this.#call('allToAll', inp, [out.shape, inp.shape], {
      ...(inputSplits ? { inputSplits: ins } : {}),
      ...(outputSplits ? { outputSplits: outs } : {}),
    });
    return this.#collective(
      { kind: 'allToAll', output: out, input: inp, outputSplits: outs, inputSplits: ins, rowElems: a.rowElems },
      call,
      bytesOf(inp),
      opts,
    );
  }

  barrier<O extends CollectiveOptions>(opts?: O): CollectiveResult<O> {
    const call = this.#call('barrier', null, [], {});
    return this.#collective({ kind: 'barrier' }, call, 0, opts);
  }

  send(tensor: Tensor, dst: number, tag = 0, opts?: { timeoutMs?: number }): Promise<void> {
    return this.#p2p('send', tensor, dst, tag, opts, false).done;
  }
  recv(tensor: Tensor, src: number, tag = 0, opts?: { timeoutMs?: number }): Promise<void> {
    return this.#p2p('recv', tensor, src, tag, opts, false).done;
  }
  isend(tensor: Tensor, dst: number, tag = 0, opts?: { timeoutMs?: number }): Work {
    return this.#p2p('send', tensor, dst, tag, opts, true);
  }
  irecv(tensor: Tensor, src: number, tag = 0, opts?: { timeoutMs?: number }): Work {
    return this.#p2p('recv', tensor, src, tag, opts, true);
  }

  async newGroup(ranks: readonly number[], opts?: { timeoutMs?: number }): Promise<ProcessGroup | null> {
    if (!Array.isArray(ranks) || ranks.length === 0) throw new RangeError(`newGroup: ranks must be a non-empty list of global ranks, got ${JSON.stringify(ranks)}`);
    const seen = new Set<number>();
    for (const r of ranks) {
      if (!this.ranks.includes(r)) {
        throw new RangeError(`newGroup: global rank ${String(r)} is not a member of this group (members: [${this.ranks.join(', ')}])`);
      }
      if (seen.has(r)) throw new RangeError(`newGroup: rank ${r} is listed twice in ${JSON.stringify(ranks)}`);
      seen.add(r);
    }
    const call = this.#call('newGroup', null, [], { groupRanks: [...ranks] });
    const timeoutMs = opts?.timeoutMs !== undefined ? checkTimeout('newGroup', opts.timeoutMs) : this.#timeoutMs;
    return this.runNewGroup([...ranks], { call, timeoutMs, async: false });
  }

  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await this.release();
  }

  /** Global rank of group rank `groupRank`. */
  globalRank(groupRank: number): number {
    return this.ranks[checkRank('barrier', 'groupRank', groupRank, this.size)]!;
  }

  // ---- internals ----------------------------------------------------------------------------
  #alive(op: CollectiveOp): void {
    if (this.#destroyed) {
      throw new GroupAbortedError(`${op}: this process group was destroyed`, { op, seq: this.#seq, groupRanks: this.ranks });
    }
  }

  #call(op: CollectiveOp, t: Tensor | null, shapes: (readonly number[])[], extra: Partial<CollectiveCall>): CollectiveCall {
    this.#alive(op);
    return { op, seq: this.#seq++, dtype: t ? t.dtype : null, shapes: shapes.map((s) => [...s]), ...extra };
  }

  #collective<O extends CollectiveOptions>(req: CollectiveRequest, call: CollectiveCall, bytes: number, opts: O | undefined): CollectiveResult<O> {
    const timeoutMs = opts?.timeoutMs !== undefined ? checkTimeout(call.op, opts.timeoutMs) : this.#timeoutMs;
    const isAsync = !!opts?.async;
    const logger = commsLogger();
    const timed = logger.shouldProfile(call.op, opts);
    const t0 = timed ? performance.now() : 0;
    const work = this.runCollective(req, { call, timeoutMs, async: isAsync });
    if (timed) {
      const size = this.size;
      const log = (): void => logger.record(call.op, bytes, performance.now() - t0, size, opts?.logName);
      if (work.isCompleted()) log();
      else work.done.then(log, () => {});
    }
    return (isAsync ? work : work.done) as CollectiveResult<O>;
  }

  #p2p(op: 'send' | 'recv', tensor: Tensor, peer: number, tag: number, opts: { timeoutMs?: number } | undefined, isAsync: boolean): BackendWork {
    this.#alive(op);
    const t = checkTensor(op, 'tensor', tensor);
    const p = checkRank(op, op === 'send' ? 'dst' : 'src', peer, this.size);
    if (p === this.rank) throw new RangeError(`${op}: a rank cannot ${op} ${op === 'send' ? 'to' : 'from'} itself (rank ${p})`);
    const g = checkTag(op, tag);
    const timeoutMs = opts?.timeoutMs !== undefined ? checkTimeout(op, opts.timeoutMs) : this.#timeoutMs;
    const call: CollectiveCall = { op, seq: -1, dtype: t.dtype, shapes: [[...t.shape]], peer: p, tag: g };
    const logger = commsLogger();
    const timed = logger.shouldProfile(op);
    const t0 = timed ? performance.now() : 0;
    const ctx = { call, timeoutMs, async: isAsync };
    const work = op === 'send' ? this.runSend(t, p, g, ctx) : this.runRecv(t, p, g, ctx);
    if (timed) {
      const log = (): void => logger.record(op, bytesOf(t), performance.now() - t0, 2);
      if (work.isCompleted()) log();
      else work.done.then(log, () => {});
    }
    return work;
  }
}

function bytesOf(t: Tensor): number {
  return t.numel * bytesPerElement(t.dtype);
}
