// ZeRO-Infinity's parameter offload (`offload_param: { device: "nvme" }`): every swapped
// parameter's partition (this rank's slice, in the dtype the model computes in) lives in a region
// of one swap file under nvme_path. It is read into a buffer of a fixed pool just before its
// all-gather and the buffer goes back to the pool once the gather is done, so the memory held for
// partitions is buffer_count x buffer_size elements whatever the model's size. After an optimizer
// step the updated partitions are written back from the fp32 masters.
//
// NOTE: module and autograd hooks are synchronous, so a read they need is a synchronous pread
// (through the page cache). Reads that can wait for the event loop go through the pool's
// asynchronous I/O: after a step, the head of the next pass (from the recorded fetch trace) is
// read ahead while the step's write-backs finish.
import { bytesPerElement, Tensor, type DType, type StorageArray } from '@ds/core';
import { masterToHalf } from '@ds/precision';
import type { FileIO } from '../offload/file-io.js';
import { storageOver, swapPath, TensorSwapper, type Resident, type SwapStats } from '../offload/tensor-swapper.js';
import type { PartitionedParam, PartitionStore } from './partitioned-param.js';
import path from 'node:path';

/** DeepSpeed's offload_param.buffer_size default (elements per swap buffer). */
export const PARAM_BUFFER_SIZE = 100_000_000;

export interface ParamSwapOptions {
  /** `offload_param.nvme_path`: the rank's file goes to `swapPath(nvmePath, 'params', rank, dtype)`. */
  nvmePath: string;
  /** Global rank (ranks of one machine share nvme_path). */
  rank: number;
  /** The dtype named in the swap directory (the partitions' dtype when the file is made). */
  dtype: DType;
  /** `offload_param.buffer_count`: partitions resident at once. */
  bufferCount: number;
  /** `offload_param.buffer_size`: elements of the largest partition a buffer holds. */
  bufferSize: number;
  /** Bytes per element the buffers are sized for (default: the dtype's; 4 when partitions may be fp32). */
  elementBytes?: number;
  io?: FileIO;
}

export interface ParamSwapStats extends SwapStats {
  /** Partitions held in the swap file. */
  swappedParams: number;
  /** Bytes of partitions on disk. */
  swappedBytes: number;
  /** What the pool may ever hold (buffer_count x buffer bytes). */
  capacityBytes: number;
  /** Most bytes held in pool buffers at once. */
  peakResidentBytes: number;
}

interface Entry {
  key: string;
  /** Partition read for a gather (released once the gather is done). */
  resident: Resident | null;
  /** Partition being rewritten by an optimizer step, and how many of its elements were written. */
  staging: { res: Resident; covered: number } | null;
  /** Read ahead of the next pass (asynchronously); taken over by the next loadSync. */
  ahead: { promise: Promise<void>; res: Resident | null } | null;
}

export class ParamSwap implements PartitionStore {
  readonly swapper: TensorSwapper;
  readonly nvmePath: string;
  /** Elements of `elementBytes` one buffer holds. */
  readonly bufferSize: number;
  readonly #elementBytes: number;
  readonly #entries = new Map<PartitionedParam, Entry>();
  readonly #writes = new Set<Promise<void>>();
  #writeError: unknown = null;
  #nextKey = 0;
  #closing: Promise<void> | null = null;

  private constructor(swapper: TensorSwapper, nvmePath: string, bufferSize: number, elementBytes: number) {
    this.swapper = swapper;
    this.nvmePath = nvmePath;
    this.bufferSize = bufferSize;
    this.#elementBytes = elementBytes;
  }

  static async create(o: ParamSwapOptions): Promise<ParamSwap> {
    const where = 'zero_optimization.offload_param';
    if (!Number.isInteger(o.bufferCount) || o.bufferCount < 1) throw new RangeError(`${where}.buffer_count must be an integer >= 1, got ${o.bufferCount}`);
    if (!Number.isSafeInteger(o.bufferSize) || o.bufferSize < 1) throw new RangeError(`${where}.buffer_size must be an integer >= 1 (elements), got ${o.bufferSize}`);
    const elementBytes = o.elementBytes ?? bytesPerElement(o.dtype);
    const file = path.join(swapPath(o.nvmePath, 'params', o.rank, o.dtype), 'partitions.swp');
    const swapper = await TensorSwapper.create({ file, bufferCount: o.bufferCount, bufferBytes: o.bufferSize * elementBytes, io: o.io, label: `${where} (nvme)` });
    return new ParamSwap(swapper, o.nvmePath, o.bufferSize, elementBytes);
  }

  /** The swap file's path. */
  get file(): string {
    return this.swapper.file.path;
  }

  get stats(): ParamSwapStats {
    let swappedBytes = 0;
    for (const e of this.#entries.values()) swappedBytes += this.swapper.file.region(e.key).bytes;
    const pool = this.swapper.pool;
    return { ...this.swapper.stats, swappedParams: this.#entries.size, swappedBytes, capacityBytes: pool.capacityBytes, peakResidentBytes: pool.peakResidentBytes };
  }

  // ---- construction -------------------------------------------------------------------------

  /** Write a partition that has no record yet (zeroInit) to a new region; returns the region's key. */
  writeNewSync(values: Tensor, name: string): string {
    // Width is checked when the partition is read into a buffer: zeroInit writes fp32 slices that
    // mixed precision then recasts to the 16-bit dtype the buffers are sized for.
    this.#checkFits(values.numel, 1, name);
    const key = `partition.${this.#nextKey++}`;
    const bytes = bytesOf(values.isContiguous() ? values.data() : values.contiguous().data());
    // Reserved on the file itself: an fp32 slice may be wider than a buffer of the compute dtype.
    this.swapper.file.reserve(key, bytes.length);
    this.swapper.writeSync(key, bytes);
    return key;
  }

  /** `rec`'s partition lives in region `key` from now on; its in-memory copy is dropped. */
  adopt(rec: PartitionedParam, key: string): void {
    if (this.#entries.has(rec)) throw new Error(`offload_param (nvme): parameter '${rec.name}' is already swapped`);
    if (this.swapper.file.region(key).bytes !== rec.partitionSize * bytesPerElement(rec.dtype)) {
      throw new Error(`offload_param (nvme): region '${key}' does not hold parameter '${rec.name}''s ${rec.partitionSize} ${rec.dtype} elements`);
    }
    this.#entries.set(rec, { key, resident: null, staging: null, ahead: null });
    rec.attachStore(this);
  }

  /** Write `rec`'s in-memory partition to the swap file and drop it from memory. */
  adoptFromMemory(rec: PartitionedParam): void {
    this.adopt(rec, this.writeNewSync(rec.partition, rec.name));
  }

  // ---- PartitionStore ----------------------------------------------------------------------

  holds(rec: PartitionedParam): boolean {
    return this.#entries.has(rec);
  }

  canLoad(): boolean {
    const pool = this.swapper.pool;
    if (pool.waiting > 0) return false;
    if (pool.inUse < pool.count) return true;
    for (const e of this.#entries.values()) if (e.ahead?.res) return true;
    return false;
  }

  isResidentOrAhead(rec: PartitionedParam): boolean {
    const e = this.#entry(rec);
    return e.resident !== null || e.ahead?.res != null;
  }

  /**
   * Start reading the first of `recs` (the next pass's order) into free buffers, leaving one
   * free for synchronous reads; `settleReadAhead` waits for them. The next pass finds them resident.
   */
  readAhead(recs: readonly PartitionedParam[]): void {
    const pool = this.swapper.pool;
    // Buffers still writing back are freed as their writes land; the reads queue for them.
    let free = pool.count - 1;
    for (const e of this.#entries.values()) if (e.resident || e.ahead) free--;
    for (const rec of recs) {
      if (free <= 0) break;
      const e = this.#entries.get(rec);
      if (!e || e.resident || e.ahead || e.staging) continue;
      const a: NonNullable<Entry['ahead']> = { res: null, promise: Promise.resolve() };
      a.promise = this.swapper.swapIn(e.key).then(
        (res) => {
          a.res = res;
        },
        (err: unknown) => {
          if (e.ahead === a) e.ahead = null;
          this.#writeError ??= err;
        },
      );
      e.ahead = a;
      free--;
    }
  }

  /** Wait until every read-ahead has landed (rethrows a failed read). */
  async settleReadAhead(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => e.ahead?.promise));
    if (this.#writeError) throw this.#writeError;
  }

  /** Give back every read-ahead buffer (their values are about to change, or are not needed). */
  async dropReadAhead(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => e.ahead?.promise));
    for (const e of this.#entries.values()) this.#dropAhead(e);
  }

  #dropAhead(e: Entry): void {
    if (!e.ahead) return;
    if (!e.ahead.res) throw new Error('offload_param (nvme): a read-ahead is dropped while still in flight');
    this.swapper.release(e.ahead.res);
    e.ahead = null;
  }

  isResident(rec: PartitionedParam): boolean {
    return this.#entry(rec).resident !== null;
  }

  loadSync(rec: PartitionedParam): boolean {
    const e = this.#entry(rec);
    if (e.resident) return true;
    if (e.staging) throw new Error(`offload_param (nvme): parameter '${rec.name}' is read while an optimizer step rewrites it`);
    this.#checkFits(rec.partitionSize, bytesPerElement(rec.dtype), rec.name);
    let res: Resident | null = null;
    if (e.ahead?.res) {
      res = e.ahead.res;
      e.ahead = null;
      this.swapper.stats.prefetchHits++;
    } else {
      if (e.ahead) throw new Error(`offload_param (nvme): parameter '${rec.name}' is read while its read-ahead is in flight`);
      res = this.swapper.trySwapInSync(e.key);
      // Buffers held by read-ahead the pass did not use yet give way to a partition needed now.
      for (const other of this.#entries.values()) {
        if (res) break;
        if (!other.ahead?.res) continue;
        this.#dropAhead(other);
        res = this.swapper.trySwapInSync(e.key);
      }
    }
    if (!res) return false;
    e.resident = res;
    rec.partition = new Tensor(storageOver(rec.dtype, res.bytes, rec.partitionSize), [rec.partitionSize], rec.dtype);
    return true;
  }

  unload(rec: PartitionedParam): void {
    const e = this.#entry(rec);
    if (!e.resident) return;
    this.swapper.release(e.resident);
    e.resident = null;
    rec.partition = emptyOf(rec.dtype);
  }

  readFloat32Sync(rec: PartitionedParam): Float32Array {
    const e = this.#entry(rec);
    if (e.resident) return rec.partition.toFloat32Array();
    const bytes = new Uint8Array(rec.partitionSize * bytesPerElement(rec.dtype));
    this.swapper.readSync(e.key, bytes);
    return new Tensor(storageOver(rec.dtype, bytes, rec.partitionSize), [rec.partitionSize], rec.dtype).toFloat32Array();
  }

  storeSync(rec: PartitionedParam, values: StorageArray): void {
    const e = this.#entry(rec);
    if (values.length !== rec.partitionSize) throw new RangeError(`offload_param (nvme): parameter '${rec.name}' has ${rec.partitionSize} partition elements, got ${values.length}`);
    if (e.staging) throw new Error(`offload_param (nvme): parameter '${rec.name}' is written while an optimizer step rewrites it`);
    this.#dropAhead(e);
    this.swapper.writeSync(e.key, bytesOf(values));
    if (e.resident) (rec.partition.data() as StorageArray).set(values as never);
  }

  recastSync(rec: PartitionedParam, from: DType, to: DType): void {
    const e = this.#entry(rec);
    if (e.resident) throw new Error(`offload_param (nvme): parameter '${rec.name}' must not be in use to change its dtype`);
    this.#dropAhead(e);
    const region = this.swapper.file.region(e.key);
    const old = new Uint8Array(region.bytes);
    this.swapper.readSync(e.key, old);
    const cast = new Tensor(storageOver(from, old, rec.partitionSize), [rec.partitionSize], from).to(to).contiguous().data();
    const bytes = bytesOf(cast);
    this.#checkFits(rec.partitionSize, bytesPerElement(to), rec.name);
    if (bytes.length <= region.paddedBytes) {
      // A narrower dtype (fp32 -> bf16 when mixed precision casts a zeroInit model) fits in place.
      this.swapper.file.resize(e.key, bytes.length);
      this.swapper.writeSync(e.key, bytes);
    } else {
      const key = `partition.${this.#nextKey++}`;
      this.swapper.writeSync(key, bytes);
      e.key = key;
    }
  }

  // ---- optimizer write-back -----------------------------------------------------------------

  /**
   * Elements [start, start + fp32.length) of `rec`'s partition were updated (an NVMe optimizer
   * step hands over one sub-group at a time): they are rounded into a pool buffer, which is
   * written back once every element of the partition has been.
   */
  async updateRange(rec: PartitionedParam, start: number, fp32: Float32Array): Promise<void> {
    const e = this.#entry(rec);
    if (e.resident) throw new Error(`offload_param (nvme): parameter '${rec.name}' is updated while it is read for a gather`);
    if (start < 0 || start + fp32.length > rec.partitionSize) {
      throw new RangeError(`offload_param (nvme): update of elements ${start}..${start + fp32.length} of '${rec.name}', whose partition has ${rec.partitionSize}`);
    }
    if (!e.staging) {
      this.#dropAhead(e);
      this.#checkFits(rec.partitionSize, bytesPerElement(rec.dtype), rec.name);
      e.staging = { res: await this.swapper.swapInBlank(e.key), covered: 0 };
    }
    const st = e.staging;
    const dst = storageOver(rec.dtype, st.res.bytes, rec.partitionSize).subarray(start, start + fp32.length);
    fromFp32(fp32, dst, rec.dtype);
    st.covered += fp32.length;
    if (st.covered >= rec.partitionSize) {
      e.staging = null;
      this.#track(this.swapper.writeBack(st.res));
    }
  }

  /** Write the whole partition from its fp32 master (after an in-memory optimizer step). */
  async store(rec: PartitionedParam, fp32: Float32Array): Promise<void> {
    if (fp32.length !== rec.partitionSize) throw new RangeError(`offload_param (nvme): '${rec.name}' has ${rec.partitionSize} partition elements, got ${fp32.length}`);
    await this.updateRange(rec, 0, fp32);
  }

  /** Wait for every write-back; rethrows the first that failed. */
  async flush(): Promise<void> {
    const partial = [...this.#entries].filter(([, e]) => e.staging);
    if (partial.length > 0) {
      throw new Error(`offload_param (nvme): the optimizer step left parameter '${partial[0]![0].name}' partly written (a step must update every element)`);
    }
    await Promise.all([...this.#writes]);
    await this.swapper.flush();
    if (this.#writeError) throw this.#writeError;
  }

  /** Wait for writes and delete the swap file (once; later calls return the same promise). */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.allSettled([...this.#writes]);
      await Promise.allSettled([...this.#entries.values()].map((e) => e.ahead?.promise));
      for (const e of this.#entries.values()) {
        if (e.staging) this.swapper.release(e.staging.res);
        if (e.ahead?.res) this.swapper.release(e.ahead.res);
        e.staging = null;
        e.ahead = null;
      }
      await this.swapper.close();
    })();
    return this.#closing;
  }

  #track(p: Promise<void>): void {
    const q = p.then(
      () => {},
      (err: unknown) => void (this.#writeError ??= err),
    );
    this.#writes.add(q);
    void q.finally(() => this.#writes.delete(q));
  }

  #entry(rec: PartitionedParam): Entry {
    const e = this.#entries.get(rec);
    if (!e) throw new Error(`offload_param (nvme): parameter '${rec.name}' is not in this swap file`);
    return e;
  }

  #checkFits(numel: number, elementBytes: number, name: string): void {
    if (elementBytes > this.#elementBytes) {
      throw new RangeError(
        `offload_param (nvme): parameter '${name}' is ${elementBytes * 8}-bit but the swap buffers were sized for ${this.#elementBytes * 8}-bit elements; ` +
          'give the dtype the model computes in when the buffers are made',
      );
    }
    if (numel > this.bufferSize) {
      throw new RangeError(
        `zero_optimization.offload_param.buffer_size is ${this.bufferSize} elements but parameter '${name}' has a partition of ${numel}; ` +
          'raise buffer_size to at least the largest partition (ceil(numel / data-parallel size)), or keep that parameter persistent',
      );
    }
  }
}

/** Round fp32 values into a partition of `dtype` the way the in-memory step does. */
export function fromFp32(src: Float32Array, dst: StorageArray, dtype: DType): void {
  if (dtype === 'float32') (dst as Float32Array).set(src);
  else if (dtype === 'bfloat16' || dtype === 'float16') masterToHalf(src, dst as Uint16Array, dtype);
  else (dst as StorageArray).set(new Tensor(Float32Array.from(src), [src.length], 'float32').to(dtype).data() as never);
}

function bytesOf(src: ArrayBufferView): Uint8Array {
  return new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
}

function emptyOf(dtype: DType): Tensor {
  return new Tensor(storageOver(dtype, new Uint8Array(0), 0), [0], dtype);
}
