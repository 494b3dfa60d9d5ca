// Loads the Gloo binding (@ds/comm-gloo-native). It is an optional dependency: when it is
// missing or was not built, loadGlooNative returns null and glooLoadError says why.
import { createRequire } from 'node:module';
import type { DType } from '@ds/core';
import type { ReduceOp } from '@ds/comm';

/** Options of the native Group constructor (see native/comm-gloo/src/group.cc). */
export interface NativeGroupOptions {
  rank: number;
  size: number;
  /** Global ranks of the members (for messages). */
  ranks?: readonly number[];
  /** Address this rank's Gloo device listens on (reachable by every peer). */
  hostname?: string;
  /** Network interface to take the address from instead (e.g. 'eth0'). */
  iface?: string;
  /** Key prefix of this group's rendezvous. */
  prefix?: string;
  timeoutMs?: number;
  initTimeoutMs?: number;
  /** Exchange call descriptors before each collective (mismatch detection, named stragglers). */
  check?: boolean;
  /** Gloo FileStore directory (single host) instead of `store`. */
  storePath?: string;
  store?: (op: 'set' | 'get' | 'wait', key: string | string[], value: Uint8Array | null, timeoutMs: number) => Promise<Uint8Array | void>;
}

type Buf = Float32Array | Uint16Array | Int32Array | BigInt64Array | Uint8Array;

/**
 * Completion callback of a call: null when it succeeded, else the error it failed with (a
 * NativeCommError). Called exactly once, on the JS thread.
 */
export type OnDone = (error: Error | null) => void;

/**
 * The binding's Group. Without `onDone` a call returns a promise settled from the comm thread
 * (through the event loop). With `onDone` it returns a ticket instead, and the call settles by
 * calling `onDone` once: from the event loop, or inside `waitFor(ticket)`, which blocks the JS
 * thread until the call has run. `seq` numbers a collective (the same on every rank); without
 * it the group counts its own calls.
 */
export interface NativeGroup {
  connect(): Promise<void>;
  allReduce(buf: Buf, dtype: number, op: number, timeoutMs: number, shape: readonly number[], seq: number | undefined, onDone: OnDone): number;
  allReduce(buf: Buf, dtype: number, op: number, timeoutMs: number, shape: readonly number[], seq?: number): Promise<void>;
  reduce(buf: Buf, dtype: number, op: number, dst: number, timeoutMs: number, shape: readonly number[], seq: number | undefined, onDone: OnDone): number;
  reduce(buf: Buf, dtype: number, op: number, dst: number, timeoutMs: number, shape: readonly number[], seq?: number): Promise<void>;
  broadcast(buf: Buf, dtype: number, src: number, timeoutMs: number, shape: readonly number[], seq: number | undefined, onDone: OnDone): number;
  broadcast(buf: Buf, dtype: number, src: number, timeoutMs: number, shape: readonly number[], seq?: number): Promise<void>;
  allGather(out: Buf, input: Buf, dtype: number, timeoutMs: number, shape: readonly number[], seq: number | undefined, onDone: OnDone): number;
  allGather(out: Buf, input: Buf, dtype: number, timeoutMs: number, shape: readonly number[], seq?: number): Promise<void>;
  reduceScatter(
    out: Buf,
    input: Buf,
    dtype: number,
    op: number,
    timeoutMs: number,
    shape: readonly number[],
    seq: number | undefined,
    onDone: OnDone,
  ): number;
  reduceScatter(out: Buf, input: Buf, dtype: number, op: number, timeoutMs: number, shape: readonly number[], seq?: number): Promise<void>;
  allToAll(
    out: Buf,
    input: Buf,
    dtype: number,
    outCounts: readonly number[] | null,
    inCounts: readonly number[] | null,
    timeoutMs: number,
    shape: readonly number[],
    seq: number | undefined,
    onDone: OnDone,
  ): number;
  allToAll(
    out: Buf,
    input: Buf,
    dtype: number,
    outCounts: readonly number[] | null,
    inCounts: readonly number[] | null,
    timeoutMs: number,
    shape: readonly number[],
    seq?: number,
  ): Promise<void>;
  barrier(timeoutMs: number, seq: number | undefined, onDone: OnDone): number;
  barrier(timeoutMs: number, seq?: number): Promise<void>;
  send(buf: Buf, dtype: number, dst: number, tag: number, timeoutMs: number, shape: readonly number[], onDone: OnDone): number;
  send(buf: Buf, dtype: number, dst: number, tag: number, timeoutMs: number, shape: readonly number[]): Promise<void>;
  recv(buf: Buf, dtype: number, src: number, tag: number, timeoutMs: number, shape: readonly number[], onDone: OnDone): number;
  recv(buf: Buf, dtype: number, src: number, tag: number, timeoutMs: number, shape: readonly number[]): Promise<void>;
  /**
   * Blocks the JS thread until the call with this ticket has run on its thread (it ends by its
   * timeout at the latest, counted from when the comm thread starts it), then calls its onDone.
   * False when the call had been settled already.
   */
  waitFor(ticket: number): boolean;
  close(): Promise<void>;
  /** Sequence number of the next collective. */
  readonly seq: number;
  /** Why the group is unusable, or null. */
  readonly broken: string | null;
  /** Each rank's Gloo listening address, e.g. '[127.0.0.1]:41234'. */
  readonly peerAddresses: string[];
  /** How the collectives travel (null before connect()). */
  readonly transport: GroupTransport | null;
}

/**
 * How a group's collectives travel: through one shared-memory segment when every member runs
 * on this host, else over Gloo's TCP pairs (with `why` not shared memory); 'local' for one rank.
 * Point-to-point transfers always take TCP.
 */
export interface GroupTransport {
  collectives: 'shared-memory' | 'tcp' | 'local';
  why?: string;
}

export interface GlooNative {
  Group: new (opts: NativeGroupOptions) => NativeGroup;
  glooVersion: { major: number; minor: number; patch: number };
  descriptorBytes: number;
}

/** Error fields the binding sets on a rejected call. */
export interface NativeCommError extends Error {
  code: 'DS_COMM_TIMEOUT' | 'DS_COMM_MISMATCH' | 'DS_COMM_PEER_LOST' | 'DS_COMM_BROKEN' | 'DS_COMM_CONNECT' | 'DS_COMM_ERROR';
  op: string;
  seq: number;
  /** Group ranks the failure is about (missing, lost or mismatching ranks). */
  ranks: number[];
}

export const DTYPE_CODE: Readonly<Record<DType, number>> = { float32: 0, float16: 1, bfloat16: 2, int32: 3, int64: 4 };
export const REDUCE_OP_CODE: Readonly<Record<ReduceOp, number>> = { sum: 0, product: 1, min: 2, max: 3, avg: 4 };

let loaded: GlooNative | null | undefined;
let loadError: string | null = null;

/** The binding, loaded once; null when @ds/comm-gloo-native is not installed or not built. */
export function loadGlooNative(): GlooNative | null {
  if (loaded !== undefined) return loaded;
  try {
    const require = createRequire(import.meta.url);
    loaded = require('@ds/comm-gloo-native') as GlooNative;
  } catch (err) {
    loadError = err instanceof Error ? err.message : String(err);
    loaded = null;
  }
  return loaded;
}

/** Why the binding could not be loaded, or null if it loaded (or was not tried yet). */
export function glooLoadError(): string | null {
  return loadError;
}

/** True when the gloo backend can run here. */
export function glooAvailable(): boolean {
  return loadGlooNative() !== null;
}
