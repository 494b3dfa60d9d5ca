// The gloo backend's ProcessGroup. @ds/comm's BaseProcessGroup validates the arguments,
// numbers the calls, times them for the comms logger and makes Work handles; this class hands
// flat buffers to the binding (which runs each collective on the group's comm thread, in issue
// order, off the JS thread) and turns the binding's errors into @ds/comm's error classes.
import { functional, type Tensor } from '@ds/core';
import {
  BaseProcessGroup,
  CommError,
  CommMismatchError,
  CommTimeoutError,
  GroupAbortedError,
  PromiseWork,
  RankFailedError,
  type BackendWork,
  type CollectiveOp,
  type CollectiveRequest,
  type RunContext,
} from '@ds/comm';
import { DTYPE_CODE, REDUCE_OP_CODE, type GlooNative, type NativeCommError, type NativeGroup } from './native.js';
import { storeHandler, type StoreLike } from './rendezvous.js';
import { allocLike, flatView } from './tensors.js';

/** Everything a group (and the subgroups it creates) needs to rendezvous. */
export interface GroupConfig {
  lib: GlooNative;
  store: StoreLike | null;
  storePath?: string;
  hostname?: string;
  iface?: string;
  check: boolean;
  timeoutMs: number;
  initTimeoutMs: number;
}

export class GlooProcessGroup extends BaseProcessGroup {
  readonly #native: NativeGroup;
  readonly #cfg: GroupConfig;
  readonly #prefix: string;
  readonly #onDestroy: Array<() => Promise<void> | void> = [];

  private constructor(native: NativeGroup, cfg: GroupConfig, rank: number, ranks: readonly number[], prefix: string) {
    super({ rank, ranks, backend: 'gloo', timeoutMs: cfg.timeoutMs });
    this.#native = native;
    this.#cfg = cfg;
    this.#prefix = prefix;
  }

  /** Rendezvous with the other members (collective over them) and connect every pair. */
  static async connect(cfg: GroupConfig, rank: number, ranks: readonly number[], prefix: string): Promise<GlooProcessGroup> {
    const native = new cfg.lib.Group({
      rank,
      size: ranks.length,
      ranks,
      hostname: cfg.hostname,
      iface: cfg.iface,
      prefix,
      timeoutMs: cfg.timeoutMs,
      initTimeoutMs: cfg.initTimeoutMs,
      check: cfg.check,
      storePath: cfg.storePath,
      store: cfg.store ? storeHandler(cfg.store) : undefined,
    });
    try {
      await native.connect();
    } catch (err) {
      await native.close().catch(() => {});
      throw err;
    }
    return new GlooProcessGroup(native, cfg, rank, ranks, prefix);
  }

  /** Each rank's Gloo listening address ('[ip]:port'), in group-rank order. */
  get addresses(): readonly string[] {
    return this.#native.peerAddresses;
  }

  /** Why the group is unusable (after a timeout, mismatch or lost peer), or null. */
  get brokenReason(): string | null {
    return this.#native.broken;
  }

  /** Registers cleanup run after destroy() (e.g. closing a store this group owns). */
  onDestroy(fn: () => Promise<void> | void): void {
    this.#onDestroy.push(fn);
  }

  protected runCollective(req: CollectiveRequest, ctx: RunContext): BackendWork {
    const { call, timeoutMs } = ctx;
    const seq = call.seq;
    const g = this.#native;
    let p: Promise<void>;
    switch (req.kind) {
      case 'allReduce': {
        const t = req.tensor;
        p = g.allReduce(t.data() as never, DTYPE_CODE[t.dtype], REDUCE_OP_CODE[req.reduceOp], timeoutMs, t.shape, seq);
        break;
      }
      case 'reduce': {
        const t = req.tensor;
        p = g.reduce(t.data() as never, DTYPE_CODE[t.dtype], REDUCE_OP_CODE[req.reduceOp], req.root, timeoutMs, t.shape, seq);
        break;
      }
      case 'broadcast': {
        const t = req.tensor;
        p = g.broadcast(t.data() as never, DTYPE_CODE[t.dtype], req.root, timeoutMs, t.shape, seq);
        break;
      }
      case 'allGatherInto': {
        const { output, input } = req;
        p = g.allGather(output.data() as never, input.data() as never, DTYPE_CODE[input.dtype], timeoutMs, input.shape, seq);
        break;
      }
      case 'allGather': {
        const { outputs, input } = req;
        const n = input.numel;
        const flat = allocLike(input, n * this.size);
        p = g
          .allGather(flat, input.data() as never, DTYPE_CODE[input.dtype], timeoutMs, input.shape, seq)
          .then(() => outputs.forEach((o, i) => functional.writeElements(o, flat.subarray(i * n, (i + 1) * n))));
        break;
      }
      case 'reduceScatter': {
        const { output, input } = req;
        p = g.reduceScatter(
          output.data() as never,
          input.data() as never,
          DTYPE_CODE[input.dtype],
          REDUCE_OP_CODE[req.reduceOp],
          timeoutMs,
          input.shape,
          seq,
        );
        break;
      }
      case 'allToAll': {
        // Always the split variant: ranks may pass different (even or uneven) splits of one exchange.
        const { output, input, rowElems } = req;
        const outRowElems = output.shape[0] === 0 ? rowElems : output.numel / output.shape[0]!;
        const outCounts = req.outputSplits.map((s) => s * outRowElems);
        const inCounts = req.inputSplits.map((s) => s * rowElems);
        p = g.allToAll(output.data() as never, input.data() as never, DTYPE_CODE[input.dtype], outCounts, inCounts, timeoutMs, input.shape, seq);
        break;
      }
      case 'barrier':
        p = g.barrier(timeoutMs, seq);
        break;
    }
    return new PromiseWork(p.catch((err: unknown) => Promise.reject(this.#wrap(call.op, err))));
  }

  protected runSend(tensor: Tensor, dst: number, tag: number, ctx: RunContext): BackendWork {
    const v = flatView(tensor);
    const p = this.#native.send(v.data, DTYPE_CODE[tensor.dtype], dst, tag, ctx.timeoutMs, tensor.shape);
    return new PromiseWork(p.catch((err: unknown) => Promise.reject(this.#wrap('send', err))));
  }

  protected runRecv(tensor: Tensor, src: number, tag: number, ctx: RunContext): BackendWork {
    const v = flatView(tensor);
    const p = this.#native.recv(v.data, DTYPE_CODE[tensor.dtype], src, tag, ctx.timeoutMs, tensor.shape).then(() => v.writeBack());
    return new PromiseWork(p.catch((err: unknown) => Promise.reject(this.#wrap('recv', err))));
  }

  protected async runNewGroup(ranks: readonly number[], ctx: RunContext): Promise<GlooProcessGroup | null> {
    const me = ranks.indexOf(this.ranks[this.rank]!);
    if (me < 0) return null;
    // Every member numbers newGroup like a collective, so (seq, ranks) names the same subgroup
    // on all of them, and mismatched calls wait on different keys instead of meeting.
    const prefix = `${this.#prefix}/g${ctx.call.seq}[${ranks.join(',')}]`;
    const cfg: GroupConfig = { ...this.#cfg, timeoutMs: this.timeoutMs, initTimeoutMs: Math.max(ctx.timeoutMs, this.#cfg.initTimeoutMs) };
    return GlooProcessGroup.connect(cfg, me, ranks, prefix);
  }

  protected async release(): Promise<void> {
    // A short barrier first, so no rank closes its sockets while a peer still reads from them.
    if (this.size > 1 && this.#native.broken === null) {
      await this.#native.barrier(Math.min(this.timeoutMs, 5000)).catch(() => {});
    }
    await this.#native.close();
    for (const fn of this.#onDestroy.splice(0)) await fn();
  }

  #wrap(op: CollectiveOp, err: unknown): unknown {
    if (!(err instanceof Error)) return err;
    const e = err as Partial<NativeCommError>;
    if (typeof e.code !== 'string' || !e.code.startsWith('DS_COMM_')) return err;
    const details = { op, seq: typeof e.seq === 'number' ? e.seq : -1, groupRanks: this.ranks };
    const ranks = Array.isArray(e.ranks) ? e.ranks : [];
    let out: CommError;
    switch (e.code) {
      case 'DS_COMM_TIMEOUT':
        out = new CommTimeoutError(err.message, { ...details, missingRanks: ranks, timeoutMs: this.timeoutMs });
        break;
      case 'DS_COMM_MISMATCH':
        out = new CommMismatchError(err.message, { ...details, ranksInConflict: [0, ranks[0] ?? 0] });
        break;
      case 'DS_COMM_PEER_LOST':
        out = new RankFailedError(err.message, { ...details, failedRanks: ranks });
        break;
      case 'DS_COMM_BROKEN':
        out = new GroupAbortedError(err.message, details);
        break;
      default:
        out = new CommError(err.message, details);
    }
    Object.assign(out, { code: e.code, rank: this.rank });
    return out;
  }
}
