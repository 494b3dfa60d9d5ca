// Stage-3 gradient synchronisation: as backward produces each parameter's gradient (its
// post-accumulate hook), the gradient joins a bucket; a full bucket is reduce-scattered
// asynchronously so each rank receives the averaged gradient of its own slices only, added into
// the fp32 partition gradient buffers the optimizer steps. The full gradient is dropped at once.
import { Tensor } from '@ds/core';
import type { ProcessGroup, Work } from '@ds/comm';
import type { GradientSync } from '@ds/strategy';
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
  grad: Tensor;
}

interface InFlight {
  work: Work | null;
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

  constructor(trainable: readonly PartitionedParam[], coordinator: ParameterCoordinator, opts: PartitionGradSyncOptions) {
    this.#trainable = [...trainable];
    this.#coordinator = coordinator;
    this.#opts = opts;
    for (const rec of this.#trainable) {
      this.#hooks.push(rec.param.registerPostAccumulateGradHook(() => this.#onGrad(rec)));
    }
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
      if (f.work) await f.work.wait();
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
    this.#coordinator.uninstall();
    this.#opts.memory?.remove();
  }

  #onGrad(rec: PartitionedParam): void {
    const grad = rec.param.grad;
    rec.param.grad = null;
    if (grad && rec.gradPartition) this.#add(rec, grad);
    this.#coordinator.afterGrad(rec);
    // Every trainable parameter has its gradient: this backward is done with the buckets.
    if (++this.#reported === this.#trainable.length) this.#flushAll();
    this.#poll();
  }

  #add(rec: PartitionedParam, grad: Tensor): void {
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
   * this rank's slot holding the averaged gradient of its own slices.
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
        if (w === 1) input.set(values.subarray(from, to), at);
        else for (let k = from; k < to; k++) input[at + k - from] = values[k]! / w;
      }
    });
    const recs = entries.map((e) => e.rec);
    let f: InFlight;
    if (w === 1) {
      f = { work: null, group, recs, offsets, output: input, outputOffset: 0 };
    } else if (this.#opts.reduceScatter) {
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
    if (f.work && !this.#opts.overlapComm && this.#opts.completesSynchronously(group)) {
      completeNow(f.work, 'gradient reduction', (e) => this.recordError(e));
    }
  }

  /** Fold in, in launch order, the reductions that have already finished. */
  #poll(): void {
    while (this.#inFlight.length > 0) {
      const f = this.#inFlight[0]!;
      if (f.work && !f.work.isCompleted()) return;
      // Already finished: wait() returns at once and carries the outcome.
      f.work?.wait().catch((e: unknown) => this.recordError(e));
      this.#inFlight.shift();
      accumulate(f);
    }
  }
}

/** Add each parameter's reduced slice into its fp32 partition gradient (copy on the first micro-batch = add to zeros). */
function accumulate(f: InFlight): void {
  f.recs.forEach((rec, i) => {
    const dst = rec.gradPartition!.data<'float32'>();
    const at = f.outputOffset + f.offsets[i]!;
    const src = f.output.subarray(at, at + rec.partitionSize);
    for (let k = 0; k < src.length; k++) dst[k] += src[k]!;
  });
}
