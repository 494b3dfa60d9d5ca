// Errors raised by process groups. Each names the collective, its sequence number and the
// ranks involved, so a failure on one rank explains itself on every rank.
import type { CollectiveOp } from './types.js';

export interface CommErrorDetails {
  /** The collective (or 'send'/'recv') that failed. */
  op: CollectiveOp;
  /** Its per-group sequence number (-1 for point-to-point). */
  seq: number;
  /** Global ranks of the group it ran on. */
  groupRanks: readonly number[];
}

/** Base class of every communication failure (timeouts, mismatches, dead peers, aborted groups). */
export class CommError extends Error {
  readonly op: CollectiveOp;
  readonly seq: number;
  readonly groupRanks: readonly number[];
  constructor(message: string, details: CommErrorDetails) {
    super(message);
    this.name = 'CommError';
    this.op = details.op;
    this.seq = details.seq;
    this.groupRanks = details.groupRanks;
  }
}

/** Some ranks did not arrive within the timeout. `missingRanks` are group ranks. */
export class CommTimeoutError extends CommError {
  readonly missingRanks: readonly number[];
  readonly timeoutMs: number;
  constructor(message: string, details: CommErrorDetails & { missingRanks: readonly number[]; timeoutMs: number }) {
    super(message, details);
    this.name = 'CommTimeoutError';
    this.missingRanks = details.missingRanks;
    this.timeoutMs = details.timeoutMs;
  }
}

/** Ranks called different collectives, shapes, dtypes or parameters at the same sequence number. */
export class CommMismatchError extends CommError {
  /** The two group ranks whose calls are quoted in the message. */
  readonly ranksInConflict: readonly [number, number];
  constructor(message: string, details: CommErrorDetails & { ranksInConflict: readonly [number, number] }) {
    super(message, details);
    this.name = 'CommMismatchError';
    this.ranksInConflict = details.ranksInConflict;
  }
}

/** A peer died (threw, exited or finished) before taking part. `failedRanks` are group ranks. */
export class RankFailedError extends CommError {
  readonly failedRanks: readonly number[];
  constructor(message: string, details: CommErrorDetails & { failedRanks: readonly number[] }) {
    super(message, details);
    this.name = 'RankFailedError';
    this.failedRanks = details.failedRanks;
  }
}

/** The group was aborted by an earlier failure (on this rank or a peer) or destroyed. */
export class GroupAbortedError extends CommError {
  constructor(message: string, details: CommErrorDetails) {
    super(message, details);
    this.name = 'GroupAbortedError';
  }
}

/** A rendezvous-store operation timed out (`missingKeys` lists the keys that never appeared). */
export class StoreTimeoutError extends Error {
  readonly missingKeys: readonly string[];
  constructor(message: string, missingKeys: readonly string[]) {
    super(message);
    this.name = 'StoreTimeoutError';
    this.missingKeys = missingKeys;
  }
}

/** Error classes by name, so errors crossing a thread or process boundary keep their class. */
export const ERROR_CLASSES = {
  CommError,
  CommTimeoutError,
  CommMismatchError,
  RankFailedError,
  GroupAbortedError,
  StoreTimeoutError,
} as const;

/** A plain, structured-cloneable description of an error (name, message, stack, own fields). */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) {
      try {
        structuredClone(v);
        fields[k] = v;
      } catch {
        fields[k] = String(v);
      }
    }
    return { name: e.name, message: e.message, stack: e.stack, fields };
  }
  return { name: 'Error', message: String(e), fields: {} };
}

/** Rebuild an error serialized by `serializeError`, with its original class when it is one of ours. */
export function deserializeError(s: SerializedError): Error {
  const Cls = (ERROR_CLASSES as Record<string, unknown>)[s.name];
  let err: Error;
  if (typeof Cls === 'function') {
    err = Object.create((Cls as { prototype: Error }).prototype) as Error;
    Object.defineProperty(err, 'message', { value: s.message, writable: true, configurable: true });
  } else {
    const Builtin = (globalThis as Record<string, unknown>)[s.name];
    err = typeof Builtin === 'function' && (Builtin as { prototype: unknown }).prototype instanceof Error
      ? new (Builtin as ErrorConstructor)(s.message)
      : new Error(s.message);
  }
  Object.assign(err, s.fields);
  err.name = s.name;
  if (s.stack) err.stack = s.stack;
  return err;
}
