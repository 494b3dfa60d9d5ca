// The key/value semantics shared by the in-memory store and the TCP store's server, and the
// in-memory store itself (like torch's HashStore: one process, no network).
import { StoreTimeoutError } from '../errors.js';
import type { Store } from '../types.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function toBytes(v: Uint8Array | string): Uint8Array {
  return typeof v === 'string' ? encoder.encode(v) : new Uint8Array(v);
}
export function bytesToString(v: Uint8Array): string {
  return decoder.decode(v);
}
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

export const DEFAULT_STORE_TIMEOUT_MS = 300_000;

/** A key/value table with waiters: the state behind MemoryStore and the TCP server. */
export class KVState {
  readonly data = new Map<string, Uint8Array>();
  #waiters = new Set<{ keys: readonly string[]; wake: () => void }>();

  set(key: string, value: Uint8Array): void {
    this.data.set(key, value);
    this.#notify();
  }
  add(key: string, amount: number): number {
    const cur = this.data.get(key);
    const base = cur === undefined ? 0 : Number(bytesToString(cur));
    if (!Number.isFinite(base)) throw new TypeError(`store add: key ${JSON.stringify(key)} holds ${JSON.stringify(bytesToString(cur!))}, not an integer`);
    const next = base + amount;
    this.set(key, toBytes(String(next)));
    return next;
  }
  delete(key: string): boolean {
    return this.data.delete(key);
  }
  compareSet(key: string, expected: Uint8Array, desired: Uint8Array): Uint8Array {
    const cur = this.data.get(key);
    if ((cur === undefined && expected.length === 0) || (cur !== undefined && sameBytes(cur, expected))) {
      this.set(key, desired);
      return desired;
    }
    return cur ?? expected;
  }
  missing(keys: readonly string[]): string[] {
    return keys.filter((k) => !this.data.has(k));
  }
  /** Resolves once every key exists; rejects with StoreTimeoutError naming the missing ones. */
  waitFor(keys: readonly string[], timeoutMs: number): Promise<void> {
    if (this.missing(keys).length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter = {
        keys,
        wake: (): void => {
          if (this.missing(keys).length) return;
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        const missing = this.missing(keys);
        reject(new StoreTimeoutError(`store wait timed out after ${timeoutMs} ms; missing keys: ${missing.map((k) => JSON.stringify(k)).join(', ')}`, missing));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }
  #notify(): void {
    for (const w of [...this.#waiters]) w.wake();
  }
}

/** An in-memory Store (one process; tests, single-rank runs and the in-process backend). */
export class MemoryStore implements Store {
  readonly #state = new KVState();
  readonly timeoutMs: number;
  constructor(opts: { timeoutMs?: number } = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_STORE_TIMEOUT_MS;
  }
  async set(key: string, value: Uint8Array | string): Promise<void> {
    this.#state.set(key, toBytes(value));
  }
  async get(key: string): Promise<Uint8Array> {
    await this.#state.waitFor([key], this.timeoutMs);
    return new Uint8Array(this.#state.data.get(key)!);
  }
  async add(key: string, amount: number): Promise<number> {
    return this.#state.add(key, amount);
  }
  async wait(keys: readonly string[], timeoutMs = this.timeoutMs): Promise<void> {
    await this.#state.waitFor(keys, timeoutMs);
  }
  async delete(key: string): Promise<boolean> {
    return this.#state.delete(key);
  }
  async compareSet(key: string, expected: Uint8Array | string, desired: Uint8Array | string): Promise<Uint8Array> {
    return new Uint8Array(this.#state.compareSet(key, toBytes(expected), toBytes(desired)));
  }
  async numKeys(): Promise<number> {
    return this.#state.data.size;
  }
  async close(): Promise<void> {}
}
