// One ZeRO-3 parameter: its flattened elements padded to ceil(numel/W)·W, this rank's slice of
// ps = ceil(numel/W) elements kept in `partition`, and the full tensor rebuilt by an all-gather
// only while something uses it. Between uses the parameter's data is an empty [0] placeholder.
import { allocateStorage, Tensor, type DType, type StorageArray } from '@ds/core';
import type { ProcessGroup, Work } from '@ds/comm';
import { completeNow } from './sync-completion.js';

/**
 * Where a partition lives when it is not kept in memory (offload_param "nvme"): it is read in
 * for a gather and released after, and rewritten when its values change.
 */
export interface PartitionStore {
  /** Whether a partition can be read in now (a buffer is free). */
  canLoad(): boolean;
  isResident(rec: PartitionedParam): boolean;
  /** Read the partition into a buffer and point `rec.partition` at it; false when no buffer is free. */
  loadSync(rec: PartitionedParam): boolean;
  /** Give the buffer back (`rec.partition` becomes an empty placeholder). */
  unload(rec: PartitionedParam): void;
  /** A copy of the partition as fp32. */
  readFloat32Sync(rec: PartitionedParam): Float32Array;
  /** Overwrite the partition with `values` (ps elements of the partition's dtype). */
  storeSync(rec: PartitionedParam, values: StorageArray): void;
  /** Rewrite the stored partition in another dtype. */
  recastSync(rec: PartitionedParam, from: DType, to: DType): void;
}

/** Where a parameter's full data is (DeepSpeed's ZeroParamStatus). */
export type ParamStatus = 'released' | 'inflight' | 'gathered';

const registry = new WeakMap<Tensor, PartitionedParam>();
let nextId = 0;

/** Elements each of `worldSize` ranks owns of a `numel`-element tensor (spec §2.2). */
export function partitionSize(numel: number, worldSize: number): number {
  return Math.ceil(numel / worldSize);
}

export class PartitionedParam {
  /** Creation order; sorts coalesced work identically on every rank. */
  readonly id = nextId++;
  readonly param: Tensor;
  readonly group: ProcessGroup;
  readonly shape: readonly number[];
  readonly numel: number;
  #dtype: DType;
  /** Elements per rank (ps); the padded length is ps · group.size. */
  readonly partitionSize: number;
  /** Dotted name in the model (set once the model is known; used in messages and checkpoints). */
  name: string;
  /** This rank's slice [ps] in the parameter's dtype, padding zero-filled. */
  partition: Tensor;
  /** Small parameters stay gathered for the whole run (stage3_param_persistence_threshold). */
  persistent = false;
  status: ParamStatus;
  /** Modules currently running that use this parameter (it is never released while > 0). */
  activeUses = 0;
  /** The fp32 master slice and the fp32 gradient slice the optimizer steps (null when not trained). */
  master: Tensor | null = null;
  gradPartition: Tensor | null = null;
  /** Where new fp32 master values go when the master is not held in memory (offload_optimizer nvme). */
  masterSink: ((fp32: Float32Array) => void) | null = null;
  #inflight: { work: Work; buffer: StorageArray } | null = null;
  #onCommError: (e: unknown) => void = () => {};
  #store: PartitionStore | null = null;
  /** The partition was read in from the store for the gather in progress. */
  #loadedForGather = false;

  private constructor(param: Tensor, group: ProcessGroup, shape: readonly number[], partition: Tensor, status: ParamStatus, name: string, ps = partition.numel) {
    this.param = param;
    this.group = group;
    this.shape = [...shape];
    this.numel = shape.reduce((a, b) => a * b, 1);
    this.#dtype = param.dtype;
    this.partitionSize = ps;
    this.partition = partition;
    this.status = status;
    this.name = name;
    registry.set(param, this);
  }

  /** The ZeRO-3 record of `param`, or undefined when it is an ordinary parameter. */
  static of(param: Tensor): PartitionedParam | undefined {
    return registry.get(param);
  }

  /**
   * Partition a parameter that holds its full data: this rank's slice is copied out and the
   * parameter keeps its data (status 'gathered') until released.
   */
  static fromFull(param: Tensor, group: ProcessGroup, name: string): PartitionedParam {
    if (registry.has(param)) throw new Error(`ZeRO-3: parameter '${name}' is already partitioned`);
    const slice = sliceOf(param, group);
    return new PartitionedParam(param, group, param.shape, slice, 'gathered', name);
  }

  /**
   * Partition a parameter that only holds its slice already (construction under zeroInit):
   * `partition` becomes its slice, the parameter is released.
   */
  static fromSlice(param: Tensor, group: ProcessGroup, shape: readonly number[], partition: Tensor, name: string): PartitionedParam {
    if (registry.has(param)) throw new Error(`ZeRO-3: parameter '${name}' is already partitioned`);
    const rec = new PartitionedParam(param, group, shape, partition, 'gathered', name);
    rec.release();
    return rec;
  }

  /**
   * Partition a released parameter whose slice is already in `store` (zeroInit with parameter
   * offload): `attach` must hand the record to the store.
   */
  static fromStore(param: Tensor, group: ProcessGroup, shape: readonly number[], dtype: DType, name: string, attach: (rec: PartitionedParam) => void): PartitionedParam {
    if (registry.has(param)) throw new Error(`ZeRO-3: parameter '${name}' is already partitioned`);
    const ps = partitionSize(shape.reduce((a, b) => a * b, 1), group.size);
    const rec = new PartitionedParam(param, group, shape, new Tensor(allocateStorage(dtype, 0), [0], dtype), 'released', name, ps);
    rec.#dtype = dtype;
    attach(rec);
    return rec;
  }

  get dtype(): DType {
    return this.#dtype;
  }

  /** Where the partition lives when it is not in memory (null: `partition` holds it). */
  get store(): PartitionStore | null {
    return this.#store;
  }

  /** Hand the partition to `store`, which now holds it; the in-memory copy is dropped. */
  attachStore(store: PartitionStore): void {
    if (this.#store && this.#store !== store) throw new Error(`ZeRO-3: parameter '${this.name}''s partition is already held elsewhere`);
    if (this.status === 'inflight') throw new Error(`ZeRO-3: parameter '${this.name}' cannot move its partition while its all-gather is in flight`);
    this.#store = store;
    this.partition = new Tensor(allocateStorage(this.#dtype, 0), [0], this.#dtype);
  }

  /** This rank's slice as fp32 (read from the store when it is not in memory). */
  partitionFloat32(): Float32Array {
    return this.#store ? this.#store.readFloat32Sync(this) : this.partition.toFloat32Array();
  }

  /** Overwrite this rank's slice with `values` (ps elements of the partition's dtype), wherever it lives. */
  writePartition(values: StorageArray): void {
    if (this.#store) this.#store.storeSync(this, values);
    else (this.partition.data() as StorageArray).set(values as never);
  }

  /**
   * Follow an in-place cast of the (released) parameter to `dtype` (mixed precision casts the
   * model after zeroInit partitioned it): the partition is rounded to the new dtype.
   */
  castPartition(dtype: DType): void {
    if (dtype === this.#dtype) return;
    if (this.status !== 'released') throw new Error(`ZeRO-3: parameter '${this.name}' must be released to change its dtype`);
    if (this.#store) {
      this.#store.recastSync(this, this.#dtype, dtype);
      this.partition = new Tensor(allocateStorage(dtype, 0), [0], dtype);
    } else {
      this.partition = this.partition.to(dtype).contiguous();
    }
    this.#dtype = dtype;
  }

  /** Index of this rank's first element in the flattened parameter. */
  get start(): number {
    return this.group.rank * this.partitionSize;
  }

  /** Real (non-padding) elements in this rank's slice. */
  get ownedElements(): number {
    return Math.max(0, Math.min(this.partitionSize, this.numel - this.start));
  }

  /** Where communication errors of background gathers go (the coordinator surfaces them at the next step). */
  onCommError(sink: (e: unknown) => void): void {
    this.#onCommError = sink;
  }

  /** Issue the all-gather of the full data (no-op unless released). */
  startGather(): void {
    if (this.status !== 'released') return;
    const store = this.#store;
    if (store && !store.isResident(this)) {
      if (!store.loadSync(this)) {
        throw new Error(
          `ZeRO-3: no free offload_param swap buffer to read parameter '${this.name}' into (all are holding partitions of gathers in flight); ` +
            'raise zero_optimization.offload_param.buffer_count',
        );
      }
      this.#loadedForGather = true;
    }
    const d = this.group.size;
    const buffer = allocateStorage(this.dtype, this.partitionSize * d);
    if (d === 1) {
      buffer.set(this.partition.data() as never);
      this.#install(buffer);
      return;
    }
    const out = new Tensor(buffer, [buffer.length], this.dtype);
    const work = this.group.allGatherInto(out, contiguousPartition(this), { async: true, logName: 'zero3_param_allgather' });
    this.#inflight = { work, buffer };
    this.status = 'inflight';
  }

  /** Finish an issued gather inside synchronous code (module hooks, autograd hooks). */
  finishGatherNow(): void {
    if (this.status !== 'inflight') return;
    const { work, buffer } = this.#inflight!;
    completeNow(work, `all-gather of parameter '${this.name}'`, this.#onCommError);
    this.#inflight = null;
    this.#install(buffer);
  }

  /** Finish an issued gather asynchronously (between steps, GatheredParameters). */
  async finishGather(): Promise<void> {
    if (this.status !== 'inflight') return;
    const { work, buffer } = this.#inflight!;
    await work.wait();
    if (this.status !== 'inflight' || this.#inflight?.buffer !== buffer) return;
    this.#inflight = null;
    this.#install(buffer);
  }

  /** Gather now and return when the data is in place. */
  async gather(): Promise<void> {
    this.startGather();
    await this.finishGather();
  }

  /** Drop the full data (the parameter becomes an empty [0] placeholder). Never while in flight. */
  release(): void {
    if (this.status === 'inflight') throw new Error(`ZeRO-3: parameter '${this.name}' cannot be released while its all-gather is in flight`);
    if (this.status === 'released') return;
    this.param.setData(new Tensor(allocateStorage(this.dtype, 0), [0], this.dtype));
    this.status = 'released';
  }

  /** Re-slice the gathered full data into `partition` (after the full tensor was changed on purpose). */
  repartitionFromFull(): void {
    if (this.status !== 'gathered') throw new Error(`ZeRO-3: parameter '${this.name}' must be gathered to re-partition it`);
    const full = this.param.isContiguous() ? this.param.data() : this.param.contiguous().data();
    const dst = this.#store ? allocateStorage(this.dtype, this.partitionSize) : this.partition.data();
    const n = this.ownedElements;
    dst.fill(0 as never);
    if (n > 0) dst.set(full.subarray(this.start, this.start + n) as never);
    if (this.#store) this.#store.storeSync(this, dst);
  }

  /**
   * Start rebuilding a gathered parameter's full data from the partitions (after the optimizer
   * or a load changed them); its current data stays in place until the gather finishes.
   */
  startRefresh(): void {
    if (this.status !== 'gathered') return;
    this.status = 'released';
    this.startGather();
  }

  /** Rebuild a gathered parameter's full data from the partitions. */
  async refresh(): Promise<void> {
    if (this.status === 'inflight') await this.finishGather();
    this.startRefresh();
    await this.finishGather();
  }

  #install(buffer: StorageArray): void {
    this.param.setData(new Tensor(buffer, this.shape, this.dtype));
    this.status = 'gathered';
    // The gather copied the partition out: its swap buffer goes back to the pool.
    if (this.#loadedForGather) {
      this.#loadedForGather = false;
      this.#store!.unload(this);
    }
  }
}

/** A copy of `param`'s slice for this rank, zero-padded to ps elements. */
export function sliceOf(param: Tensor, group: ProcessGroup): Tensor {
  const numel = param.numel;
  const ps = partitionSize(numel, group.size);
  const out = allocateStorage(param.dtype, ps);
  const start = group.rank * ps;
  const n = Math.max(0, Math.min(ps, numel - start));
  if (n > 0) {
    const full = param.isContiguous() ? param.data() : param.contiguous().data();
    out.set(full.subarray(start, start + n) as never);
  }
  return new Tensor(out, [ps], param.dtype);
}

// Collectives want a contiguous tensor over exactly the partition.
function contiguousPartition(rec: PartitionedParam): Tensor {
  const p = rec.partition;
  return p.isContiguous() ? p : p.contiguous();
}
