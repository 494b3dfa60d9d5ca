// Stage-3 gradient synchronisation: as backward produces each parameter's gradient (its
// post-accumulate hook), the gradient joins a bucket; a full bucket is reduce-scattered
// asynchronously so each rank receives the averaged gradient of its own slices only, added into
// the partition gradient buffers the optimizer steps (fp32, or 16-bit under
// data_types.grad_accum_dtype). The full gradient is dropped at once; on one rank there is
// nothing to reduce and it is added into the partition straight away.
//
// NOTE: autograd keeps every storage it hands out as a leaf's `.grad` until backward returns (to
// copy it if a second leaf receives the same storage), so a `.grad` dropped after its reduction
// would stay resident to the end of backward: the whole model's gradients at the peak. A
// pre-accumulate hook gives each parameter a `.grad` to accumulate into instead, a view of one
// reused staging buffer (zeroed again once the gradient is consumed), so autograd adds the
// gradient there and keeps nothing.
import { allocateStorage, Tensor, type DType, type StorageArray } from '@ds/core';
import type { ProcessGroup, Work } from '@ds/comm';
import { masterToHalf, unscaleToMaster } from '@ds/precision';
import type { GradientSync } from '@ds/strategy';
import { registerMemory } from '../estimate/memory-report.js';
import type { ParameterCoordinator } from './coordinator.js';
import type { PartitionedParam } from './partitioned-param.js';
import { completeNow } from './sync-completion.js';

export interface PartitionGradSyncOptions {
  /** Elements per bucket (reduce_bucket_size). */
  reduceBucketSize: number;
  /** reduce_scatter; false all-reduces each bucket and keeps this rank's slices. */
  reduceScatter: boolean;
  /** overlap_comm; false finishes each bucket's reduction before backward goes on (where the backend can). */
  overlapComm: boolean;
  /** Whether the group can finish a collective inside a synchronous hook. */
  completesSynchronously(group: ProcessGroup): boolean;
  /** Released with the gradient sync at engine close (the memoryReport registrations of the partitions). */
  memory?: { remove(): void };
}

interface Entry {
  rec: PartitionedParam;
  /** The full gradient, owned by the bucket (a staged one is copied out of the staging buffer). */
  grad: Tensor;
}

/** A parameter's `.grad` lent from the staging buffer for the backward step in progress. */
interface Staged {
  rec: PartitionedParam;
  view: Tensor;
}

interface InFlight {
  work: Work;
  group: ProcessGroup;
  recs: PartitionedParam[];
  offsets: number[];
  /** This rank's reduced slices, concatenated (an all-reduce keeps the whole bucket here). */
  output: Float32Array;
  outputOffset: number;
}

export class PartitionGradSync implements GradientSync {
  readonly name = 'ZeRO-3 partitioned gradient reduce-scatter';
  readonly #trainable: PartitionedParam[];
  readonly #coordinator: ParameterCoordinator;
  readonly #opts: PartitionGradSyncOptions;
  readonly #buckets = new Map<ProcessGroup, { entries: Entry[]; numel: number }>();
  #inFlight: InFlight[] = [];
  #hooks: { remove(): void }[] = [];
  #reported = 0;
  #error: unknown = null;
  /** One staging buffer per parameter dtype, as long as the largest such parameter. */
  readonly #staging = new Map<DType, StorageArray>();
  #staged: Staged | null = null;
  readonly #stagingMemory: { remove(): void };

  constructor(trainable: readonly PartitionedParam[], coordinator: ParameterCoordinator, opts: PartitionGradSyncOptions) {
    this.#trainable = [...trainable];
    this.#coordinator = coordinator;
    this.#opts = opts;
    for (const rec of this.#trainable) {
      this.#hooks.push(rec.param.registerHook(() => this.#stage(rec)));
      this.#hooks.push(rec.param.registerPostAccumulateGradHook(() => this.#onGrad(rec)));
    }
    this.#stagingMemory = registerMemory('buffers', () => this.stagingBytes, { name: 'zero-3 gradient staging buffer' });
  }

  /** Bytes of the gradient staging buffers (allocated at the first backward). */
  get stagingBytes(): number {
    let n = 0;
    for (const b of this.#staging.values()) n += b.byteLength;
    return n;
  }

  /** A communication error from a background collective, surfaced at the next finish(). */
  recordError(e: unknown): void {
    this.#error ??= e;
  }

  beforeBackward(_boundary: boolean): void {
    // What the previous micro-batch left in partly filled buckets goes out now.
    this.#flushAll();
    this.#reported = 0;
  }

  async finish(): Promise<void> {
    this.#flushAll();
    const pending = this.#inFlight;
    this.#inFlight = [];
    for (const f of pending) {
      await f.work.wait();
      accumulate(f);
    }
    if (this.#error !== null) {
      const e = this.#error;
      this.#error = null;
      throw e;
    }
  }

  close(): void {
    for (const h of this.#hooks) h.remove();
    this.#hooks = [];
    this.#unstage();
    this.#staging.clear();
    this.#stagingMemory.remove();
    this.#coordinator.uninstall();
    this.#opts.memory?.remove();
  }

  /** Before autograd accumulates `rec`'s gradient: lend it a zeroed `.grad` to accumulate into (see the note above). */
  #stage(rec: PartitionedParam): void {
    if (rec.param.grad !== null || !rec.gradPartition) return;
    // A staging whose post-accumulate hook never ran (a backward that threw) is taken back first.
    this.#unstage();
    const dtype = rec.param.dtype;
    let buf = this.#staging.get(dtype);
    if (!buf || buf.length < rec.numel) {
      const longest = this.#trainable.reduce((n, r) => (r.param.dtype === dtype ? Math.max(n, r.numel) : n), rec.numel);
      this.#staging.set(dtype, (buf = allocateStorage(dtype, longest)));
    }
    const view = new Tensor(buf.subarray(0, rec.numel), rec.shape, dtype);
    rec.param.grad = view;
    this.#staged = { rec, view };
  }

  /** Give the staging buffer back zeroed; a parameter still pointing into it loses that `.grad`. */
  #unstage(): void {
    const s = this.#staged;
    if (!s) return;
    this.#staged = null;
    if (s.rec.param.grad === s.view) s.rec.param.grad = null;
    s.view.storage.fill(0 as never);
  }

  #onGrad(rec: PartitionedParam): void {
    const grad = rec.param.grad;
    rec.param.grad = null;
    const borrowed = this.#staged?.rec === rec && grad === this.#staged.view;
    if (grad && rec.gradPartition) this.#add(rec, grad, borrowed);
    if (this.#staged?.rec === rec) this.#unstage();
    this.#coordinator.afterGrad(rec);
    // Every trainable parameter has its gradient: this backward is done with the buckets.
    if (++this.#reported === this.#trainable.length) this.#flushAll();
    this.#poll();
  }

  /** `borrowed`: the gradient lives in the staging buffer and must be copied to be kept. */
  #add(rec: PartitionedParam, grad: Tensor, borrowed: boolean): void {
    if (rec.group.size === 1) {
      // Nothing to reduce: the gradient goes straight into the partition (what a bucket of one rank would add).
      addIntoPartition(rec.gradPartition!, contiguousData(grad), grad.dtype);
      return;
    }
    if (borrowed) grad = new Tensor(contiguousData(grad).slice(), grad.shape, grad.dtype);
    let b = this.#buckets.get(rec.group);
    if (!b) this.#buckets.set(rec.group, (b = { entries: [], numel: 0 }));
    if (b.entries.length > 0 && b.numel + rec.numel > this.#opts.reduceBucketSize) this.#launch(rec.group, b.entries.splice(0));
    if (b.entries.length === 0) b.numel = 0;
    b.entries.push({ rec, grad });
    b.numel += rec.numel;
  }

  #flushAll(): void {
    for (const [group, b] of this.#buckets) {
      if (b.entries.length > 0) this.#launch(group, b.entries.splice(0));
      b.numel = 0;
    }
  }

  /**
   * One bucket, rank-major (spec §2.6): slot r holds rank r's slice of every gradient, each
   * padded to its partition size and pre-divided by the group size; one reduce-scatter leaves
   * this rank's slot holding the averaged gradient of its own slices. (Groups of one rank never
   * get here: their gradients go straight into the partitions.)
   */
  #launch(group: ProcessGroup, entries: Entry[]): void {
    entries.sort((a, b) => a.rec.id - b.rec.id);
    const w = group.size;
    const offsets: number[] = [];
    let slot = 0;
    for (const { rec } of entries) {
      offsets.push(slot);
      slot += rec.partitionSize;
    }
    const input = new Float32Array(w * slot);
    entries.forEach(({ rec, grad }, i) => {
      const values = grad.dtype === 'float32' && grad.isContiguous() ? grad.data<'float32'>() : grad.toFloat32Array();
      const ps = rec.partitionSize;
      for (let r = 0; r < w; r++) {
        const from = r * ps;
        const to = Math.min(from + ps, rec.numel);
        const at = r * slot + offsets[i]!;
        for (let k = from; k < to; k++) input[at + k - from] = values[k]! / w;
      }
    });
    const recs = entries.map((e) => e.rec);
    let f: InFlight;
    if (this.#opts.reduceScatter) {
      const output = new Float32Array(slot);
      const work = group.reduceScatter(new Tensor(output, [slot], 'float32'), new Tensor(input, [input.length], 'float32'), 'sum', {
        async: true,
        logName: 'zero3_grad_reduce_scatter',
      });
      f = { work, group, recs, offsets, output, outputOffset: 0 };
    } else {
      const work = group.allReduce(new Tensor(input, [input.length], 'float32'), 'sum', { async: true, logName: 'zero3_grad_allreduce' });
      f = { work, group, recs, offsets, output: input, outputOffset: group.rank * slot };
    }
    this.#inFlight.push(f);
    if (!this.#opts.overlapComm && this.#opts.completesSynchronously(group)) {
      completeNow(f.work, 'gradient reduction', (e) => this.recordError(e));
    }
  }

  /** Fold in, in launch order, the reductions that have already finished. */
  #poll(): void {
    while (this.#inFlight.length > 0) {
      const f = this.#inFlight[0]!;
      if (!f.work.isCompleted()) return;
      // Already finished: wait() returns at once and carries the outcome.
      f.work.wait().catch((e: unknown) => this.recordError(e));
      this.#inFlight.shift();
      accumulate(f);
    }
  }
}

/** Add each parameter's reduced slice into its partition gradient (copy on the first micro-batch = add to zeros). */
function accumulate(f: InFlight): void {
  f.recs.forEach((rec, i) => {
    const at = f.outputOffset + f.offsets[i]!;
    addIntoPartition(rec.gradPartition!, f.output.subarray(at, at + rec.partitionSize), 'float32');
  });
}

function contiguousData(t: Tensor): StorageArray {
  return t.isContiguous() ? t.data() : t.contiguous().data();
}

/** Elements widened or summed per piece: bounds the fp32 scratch a 16-bit partition needs. */
const CHUNK = 1 << 20;

/**
 * dst[k] += src[k] for the first src.length elements of a partition gradient. fp32 partitions
 * add in fp32; 16-bit ones (data_types.grad_accum_dtype) add in fp32 and round the sum once.
 * `src` is fp32, or 16-bit bits of `srcDtype`.
 */
export function addIntoPartition(dst: Tensor, src: StorageArray, srcDtype: DType): void {
  const out = dst.data();
  const n = src.length;
  if (n > out.length) throw new RangeError(`ZeRO-3: a gradient of ${n} elements does not fit its partition of ${out.length}`);
  if (srcDtype !== 'float32' && srcDtype !== 'float16' && srcDtype !== 'bfloat16') throw new TypeError(`ZeRO-3: gradients must be floating point, got ${srcDtype}`);
  if (dst.dtype === 'float32') {
    const d = out as Float32Array;
    if (srcDtype === 'float32') {
      const s = src as Float32Array;
      for (let k = 0; k < n; k++) d[k] += s[k]!;
    } else {
      unscaleToMaster(src as Uint16Array, srcDtype, d.subarray(0, n), 1, { accumulate: true });
    }
    return;
  }
  const half = dst.dtype;
  if (half !== 'float16' && half !== 'bfloat16') throw new TypeError(`ZeRO-3: partition gradients are fp32 or 16-bit, got ${half}`);
  const d = out as Uint16Array;
  const tmp = new Float32Array(Math.min(CHUNK, n));
  for (let a = 0; a < n; a += CHUNK) {
    const b = Math.min(n, a + CHUNK);
    const t = tmp.subarray(0, b - a);
    unscaleToMaster(d.subarray(a, b), half, t, 1);
    if (srcDtype === 'float32') {
      const s = src as Float32Array;
      for (let k = a; k < b; k++) t[k - a] = Math.fround(t[k - a]! + s[k]!);
    } else {
      unscaleToMaster((src as Uint16Array).subarray(a, b), srcDtype, t, 1, { accumulate: true });
    }
    masterToHalf(t, d.subarray(a, b), half);
  }
}
