// ZeRO-1/2 gradient reduction onto partitions. Gradients are packed, as backward produces them,
// into buckets (contiguous ranges of a flat group); a full bucket is reduced so that each rank
// receives only the range it owns, which it adds, averaged, into its partition-sized fp32
// gradient. Stage 2 does this every micro-batch and frees each full gradient once it is packed;
// stage 1 accumulates full gradients locally and reduces once, at the accumulation boundary.
import { allocShared, isShared, type Work } from '@ds/comm';
import { bytesPerElement, zeros, type DType, type Tensor } from '@ds/core';
import type { GradientSync } from '@ds/strategy';
import { registerMemory } from '../estimate/memory-report.js';
import { accumulateScaled, castInto, scaleInPlace } from './elements.js';
import type { FlatGroup } from './flat-group.js';
import { planGradBuckets, type GradBucketPlan } from './grad-buckets.js';

export interface PartitionedGradSyncOptions {
  stage: 1 | 2;
  /** Elements per bucket (`reduce_bucket_size`). */
  bucketElements: number;
  /** `reduce_scatter`: send each owner only its range (true) or all-reduce whole buckets (false). */
  reduceScatter: boolean;
  /** `contiguous_gradients`: copy gradients into persistent bucket buffers as they arrive. */
  contiguousGradients: boolean;
  /**
   * `overlap_comm`. true: reductions start from the gradient hooks (stage 1: in the boundary
   * micro-batch) and run while backward goes on. false: stage 1 reduces after backward, in
   * finish(); stage 2 still reduces from the hooks (it must, to free full gradients) but drives
   * each reduction to completion as it starts, where the backend can block (in-process ranks).
   */
  overlapComm: boolean;
  /** `communication_data_type`; null = the parameters' dtype. */
  commDtype: DType | null;
  /** `prescale_gradients`. */
  prescale: boolean;
  /** `gradient_predivide_factor`. */
  predivide: number;
  /** `ignore_unused_parameters`: false makes a parameter without a gradient in a step an error. */
  ignoreUnusedParameters: boolean;
}

interface InFlight {
  works: Work[];
  buffer: Tensor;
  /** reduce-scatter output (this rank's range), or null when the result is in `buffer`. */
  output: Tensor | null;
  pooled: boolean;
  epoch: number;
}

interface LiveBucket {
  flat: FlatGroup;
  plan: GradBucketPlan;
  key: string;
  /** Per parameter of the bucket: its gradient is in the buffer (or was taken) this micro-batch. */
  taken: boolean[];
  count: number;
  buffer: Tensor | null;
  bufferPooled: boolean;
  launched: boolean;
  inflight: InFlight[];
  pool: Tensor[];
}

export class PartitionedGradSync implements GradientSync {
  readonly name: string;
  readonly #flats: readonly FlatGroup[];
  readonly #opts: PartitionedGradSyncOptions;
  /** Buckets per reduce group in launch order; collectives on a group are issued in this order on every rank. */
  readonly #queues = new Map<string, { buckets: LiveBucket[]; next: number }>();
  readonly #where = new Map<Tensor, { bucket: LiveBucket; slot: number }>();
  #hooks: { remove(): void }[] = [];
  #active = false;
  #dirty = false;
  #epoch = 0;
  #checks: Promise<void>[] = [];
  #seen = new Set<Tensor>();
  /** Bytes of the persistent bucket buffers (reported to memoryReport as 'buffers'). */
  #bucketBytes = 0;
  #memory: { remove(): void };

  /** `order` ranks parameters by when backward is expected to produce their gradients (later first). */
  constructor(flats: readonly FlatGroup[], order: (p: Tensor) => number, opts: PartitionedGradSyncOptions) {
    this.#flats = flats;
    this.#opts = opts;
    this.name = `zero stage ${opts.stage} ${opts.reduceScatter ? 'reduce-scatter' : 'all-reduce'}`;
    const all: LiveBucket[] = [];
    for (const flat of flats) {
      const key = flat.group.ranks.join(',');
      for (const plan of planGradBuckets(flat.layout, opts.bucketElements)) {
        const b: LiveBucket = {
          flat, plan, key, taken: plan.params.map(() => false), count: 0, buffer: null, bufferPooled: false, launched: false, inflight: [], pool: [],
        };
        plan.params.forEach((pi, slot) => this.#where.set(flat.params[pi]!, { bucket: b, slot }));
        all.push(b);
      }
    }
    // Backward produces gradients roughly in reverse registration order; a bucket is ready when
    // its earliest-registered parameter is. Launch order must not depend on timing.
    const readyAt = (b: LiveBucket) => b.plan.params.reduce((m, pi) => Math.min(m, order(b.flat.params[pi]!)), Number.MAX_SAFE_INTEGER);
    const sorted = all.map((b, i) => ({ b, i, at: readyAt(b) })).sort((x, y) => y.at - x.at || x.i - y.i).map((x) => x.b);
    for (const b of sorted) {
      const q = this.#queues.get(b.key) ?? { buckets: [], next: 0 };
      q.buckets.push(b);
      this.#queues.set(b.key, q);
    }
    this.#memory = registerMemory('buffers', () => this.#bucketBytes, { name: 'zero gradient buckets' });
    const hooked = opts.stage === 2 || opts.overlapComm;
    if (hooked) for (const p of this.#where.keys()) this.#hooks.push(p.registerPostAccumulateGradHook(() => this.#onGrad(p)));
  }

  beforeBackward(boundary: boolean): void {
    if (this.#opts.stage === 2 && this.#dirty) {
      // The previous micro-batch's buckets some parameter never completed (it got no gradient).
      this.#flushAll();
      this.#reset();
    }
    this.#reclaim();
    this.#active = this.#opts.stage === 2 || (boundary && this.#opts.overlapComm);
    this.#dirty = this.#opts.stage === 2;
  }

  async finish(): Promise<void> {
    this.#active = false;
    this.#flushAll();
    for (const q of this.#queues.values()) {
      for (const b of q.buckets) {
        while (b.inflight.length > 0) {
          const f = b.inflight[0]!;
          for (const w of f.works) await w.wait();
          this.#complete(b);
        }
      }
    }
    const checks = this.#checks;
    this.#checks = [];
    await Promise.all(checks);
    this.#reset();
    this.#checkUnused();
  }

  /** Drop everything accumulated so far: partition gradients, full gradients, reductions in flight. */
  zeroGrad(): void {
    this.#epoch++;
    for (const flat of this.#flats) {
      flat.grad.data<'float32'>().fill(0);
      for (const p of flat.params) p.grad = null;
    }
    this.#reset();
    this.#seen.clear();
  }

  close(): void {
    for (const h of this.#hooks) h.remove();
    this.#hooks = [];
    this.#memory.remove();
  }

  #onGrad(p: Tensor): void {
    if (!this.#active) return;
    const at = this.#where.get(p)!;
    const b = at.bucket;
    if (b.taken[at.slot]) {
      throw new Error(`zero: the gradient of '${b.flat.names[b.plan.params[at.slot]!]}' was produced twice in one backward pass; a parameter may be reduced once per micro-batch`);
    }
    if (this.#opts.contiguousGradients && !b.launched) {
      this.#take(b, at.slot);
    } else {
      b.taken[at.slot] = true;
      b.count++;
      this.#seen.add(p);
    }
    if (b.count === b.plan.params.length) this.#advance(b.key);
  }

  /** Copy a parameter's gradient into its bucket and free it (zeros when it has none). */
  #take(b: LiveBucket, slot: number): void {
    const buf = this.#bufferOf(b);
    const pi = b.plan.params[slot]!;
    const p = b.flat.params[pi]!;
    const at = b.flat.layout.offsets[pi]! - b.plan.start;
    const dst = buf.data().subarray(at, at + p.numel);
    if (p.grad) {
      castInto(dst, buf.dtype, p.grad);
      this.#seen.add(p);
    } else {
      dst.fill(0 as never);
    }
    p.grad = null;
    b.taken[slot] = true;
    b.count++;
  }

  #bufferOf(b: LiveBucket): Tensor {
    if (b.buffer) return b.buffer;
    this.#reclaimBucket(b);
    const dtype = this.#opts.commDtype ?? b.flat.dtype;
    const n = b.plan.end - b.plan.start;
    let buf: Tensor;
    if (this.#opts.contiguousGradients) {
      buf = b.pool.pop() ?? this.#newPooled(n, dtype);
      b.bufferPooled = true;
    } else {
      buf = zeros([n], { dtype });
      b.bufferPooled = false;
    }
    // The padding and any parameter that never gets a gradient reduce as zeros.
    buf.data().fill(0 as never);
    b.buffer = buf;
    return buf;
  }

  #newPooled(n: number, dtype: DType): Tensor {
    this.#bucketBytes += n * bytesPerElement(dtype);
    return sharedBuffer(n, dtype);
  }

  #advance(key: string): void {
    const q = this.#queues.get(key)!;
    while (q.next < q.buckets.length && q.buckets[q.next]!.count === q.buckets[q.next]!.plan.params.length) this.#launch(q.buckets[q.next++]!);
  }

  #flushAll(): void {
    for (const q of this.#queues.values()) while (q.next < q.buckets.length) this.#launch(q.buckets[q.next++]!);
  }

  #launch(b: LiveBucket): void {
    if (b.launched) return;
    const buf = this.#bufferOf(b);
    for (let slot = 0; slot < b.plan.params.length; slot++) {
      const p = b.flat.params[b.plan.params[slot]!]!;
      // Gradients left in `.grad` (contiguous_gradients off, or stage 1 reducing after backward).
      if (!b.taken[slot] || (!this.#opts.contiguousGradients && p.grad)) {
        if (b.taken[slot]) {
          b.taken[slot] = false;
          b.count--;
        }
        this.#take(b, slot);
      }
    }
    b.launched = true;
    const group = b.flat.group;
    const { pre } = this.#scales(group.size);
    scaleInPlace(buf.data(), buf.dtype, pre);
    const works: Work[] = [];
    let output: Tensor | null = null;
    if (group.size > 1) {
      const regions = b.plan.regions;
      const len = regions[0]!.end - regions[0]!.start;
      if (!this.#opts.reduceScatter) {
        works.push(group.allReduce(buf, 'sum', { async: true, logName: 'zero_grad_allreduce' }));
      } else if (regions.length === group.size && regions.every((r) => r.end - r.start === len)) {
        output = zeros([len], { dtype: buf.dtype });
        works.push(group.reduceScatter(output, buf, 'sum', { async: true, logName: 'zero_grad_reduce_scatter' }));
      } else {
        for (const r of regions) {
          const piece = buf.narrow(0, r.start - b.plan.start, r.end - r.start);
          works.push(group.reduce(piece, r.rank, 'sum', { async: true, logName: 'zero_grad_reduce' }));
        }
      }
    }
    b.inflight.push({ works, buffer: buf, output, pooled: b.bufferPooled, epoch: this.#epoch });
    b.buffer = null;
    if (!this.#opts.overlapComm) {
      // NOTE: without overlap the reduction runs to completion here, inside backward, where the
      // backend can block (in-process ranks); a process backend finishes it in the background.
      for (const w of works) this.#check(w);
    }
    this.#reclaimBucket(b);
  }

  /** Finish the oldest reduction of `b`: add this rank's range, averaged, to its partition gradient. */
  #complete(b: LiveBucket): void {
    const f = b.inflight.shift()!;
    const flat = b.flat;
    const mine = b.plan.regions.find((r) => r.rank === flat.rank);
    if (mine && f.epoch === this.#epoch) {
      const n = mine.end - mine.start;
      const src = f.output ?? f.buffer.narrow(0, mine.start - b.plan.start, n);
      const at = mine.start - flat.partitionStart;
      const out = flat.grad.data<'float32'>().subarray(at, at + n);
      accumulateScaled(out, src.data(), src.dtype, this.#scales(flat.group.size).post);
    }
    if (f.pooled) b.pool.push(f.buffer);
  }

  /** Complete, without waiting, the reductions of `b` that have already finished (in order). */
  #reclaimBucket(b: LiveBucket): void {
    while (b.inflight.length > 0 && b.inflight[0]!.works.every((w) => w.isCompleted())) {
      const f = b.inflight[0]!;
      for (const w of f.works) this.#check(w);
      this.#complete(b);
    }
  }

  /** Keep `w`'s outcome for finish() to report; handled now so a failure is not an unhandled rejection. */
  #check(w: Work): void {
    const p = w.wait();
    p.catch(() => {});
    this.#checks.push(p);
  }

  #reclaim(): void {
    for (const q of this.#queues.values()) for (const b of q.buckets) this.#reclaimBucket(b);
  }

  #reset(): void {
    for (const q of this.#queues.values()) {
      q.next = 0;
      for (const b of q.buckets) {
        b.taken.fill(false);
        b.count = 0;
        b.launched = false;
        if (b.buffer && b.bufferPooled) b.pool.push(b.buffer);
        b.buffer = null;
      }
    }
    this.#dirty = false;
  }

  /**
   * DeepSpeed's scaling: `prescale_gradients` divides by D before the sum; a predivide factor f
   * splits it as 1/f before and f/D after; otherwise the reduce-scatter path divides before the
   * sum and the all-reduce path after it (spec §1.5).
   */
  #scales(d: number): { pre: number; post: number } {
    const { prescale, predivide, reduceScatter } = this.#opts;
    if (prescale) return { pre: 1 / d, post: 1 };
    if (predivide !== 1) return { pre: 1 / predivide, post: predivide / d };
    return reduceScatter ? { pre: 1 / d, post: 1 } : { pre: 1, post: 1 / d };
  }

  #checkUnused(): void {
    if (this.#opts.ignoreUnusedParameters) {
      this.#seen.clear();
      return;
    }
    const unused: string[] = [];
    for (const flat of this.#flats) flat.params.forEach((p, i) => this.#seen.has(p) || unused.push(flat.names[i]!));
    this.#seen.clear();
    if (unused.length > 0) {
      throw new Error(
        `zero: ${unused.length} parameter(s) received no gradient in this step: ${unused.slice(0, 8).join(', ')}${unused.length > 8 ? ', ...' : ''}; ` +
          'set zero_optimization.ignore_unused_parameters to true to treat them as zero',
      );
    }
  }
}

/** Long-lived buffers go on the in-process backend's shared arena when there is one (peers read them in place). */
function sharedBuffer(numel: number, dtype: DType): Tensor {
  try {
    const t = allocShared([numel], dtype);
    if (isShared(t)) return t;
  } catch {
    // not the in-process backend: an ordinary buffer
  }
  return zeros([numel], { dtype });
}
