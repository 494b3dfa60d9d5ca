// Swaps data (parameters, optimizer-state partitions) between a swap file under nvme_path and a
// fixed pool of I/O buffers: `swapIn` brings a region into a buffer, `prefetch` starts that read
// early so it overlaps compute, `writeBack` writes a buffer out behind the caller's back and
// frees it when done (write-behind), and `flush` waits for those writes. Tensors can be swapped
// out whole (their storage is dropped, as DeepSpeed sets `param.data` to an empty tensor) and
// swapped back in, living in a pool buffer until released.
import path from 'node:path';
import { allocateStorage, Tensor, type DType, type StorageArray } from '@ds/core';
import { fileIO, type FileIO } from './file-io.js';
import { SwapBufferPool, type SwapBuffer } from './swap-buffer-pool.js';
import { SwapFile, type SwapRegion } from './swap-file.js';

export interface TensorSwapperOptions {
  /** The swap file (see `swapPath` for DeepSpeed's layout under nvme_path). */
  file: string;
  /** Buffers in the pool (offload `buffer_count`). */
  bufferCount: number;
  /** Bytes per buffer: the largest region that can be swapped in. */
  bufferBytes: number;
  io?: FileIO;
  /** Names the owner in error messages, e.g. "offload_param". */
  label?: string;
}

/** A region swapped into a pool buffer. */
export interface Resident {
  readonly key: string;
  /** The region's bytes inside the buffer (a view; valid until released or written back). */
  readonly bytes: Uint8Array;
  readonly buffer: SwapBuffer;
}

export interface SwapStats {
  reads: number;
  writes: number;
  bytesRead: number;
  bytesWritten: number;
  /** swapIn calls served by an earlier prefetch. */
  prefetchHits: number;
}

/**
 * DeepSpeed's swap directory for a rank: `{nvme_path}/zero_stage_3/{dtype}params/rank{rank}`
 * for parameters, `{nvme_path}/zero_stage_3/optimizer/rank{rank}` for optimizer state.
 */
export function swapPath(nvmePath: string, kind: 'params' | 'optimizer', rank: number, dtype: DType = 'float32'): string {
  if (typeof nvmePath !== 'string' || nvmePath === '') {
    throw new RangeError(`offload: nvme_path must be a directory path when device is "nvme", got ${JSON.stringify(nvmePath)}`);
  }
  const sub = kind === 'params' ? `${dtype}params` : 'optimizer';
  return path.join(nvmePath, 'zero_stage_3', sub, `rank${rank}`);
}

/** Float views of resident bytes (the buffers are aligned, so these never copy). */
export function asFloat32(bytes: Uint8Array): Float32Array {
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length >>> 2);
}

function bytesOf(src: ArrayBufferView): Uint8Array {
  return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
}

/** A typed view of `numel` elements of `dtype` over resident bytes (never a copy). */
export function storageOver(dtype: DType, bytes: Uint8Array, numel: number): StorageArray {
  switch (dtype) {
    case 'float32':
      return new Float32Array(bytes.buffer, bytes.byteOffset, numel);
    case 'float16':
    case 'bfloat16':
      return new Uint16Array(bytes.buffer, bytes.byteOffset, numel);
    case 'int32':
      return new Int32Array(bytes.buffer, bytes.byteOffset, numel);
    case 'int64':
      return new BigInt64Array(bytes.buffer, bytes.byteOffset, numel);
  }
}

interface SwappedTensor {
  key: string;
  shape: number[];
  dtype: DType;
  resident: Resident | null;
}

export class TensorSwapper {
  readonly file: SwapFile;
  readonly pool: SwapBufferPool;
  readonly label: string;
  readonly stats: SwapStats = { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, prefetchHits: 0 };
  readonly #prefetched = new Map<string, Promise<Resident>>();
  readonly #writing = new Map<string, Promise<void>>();
  readonly #resident = new Set<string>();
  readonly #tensors = new Map<Tensor, SwappedTensor>();
  #error: unknown = null;

  private constructor(file: SwapFile, pool: SwapBufferPool, label: string) {
    this.file = file;
    this.pool = pool;
    this.label = label;
  }

  static async create(opts: TensorSwapperOptions): Promise<TensorSwapper> {
    const io = opts.io ?? fileIO();
    const label = opts.label ?? 'swapper';
    const pool = new SwapBufferPool({ count: opts.bufferCount, bufferBytes: opts.bufferBytes, io, label });
    const file = await SwapFile.open(opts.file, io);
    return new TensorSwapper(file, pool, label);
  }

  /** Reserve a region of `bytes` under `key`; it must fit in one buffer. */
  reserve(key: string, bytes: number): SwapRegion {
    if (bytes > this.pool.bufferBytes) {
      throw new RangeError(
        `${this.label}: '${key}' needs ${bytes} bytes but a swap buffer holds ${this.pool.bufferBytes}; ` +
          'raise buffer_size (or lower sub_group_size) so the largest swapped tensor fits one buffer',
      );
    }
    return this.file.reserve(key, bytes);
  }

  /** Write `src` to the region (reserving it on first use) through a pool buffer; resolves once written. */
  async swapOut(key: string, src: ArrayBufferView): Promise<void> {
    const bytes = bytesOf(src);
    await this.swapOutWith(key, bytes.length, (dst) => dst.set(bytes));
  }

  /**
   * Write `bytes` produced by `fill` straight into a pool buffer (no copy of the whole data
   * outside the pool, which is how data larger than memory gets its initial values).
   */
  async swapOutWith(key: string, bytes: number, fill: (dst: Uint8Array) => void): Promise<void> {
    this.#throwIfFailed();
    if (this.#resident.has(key)) throw new Error(`${this.label}: '${key}' is swapped in; write it back with writeBack() instead`);
    if (!this.file.has(key)) this.reserve(key, bytes);
    const region = this.file.region(key);
    if (bytes !== region.bytes) {
      throw new RangeError(`${this.label}: '${key}' holds ${region.bytes} bytes; got ${bytes}`);
    }
    await this.#writing.get(key);
    const buffer = await this.pool.acquire();
    try {
      const dst = buffer.bytes.subarray(0, region.bytes);
      fill(dst);
      // Padding past the data is written too (the transfer stays aligned): keep it zero.
      buffer.bytes.fill(0, region.bytes, region.paddedBytes);
      await this.#write(region, buffer);
    } finally {
      this.pool.release(buffer);
    }
  }

  /** Bring the region into a pool buffer (waiting for a free one), reusing a prefetch when there is one. */
  async swapIn(key: string): Promise<Resident> {
    this.#throwIfFailed();
    const early = this.#prefetched.get(key);
    if (early) {
      this.#prefetched.delete(key);
      this.stats.prefetchHits++;
      return early;
    }
    if (this.#resident.has(key)) throw new Error(`${this.label}: '${key}' is already swapped in; release or write it back first`);
    return this.#read(key);
  }

  /**
   * A pool buffer for the region without reading it: the caller overwrites all of its bytes and
   * then writes it back with writeBack().
   */
  async swapInBlank(key: string): Promise<Resident> {
    this.#throwIfFailed();
    if (this.#resident.has(key) || this.#prefetched.has(key)) throw new Error(`${this.label}: '${key}' is already swapped in; release or write it back first`);
    const region = this.file.region(key);
    this.#resident.add(key);
    try {
      await this.#writing.get(key);
      const buffer = await this.pool.acquire();
      buffer.bytes.fill(0, region.bytes, region.paddedBytes);
      return { key, bytes: buffer.bytes.subarray(0, region.bytes), buffer };
    } catch (e) {
      this.#resident.delete(key);
      throw e;
    }
  }

  /**
   * Read the region into a free buffer synchronously (for synchronous hooks, which cannot wait
   * for the event loop); null when every buffer is in use.
   */
  trySwapInSync(key: string): Resident | null {
    this.#throwIfFailed();
    if (this.#resident.has(key) || this.#prefetched.has(key)) throw new Error(`${this.label}: '${key}' is already swapped in; release or write it back first`);
    if (this.#writing.has(key)) {
      throw new Error(`${this.label}: '${key}' is still being written; flush() before reading it synchronously`);
    }
    const region = this.file.region(key);
    const buffer = this.pool.tryAcquire();
    if (!buffer) return null;
    const bytes = buffer.bytes.subarray(0, region.bytes);
    try {
      this.file.readSync(key, bytes);
    } catch (e) {
      this.pool.release(buffer);
      throw e;
    }
    this.#resident.add(key);
    this.stats.reads++;
    this.stats.bytesRead += region.bytes;
    return { key, bytes, buffer };
  }

  /** Write `src` (exactly the region's bytes; reserved on first use) synchronously, without a pool buffer. */
  writeSync(key: string, src: Uint8Array): void {
    this.#throwIfFailed();
    if (this.#writing.has(key)) throw new Error(`${this.label}: '${key}' is still being written; flush() before writing it synchronously`);
    if (!this.file.has(key)) this.reserve(key, src.length);
    this.file.writeSync(key, src);
    this.stats.writes++;
    this.stats.bytesWritten += src.length;
  }

  /** Read the region synchronously into `dst` (no pool buffer; checkpoints and setup). */
  readSync(key: string, dst: Uint8Array): void {
    this.#throwIfFailed();
    if (this.#writing.has(key)) throw new Error(`${this.label}: '${key}' is still being written; flush() before reading it synchronously`);
    this.file.readSync(key, dst);
    this.stats.reads++;
    this.stats.bytesRead += this.file.region(key).bytes;
  }

  /** Start reading the region now; the next swapIn(key) gets it. */
  prefetch(key: string): void {
    this.#throwIfFailed();
    if (this.#prefetched.has(key)) return;
    if (this.#resident.has(key)) throw new Error(`${this.label}: '${key}' is already swapped in; release or write it back first`);
    const p = this.#read(key);
    // Failures surface at swapIn; this keeps an unawaited prefetch from crashing the process.
    p.catch(() => {});
    this.#prefetched.set(key, p);
  }

  /**
   * Write the resident buffer back to its region and free the buffer once written. Runs behind
   * the caller (await the result, or `flush()`); reads of the same key wait for it.
   */
  writeBack(res: Resident): Promise<void> {
    this.#checkResident(res, 'writeBack');
    const region = this.file.region(res.key);
    // The caller gave the data up: a new swapIn of the key may queue (behind this write) at once.
    this.#resident.delete(res.key);
    const done = this.#write(region, res.buffer).finally(() => {
      this.pool.release(res.buffer);
      if (this.#writing.get(res.key) === settled) this.#writing.delete(res.key);
    });
    // What later reads of the key and flush() wait on: never rejects, the error is kept instead.
    const settled: Promise<void> = done.then(
      () => {},
      (e: unknown) => void (this.#error ??= e),
    );
    this.#writing.set(res.key, settled);
    return done;
  }

  /** Free the buffer without writing (the data on disk is still current). */
  release(res: Resident): void {
    this.#checkResident(res, 'release');
    this.#resident.delete(res.key);
    this.pool.release(res.buffer);
  }

  /** Wait for every write-behind; rethrows the first failed one. */
  async flush(): Promise<void> {
    await Promise.all([...this.#writing.values()]);
    this.#throwIfFailed();
  }

  /**
   * Write `t` to the swap file and drop its storage (it becomes an empty [0] tensor until
   * swapped in). A tensor that lives in a pool buffer is written from there and the buffer freed.
   */
  async swapOutTensor(key: string, t: Tensor): Promise<void> {
    const known = this.#tensors.get(t);
    if (known && known.key !== key) throw new Error(`${this.label}: this tensor is swapped under '${known.key}', not '${key}'`);
    if (known?.resident) {
      const res = known.resident;
      known.resident = null;
      t.setData(new Tensor(allocateStorage(t.dtype, 0), [0], t.dtype));
      await this.writeBack(res);
      return;
    }
    const shape = [...t.shape];
    const src = t.isContiguous() ? t.data() : t.contiguous().data();
    await this.swapOut(key, src);
    this.#tensors.set(t, { key, shape, dtype: t.dtype, resident: null });
    t.setData(new Tensor(allocateStorage(t.dtype, 0), [0], t.dtype));
  }

  /** Point a swapped-out tensor at its data, read into a pool buffer (kept until released). */
  async swapInTensor(t: Tensor): Promise<void> {
    const s = this.#tensors.get(t);
    if (!s) throw new Error(`${this.label}: swapInTensor of a tensor that was never swapped out (use swapOutTensor first)`);
    if (s.resident) return;
    const res = await this.swapIn(s.key);
    const numel = s.shape.reduce((a, b) => a * b, 1);
    s.resident = res;
    t.setData(new Tensor(storageOver(s.dtype, res.bytes, numel), s.shape, s.dtype));
  }

  /** Start reading a swapped-out tensor's data now (swapInTensor then finds it). */
  prefetchTensor(t: Tensor): void {
    const s = this.#tensors.get(t);
    if (!s) throw new Error(`${this.label}: prefetchTensor of a tensor that was never swapped out`);
    if (!s.resident) this.prefetch(s.key);
  }

  /** Drop a swapped-in tensor's buffer; `write` first saves changes made to it. */
  async releaseTensor(t: Tensor, opts: { write?: boolean } = {}): Promise<void> {
    const s = this.#tensors.get(t);
    if (!s?.resident) return;
    if (opts.write) {
      await this.swapOutTensor(s.key, t);
      return;
    }
    const res = s.resident;
    s.resident = null;
    t.setData(new Tensor(allocateStorage(s.dtype, 0), [0], s.dtype));
    this.release(res);
  }

  /** Wait for pending writes, then close (and delete, unless `keep`) the swap file. */
  async close(opts: { keep?: boolean } = {}): Promise<void> {
    try {
      await Promise.allSettled([...this.#prefetched.values()]);
      await this.flush();
    } finally {
      await this.file.close(opts);
    }
  }

  async #read(key: string): Promise<Resident> {
    const region = this.file.region(key);
    this.#resident.add(key);
    try {
      await this.#writing.get(key);
      const buffer = await this.pool.acquire();
      const bytes = buffer.bytes.subarray(0, region.bytes);
      try {
        // The whole padded region, so the transfer stays aligned (and direct).
        await this.file.read(key, buffer.bytes.subarray(0, region.paddedBytes));
      } catch (e) {
        this.pool.release(buffer);
        throw e;
      }
      this.stats.reads++;
      this.stats.bytesRead += region.bytes;
      return { key, bytes, buffer };
    } catch (e) {
      this.#resident.delete(key);
      throw e;
    }
  }

  async #write(region: SwapRegion, buffer: SwapBuffer): Promise<void> {
    await this.file.write(region.key, buffer.bytes.subarray(0, region.paddedBytes));
    this.stats.writes++;
    this.stats.bytesWritten += region.bytes;
  }

  #checkResident(res: Resident, op: string): void {
    if (!this.#resident.has(res.key)) throw new Error(`${this.label}: ${op} of '${res.key}', which is not swapped in`);
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }
}
