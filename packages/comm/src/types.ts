// The communication contract every backend implements (in-process threads, Gloo/MPI
// processes, NCCL later). Strategies talk only to ProcessGroup.
//
// Rank arguments of the methods (root, src, dst) are ranks *within the group* (0..size-1);
// `group.ranks[i]` maps group rank i to its global (world) rank. `newGroup` takes global ranks.
import type { DType, Tensor } from '@ds/core';

export type ReduceOp = 'sum' | 'avg' | 'max' | 'min' | 'product';

/** Every reduce op, in DeepSpeed's ReduceOp order where it has one. */
export const REDUCE_OPS: readonly ReduceOp[] = ['sum', 'product', 'min', 'max', 'avg'];

/** A collective in flight; `wait()` resolves when its output is ready (and rejects with its error). */
export interface Work {
  wait(): Promise<void>;
  /** True once the operation has finished (successfully or not). */
  isCompleted(): boolean;
}

export interface CollectiveOptions {
  /** Return a Work handle immediately instead of waiting (so the rank can keep computing). */
  async?: boolean;
  /** Override the group's timeout for this call, in milliseconds. */
  timeoutMs?: number;
  /** Name the comms logger records this call under (DeepSpeed's `log_name`); default: the op name. */
  logName?: string;
  /** Time this call even when the logger's `profAll` is off (DeepSpeed's `prof=True`). */
  prof?: boolean;
}

/** Result type: a Work handle when `{ async: true }`, else a promise that settles when done. */
export type CollectiveResult<O extends CollectiveOptions | undefined> = O extends { async: true } ? Work : Promise<void>;

/** The operations a group can run; the names appear in errors and in the comms logger. */
export type CollectiveOp =
  | 'allReduce'
  | 'reduce'
  | 'broadcast'
  | 'allGather'
  | 'allGatherInto'
  | 'reduceScatter'
  | 'allToAll'
  | 'barrier'
  | 'newGroup'
  | 'send'
  | 'recv';

/**
 * What one rank called at one sequence number of a group. Each rank records it before it
 * waits for its peers, so a timeout can say what the arrived ranks called and a mismatch
 * (different op, shapes, dtype or parameters at the same sequence number) is detected
 * instead of hanging or corrupting data.
 */
export interface CollectiveCall {
  op: CollectiveOp;
  /** Per-group sequence number (0 for the group's first collective). Not used by send/recv. */
  seq: number;
  /** Element type (null for barrier / newGroup). */
  dtype: DType | null;
  /** Shapes of the tensor arguments, in argument order (outputs first where the API has them first). */
  shapes: number[][];
  reduceOp?: ReduceOp;
  /** Root (group rank) of broadcast / reduce. */
  root?: number;
  /** allToAll split sizes (rows along dim 0), when given. */
  inputSplits?: number[];
  outputSplits?: number[];
  /** newGroup: the global ranks of the new group. */
  groupRanks?: number[];
  /** send/recv: peer group rank and tag. */
  peer?: number;
  tag?: number;
}

export interface ProcessGroup {
  /** This rank's index within the group. */
  readonly rank: number;
  readonly size: number;
  /** Global (world) ranks of the members, in group-rank order. */
  readonly ranks: readonly number[];
  /** Backend name: 'inproc' | 'gloo' | 'mpi' | 'nccl' | third party. */
  readonly backend: string;
  /** Default timeout of this group's collectives, in milliseconds (settable). */
  timeoutMs: number;
  /** The sequence number the next collective on this group will get. */
  readonly seq: number;

  /** Reduce `tensor` in place across the group; every rank gets the result. */
  allReduce<O extends CollectiveOptions>(tensor: Tensor, op?: ReduceOp, opts?: O): CollectiveResult<O>;
  /** Reduce into `tensor` on group rank `dst` (other ranks' tensors are left unchanged). */
  reduce<O extends CollectiveOptions>(tensor: Tensor, dst: number, op?: ReduceOp, opts?: O): CollectiveResult<O>;
  broadcast<O extends CollectiveOptions>(tensor: Tensor, src: number, opts?: O): CollectiveResult<O>;
  /** output (numel = size * input.numel) receives every rank's input, in rank order. */
  allGatherInto<O extends CollectiveOptions>(output: Tensor, input: Tensor, opts?: O): CollectiveResult<O>;
  /** outputs[i] (one tensor per rank, each input's numel) receives rank i's input. */
  allGather<O extends CollectiveOptions>(outputs: Tensor[], input: Tensor, opts?: O): CollectiveResult<O>;
  /** input (numel = size * output.numel) is reduced and rank i keeps chunk i. */
  reduceScatter<O extends CollectiveOptions>(output: Tensor, input: Tensor, op?: ReduceOp, opts?: O): CollectiveResult<O>;
  /**
   * all_to_all_single: rank i's input is cut along dim 0 into `inputSplits` (rows, equal when
   * omitted); piece j goes to rank j, and `output` receives the pieces from ranks 0..size-1 in
   * order, sized `outputSplits` rows (equal when omitted).
   */
  allToAll<O extends CollectiveOptions>(
    output: Tensor,
    input: Tensor,
    outputSplits?: readonly number[] | null,
    inputSplits?: readonly number[] | null,
    opts?: O,
  ): CollectiveResult<O>;
  /** Point to point, matched per (src, dst, tag) in call order. `dst`/`src` are group ranks. */
  send(tensor: Tensor, dst: number, tag?: number, opts?: { timeoutMs?: number }): Promise<void>;
  recv(tensor: Tensor, src: number, tag?: number, opts?: { timeoutMs?: number }): Promise<void>;
  /** Non-blocking send: returns at once; the tensor must not be modified until `wait()` resolves. */
  isend(tensor: Tensor, dst: number, tag?: number, opts?: { timeoutMs?: number }): Work;
  irecv(tensor: Tensor, src: number, tag?: number, opts?: { timeoutMs?: number }): Work;
  barrier<O extends CollectiveOptions>(opts?: O): CollectiveResult<O>;
  /**
   * A subgroup of the given global ranks (each must be a member of this group, no duplicates;
   * their order defines the new group's ranks). Collective over this group: every member calls
   * it with the same list, in the same order. Members get the new group, non-members null.
   */
  newGroup(ranks: readonly number[], opts?: { timeoutMs?: number }): Promise<ProcessGroup | null>;
  /** Release the group's resources; later calls on it throw. */
  destroy(): Promise<void>;
}

/** Where a rank sits among the processes/threads of the job (torchrun's environment). */
export interface RankInfo {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
}

/** A key/value rendezvous store (like torch's TCPStore / HashStore). Values are bytes. */
export interface Store {
  set(key: string, value: Uint8Array | string): Promise<void>;
  /** Waits (up to the store's timeout) for the key to exist, then returns its value. */
  get(key: string): Promise<Uint8Array>;
  /** Atomically adds `amount` to an integer counter (created at 0) and returns the new value. */
  add(key: string, amount: number): Promise<number>;
  /** Resolves when every key exists; rejects with a StoreTimeoutError naming the missing ones. */
  wait(keys: readonly string[], timeoutMs?: number): Promise<void>;
  /** True when the key existed. */
  delete(key: string): Promise<boolean>;
  /** Atomically set `key` to `desired` if its current value is `expected` ('' = absent); returns the value now stored. */
  compareSet(key: string, expected: Uint8Array | string, desired: Uint8Array | string): Promise<Uint8Array>;
  /** Number of keys. */
  numKeys(): Promise<number>;
  close(): Promise<void>;
}

/** What initDistributed hands a process backend's factory. */
export interface BackendInitOptions extends RankInfo {
  masterAddr: string;
  masterPort: number;
  /** Rendezvous store shared by all ranks (a TCPStore served by rank 0 unless one was given). */
  store: Store;
  /** Default collective timeout in ms for the world group. */
  timeoutMs: number;
}

/** Creates the world group of a backend. Registered with `registerBackend(name, factory)`. */
export type BackendFactory = (opts: BackendInitOptions) => Promise<ProcessGroup>;
