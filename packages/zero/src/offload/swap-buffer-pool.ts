// A fixed set of reusable I/O buffers (DeepSpeed's pinned swap buffers: `buffer_count` of
// `buffer_size`): everything swapped in lives in one of them, so the memory offload holds
// never exceeds count x size no matter how large the model is. Waiters are served first come,
// first served, which keeps a prefetch from starving the sub-group that is computing.
import { fileIO, type FileIO } from './file-io.js';

export interface SwapBuffer {
  /** The whole buffer (`bufferBytes` long, aligned for direct I/O). */
  readonly bytes: Uint8Array;
  /** Position in the pool, for diagnostics. */
  readonly index: number;
}

export interface SwapBufferPoolOptions {
  /** Number of buffers (offload `buffer_count`). */
  count: number;
  /** Bytes per buffer; rounded up to the I/O alignment. */
  bufferBytes: number;
  io?: FileIO;
  /** Names the owner in error messages (e.g. "offload_optimizer"). */
  label?: string;
}

export class SwapBufferPool {
  readonly count: number;
  readonly bufferBytes: number;
  readonly label: string;
  readonly #buffers: SwapBuffer[];
  readonly #free: SwapBuffer[];
  readonly #busy = new Set<SwapBuffer>();
  readonly #waiters: ((b: SwapBuffer) => void)[] = [];
  #peak = 0;

  constructor(opts: SwapBufferPoolOptions) {
    const label = opts.label ?? 'swap buffers';
    if (!Number.isInteger(opts.count) || opts.count < 1) {
      throw new RangeError(`${label}: buffer_count must be an integer >= 1, got ${opts.count}`);
    }
    if (!Number.isSafeInteger(opts.bufferBytes) || opts.bufferBytes < 1) {
      throw new RangeError(`${label}: the buffer size must be a positive number of bytes, got ${opts.bufferBytes}`);
    }
    const io = opts.io ?? fileIO();
    const align = Math.max(1, io.alignment);
    this.label = label;
    this.count = opts.count;
    this.bufferBytes = Math.ceil(opts.bufferBytes / align) * align;
    this.#buffers = Array.from({ length: opts.count }, (_, index) => ({ bytes: io.allocAligned(this.bufferBytes), index }));
    this.#free = [...this.#buffers].reverse();
  }

  /** A free buffer, waiting (in arrival order) until one is released. */
  acquire(): Promise<SwapBuffer> {
    const b = this.#waiters.length === 0 ? this.#free.pop() : undefined;
    if (b) {
      this.#take(b);
      return Promise.resolve(b);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** A free buffer now, or null (never jumps ahead of a waiter). */
  tryAcquire(): SwapBuffer | null {
    if (this.#waiters.length > 0) return null;
    const b = this.#free.pop();
    if (b) this.#take(b);
    return b ?? null;
  }

  release(b: SwapBuffer): void {
    if (!this.#busy.has(b)) {
      const known = this.#buffers.includes(b);
      throw new Error(`${this.label}: release of ${known ? `buffer ${b.index}, which is not in use` : 'a buffer from another pool'}`);
    }
    this.#busy.delete(b);
    const next = this.#waiters.shift();
    if (next) {
      this.#take(b);
      next(b);
    } else {
      this.#free.push(b);
    }
  }

  /** Buffers handed out now. */
  get inUse(): number {
    return this.#busy.size;
  }

  /** Bytes of buffers holding swapped-in data now. */
  get residentBytes(): number {
    return this.#busy.size * this.bufferBytes;
  }

  /** The most bytes ever held at once. */
  get peakResidentBytes(): number {
    return this.#peak;
  }

  /** Everything the pool allocated (count x bufferBytes). */
  get capacityBytes(): number {
    return this.count * this.bufferBytes;
  }

  /** Callers waiting for a buffer. */
  get waiting(): number {
    return this.#waiters.length;
  }

  #take(b: SwapBuffer): void {
    this.#busy.add(b);
    this.#peak = Math.max(this.#peak, this.residentBytes);
  }
}
