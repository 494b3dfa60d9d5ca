// The gloo backend's ProcessGroup. @ds/comm's BaseProcessGroup validates the arguments,
// numbers the calls and times them for the comms logger; this class hands flat buffers to the
// binding (which runs each collective on the group's comm thread, in issue order, off the JS
// thread), wraps each call in a GlooWork (whose wait() blocks until the call is done) and turns
// the binding's errors into @ds/comm's error classes.
import { functional, type Tensor } from '@ds/core';
import {
  BaseProcessGroup,
  CommError,
  CommMismatchError,
  CommTimeoutError,
  GroupAbortedError,
  RankFailedError,
  type BackendWork,
  type CollectiveOp,
  type CollectiveRequest,
  type RunContext,
} from '@ds/comm';
import { DTYPE_CODE, REDUCE_OP_CODE, type GlooNative, type GroupTransport, type NativeCommError, type NativeGroup, type OnDone } from './native.js';
import { storeHandler, type StoreLike } from './rendezvous.js';
import { allocLike, flatView } from './tensors.js';
import { GlooWork } from './work.js';

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

  /** How this group's collectives travel: shared memory between processes of one host, or TCP. */
  get transport(): GroupTransport {
    return this.#native.transport ?? { collectives: 'local' };
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
    let issue: (onDone: OnDone) => number;
    let onSuccess: (() => void) | undefined;
    switch (req.kind) {
      case 'allReduce': {
        const t = req.tensor;
        issue = (done) => g.allReduce(t.data() as never, DTYPE_CODE[t.dtype], REDUCE_OP_CODE[req.reduceOp], timeoutMs, t.shape, seq, done);
        break;
      }
      case 'reduce': {
        const t = req.tensor;
        issue = (done) => g.reduce(t.data() as never, DTYPE_CODE[t.dtype], REDUCE_OP_CODE[req.reduceOp], req.root, timeoutMs, t.shape, seq, done);
        break;
      }
      case 'broadcast': {
        const t = req.tensor;
        issue = (done) => g.broadcast(t.data() as never, DTYPE_CODE[t.dtype], req.root, timeoutMs, t.shape, seq, done);
        break;
      }
      case 'allGatherInto': {
        const { output, input } = req;
        issue = (done) => g.allGather(output.data() as never, input.data() as never, DTYPE_CODE[input.dtype], timeoutMs, input.shape, seq, done);
        break;
      }
      case 'allGather': {
        const { outputs, input } = req;
        const n = input.numel;
        const flat = allocLike(input, n * this.size);
        issue = (done) => g.allGather(flat, input.data() as never, DTYPE_CODE[input.dtype], timeoutMs, input.shape, seq, done);
        onSuccess = () => outputs.forEach((o, i) => functional.writeElements(o, flat.subarray(i * n, (i + 1) * n)));
        break;
      }
      case 'reduceScatter': {
        const { output, input } = req;
        const op = REDUCE_OP_CODE[req.reduceOp];
        issue = (done) => g.reduceScatter(output.data() as never, input.data() as never, DTYPE_CODE[input.dtype], op, timeoutMs, input.shape, seq, done);
        break;
      }
      case 'allToAll': {
        // Always the split variant: ranks may pass different (even or uneven) splits of one exchange.
        const { output, input, rowElems } = req;
        const outRowElems = output.shape[0] === 0 ? rowElems : output.numel / output.shape[0]!;
        const outCounts = req.outputSplits.map((s) => s * outRowElems);
        const inCounts = req.inputSplits.map((s) => s * rowElems);
        issue = (done) =>
          g.allToAll(output.data() as never, input.data() as never, DTYPE_CODE[input.dtype], outCounts, inCounts, timeoutMs, input.shape, seq, done);
        break;
      }
      case 'barrier':
        issue = (done) => g.barrier(timeoutMs, seq, done);
        break;
    }
    return GlooWork.start(g, issue, (err) => this.#wrap(call.op, err), onSuccess);
  }

  protected runSend(tensor: Tensor, dst: number, tag: number, ctx: RunContext): BackendWork {
    const v = flatView(tensor);
    const g = this.#native;
    return GlooWork.start(
      g,
      (done) => g.send(v.data, DTYPE_CODE[tensor.dtype], dst, tag, ctx.timeoutMs, tensor.shape, done),
      (err) => this.#wrap('send', err),
    );
  }

  protected runRecv(tensor: Tensor, src: number, tag: number, ctx: RunContext): BackendWork {
    const v = flatView(tensor);
    const g = this.#native;
    return GlooWork.start(
      g,
      (done) => g.recv(v.data, DTYPE_CODE[tensor.dtype], src, tag, ctx.timeoutMs, tensor.shape, done),
      (err) => this.#wrap('recv', err),
      () => v.writeBack(),
    );
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
