// Data-parallel gradient synchronisation (DeepSpeed's non-ZeRO allreduce path, overlapped
// like PyTorch DDP): at the accumulation boundary every parameter's post-accumulate hook
// marks it ready; a bucket whose gradients are all ready is packed into its flat buffer,
// cast to the communication dtype and all-reduced asynchronously while backward goes on.
// `finish()` reduces what backward never touched (unused parameters count as zero), waits,
// and writes the averaged gradients back. A parameter whose gradient another strategy
// accumulates outside autograd (`setGradHolder`: bf16 into fp32 masters) is reduced from its
// holder in `finish()` instead, after the boundary micro-batch was folded in, as DeepSpeed
// reduces BF16_Optimizer's fp32 gradients at the boundary.
import { allocShared, isShared, type ProcessGroup, type Work } from '@ds/comm';
import { noGrad, zeros, type DType, type Tensor } from '@ds/core';
import { gradHolderOf, reduceGroupOf, type GradientSync } from '@ds/strategy';
import { planBuckets, type Bucket } from './buckets.js';

export interface DataParallelOptions {
  /** Elements per bucket (DeepSpeed `reduce_bucket_size`). */
  bucketElements: number;
  /** DeepSpeed `prescale_gradients`: divide by the group size before the sum. */
  prescale: boolean;
  /** DeepSpeed `gradient_predivide_factor`. */
  predivide: number;
  /** Dtype the reduction runs in; null = each gradient's own dtype. */
  commDtype: DType | null;
}

interface LiveBucket extends Bucket {
  /** Per parameter, the tensor whose `.grad` is reduced: the parameter, or its holder. */
  holders: Tensor[];
  flat: Tensor;
  ready: number;
  work: Work | null;
}

export class AllReduceGradSync implements GradientSync {
  readonly name = 'data-parallel all-reduce';
  #params: () => Tensor[];
  #fallback: ProcessGroup;
  #opts: DataParallelOptions;
  #buckets: LiveBucket[] | null = null;
  #bucketOf = new Map<Tensor, LiveBucket>();
  #hooks: { remove(): void }[] = [];
  #active = false;

  /** `params` is read lazily, at the first backward, so strategies may still replace parameters. */
  constructor(params: () => Tensor[], dataParallel: ProcessGroup, opts: DataParallelOptions) {
    this.#params = params;
    this.#fallback = dataParallel;
    this.#opts = opts;
  }

  beforeBackward(boundary: boolean): void {
    if (!this.#buckets) this.#build();
    this.#active = boundary;
    if (!boundary) return;
    for (const b of this.#buckets!) {
      b.ready = 0;
      b.work = null;
    }
  }

  async finish(): Promise<void> {
    if (!this.#buckets) this.#build();
    this.#active = false;
    for (const b of this.#buckets!) if (!b.work) this.#launch(b);
    for (const b of this.#buckets!) await b.work!.wait();
    for (const b of this.#buckets!) this.#unpack(b);
  }

  close(): void {
    for (const h of this.#hooks) h.remove();
    this.#hooks = [];
  }

  #build(): void {
    const params = this.#params();
    const single = (p: Tensor): boolean => reduceGroupOf(p, this.#fallback).size === 1;
    // Groups of one rank have nothing to reduce; their gradients are already "averaged".
    const reduced = params.filter((p) => !single(p));
    const held = (p: Tensor): boolean => gradHolderOf(p) !== p;
    const plan = (ps: Tensor[]) =>
      planBuckets(ps, (p) => reduceGroupOf(p, this.#fallback), this.#opts.bucketElements, (p) => this.#opts.commDtype ?? gradHolderOf(p).dtype);
    // Held gradients are only complete after the boundary backward returned and was folded in,
    // so their buckets are never launched from hooks: keep them apart from the hooked ones.
    const hooked = plan(reduced.filter((p) => !held(p)));
    const deferred = plan(reduced.filter(held));
    this.#buckets = [...hooked, ...deferred].map((b) => ({
      ...b, holders: b.params.map(gradHolderOf), flat: flatBuffer(b.numel, b.dtype), ready: 0, work: null,
    }));
    for (const b of this.#buckets.slice(0, hooked.length)) {
      for (const p of b.params) {
        this.#bucketOf.set(p, b);
        this.#hooks.push(p.registerPostAccumulateGradHook(() => this.#onGrad(p)));
      }
    }
  }

  #onGrad(p: Tensor): void {
    if (!this.#active) return;
    const b = this.#bucketOf.get(p)!;
    b.ready++;
    if (b.ready === b.params.length && !b.work) this.#launch(b);
  }

  #launch(b: LiveBucket): void {
    const { prescale, predivide } = this.#opts;
    const n = b.group.size;
    noGrad(() => {
      b.holders.forEach((p, i) => {
        const dst = b.flat.narrow(0, b.offsets[i]!, p.numel);
        if (p.grad) dst.copy_(p.grad.reshape(-1));
        else dst.zero_();
      });
      const pre = prescale ? 1 / n : predivide !== 1 ? 1 / predivide : 1;
      if (pre !== 1) b.flat.mul_(pre);
    });
    b.work = b.group.allReduce(b.flat, 'sum', { async: true, logName: 'grad_allreduce' });
  }

  #unpack(b: LiveBucket): void {
    const { prescale, predivide } = this.#opts;
    const n = b.group.size;
    const post = prescale ? 1 : predivide !== n ? predivide / n : 1;
    noGrad(() => {
      if (post !== 1) b.flat.mul_(post);
      b.holders.forEach((p, i) => {
        const src = b.flat.narrow(0, b.offsets[i]!, p.numel).reshape(p.shape);
        if (p.grad) p.grad.copy_(src);
        else p.grad = src.to(p.dtype).clone();
      });
    });
  }
}

/** Long-lived buffers live in the in-process backend's shared arena when there is one (peers read them in place). */
function flatBuffer(numel: number, dtype: DType): Tensor {
  try {
    const t = allocShared([numel], dtype);
    if (isShared(t)) return t;
  } catch {
    // not the in-process backend: an ordinary buffer
  }
  return zeros([numel], { dtype });
}
