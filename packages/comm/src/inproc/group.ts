// InprocGroup: the in-process backend's ProcessGroup (ranks are threads of one process).
import type { Tensor } from '@ds/core';
import { serializeError, type SerializedError } from '../errors.js';
import { BaseProcessGroup, type BackendWork, type CollectiveRequest, type RunContext } from '../group.js';
import type { CollectiveCall, ProcessGroup } from '../types.js';
import { createControl, RANK_FAILED, RANK_FINISHED } from './control.js';
import { CollectiveTask, Engine, GroupState, type InprocWorld, type Task } from './engine.js';
import * as ops from './ops.js';
import type { OpGen } from './protocol.js';
import { Mailbox, RecvTask, SendTask } from './p2p.js';
import { createSlabs } from './slab.js';

/** A Work over an engine task: `wait()` drives the engine (blocking) until the task is done. */
class EngineWork implements BackendWork {
  readonly done: Promise<void>;
  constructor(
    readonly engine: Engine,
    readonly task: Task & { deferred: { promise: Promise<void> } },
  ) {
    this.done = task.deferred.promise;
  }
  wait(): Promise<void> {
    this.engine.runUntil(this.task);
    return this.done;
  }
  isCompleted(): boolean {
    return this.task.completed;
  }
}

/** One rank's view of an in-process world: its engine, mailbox and world group. */
export class InprocRuntime {
  readonly engine: Engine;
  readonly mailbox: Mailbox;
  readonly world: InprocGroup;
  constructor(readonly info: InprocWorld) {
    this.engine = new Engine(info);
    this.mailbox = new Mailbox(this.engine);
    this.world = new InprocGroup(this, 0, info.timeoutMs);
  }
  /** Finish every queued op (called before the rank reports itself done). */
  drain(): void {
    this.engine.drain();
  }
  /** Record this rank as finished or failed in the shared control block (wakes waiting peers). */
  markFinished(error?: unknown): void {
    const c = this.engine.control;
    if (error === undefined) c.setRankState(this.info.rank, RANK_FINISHED, 'its script returned');
    else {
      const e = error instanceof Error ? `threw ${error.name}: ${error.message}` : `threw ${String(error)}`;
      c.setRankState(this.info.rank, RANK_FAILED, e);
    }
  }
  serializeError(e: unknown): SerializedError {
    return serializeError(e);
  }
}

export class InprocGroup extends BaseProcessGroup {
  readonly state: GroupState;
  constructor(
    readonly runtime: InprocRuntime,
    readonly groupId: number,
    timeoutMs: number,
  ) {
    const control = runtime.engine.control;
    const base = control.groupBase(groupId);
    const members = control.groupMembers(base);
    const me = members.indexOf(runtime.info.rank);
    if (me < 0) throw new Error(`in-process backend: rank ${runtime.info.rank} is not a member of group ${groupId}`);
    super({ rank: me, ranks: members, backend: 'inproc', timeoutMs });
    this.state = new GroupState(control, groupId, base, members, me);
  }

  protected runCollective(req: CollectiveRequest, ctx: RunContext): BackendWork {
    const env = { e: this.runtime.engine, g: this.state, call: ctx.call };
    let gen: OpGen;
    switch (req.kind) {
      case 'allReduce':
        gen = ops.allReduce(env, req.tensor, req.reduceOp);
        break;
      case 'reduce':
        gen = ops.reduce(env, req.tensor, req.root, req.reduceOp);
        break;
      case 'broadcast':
        gen = ops.broadcast(env, req.tensor, req.root);
        break;
      case 'allGatherInto': {
        const out = req.output.data();
        const k = req.input.numel;
        gen = ops.allGather(env, Array.from({ length: this.size }, (_, j) => out.subarray(j * k, (j + 1) * k)), req.input);
        break;
      }
      case 'allGather':
        gen = ops.allGather(env, req.outputs.map((o) => o.data()), req.input);
        break;
      case 'reduceScatter':
        gen = ops.reduceScatter(env, req.output, req.input, req.reduceOp);
        break;
      case 'allToAll':
        gen = ops.allToAll(env, req.output, req.input, req.outputSplits, req.inputSplits, req.rowElems);
        break;
      case 'barrier':
        gen = ops.barrier(env);
        break;
    }
    return this.#submit(gen, ctx.call, ctx);
  }

  #submit(gen: OpGen, call: CollectiveCall, ctx: RunContext): EngineWork {
    const engine = this.runtime.engine;
    const task = new CollectiveTask(engine, this.state, call, ctx.timeoutMs, gen);
    engine.submitCollective(task, ctx.async);
    return new EngineWork(engine, task);
  }

  protected runSend(tensor: Tensor, dst: number, tag: number, ctx: RunContext): BackendWork {
    const task = new SendTask(this.runtime.mailbox, this.state, ctx.call, ctx.timeoutMs, tensor, this.ranks[dst]!, tag);
    this.runtime.engine.submitSide(task, ctx.async);
    return new EngineWork(this.runtime.engine, task);
  }

  protected runRecv(tensor: Tensor, src: number, tag: number, ctx: RunContext): BackendWork {
    const task = new RecvTask(this.runtime.mailbox, this.state, ctx.call, ctx.timeoutMs, tensor, this.ranks[src]!, tag);
    this.runtime.engine.submitSide(task, ctx.async);
    return new EngineWork(this.runtime.engine, task);
  }

  protected async runNewGroup(ranks: readonly number[], ctx: RunContext): Promise<ProcessGroup | null> {
    const result = { id: -1 };
    const env = { e: this.runtime.engine, g: this.state, call: ctx.call };
    const work = this.#submit(ops.newGroup(env, ranks, result), ctx.call, ctx);
    await work.done;
    if (!ranks.includes(this.runtime.info.rank)) return null;
    return new InprocGroup(this.runtime, result.id, this.timeoutMs);
  }

  protected async release(): Promise<void> {
    // Ops already queued on this rank still complete (peers depend on them); nothing to free:
    // the group's block lives as long as the world's control block.
  }
}

/** A world of one rank in this thread (what initDistributed returns outside any launcher). */
export function createSoloWorld(timeoutMs: number): InprocRuntime {
  const control = createControl({ worldSize: 1, maxGroups: 4096 });
  const slabs = createSlabs(1, { smallZoneBytes: 64 * 1024 });
  return new InprocRuntime({ rank: 0, worldSize: 1, control: control.sab, slabs, timeoutMs });
}

