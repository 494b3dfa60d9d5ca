// Wires `offload_optimizer: { device: "nvme" }` into ZeRO stages 1-3: the stage's fp32 master
// partitions are written to swap files under nvme_path and their in-memory copies dropped (an
// fp32 model keeps its partition: the model computes with it), the updater steps Adam from
// disk, and checkpoints read and write the partitions and moments through the swap files.
import { Tensor, optim, allocateStorage } from '@ds/core';
import { masterToHalf, type HalfDType } from '@ds/precision';
import type { Checkpointable, EngineParts, StateValue, StrategyContext } from '@ds/strategy';
import type { OffloadOptions } from '../options.js';
import type { AppliedStage12 } from '../stage12/apply-stage12.js';
import type { Stage3Runtime } from '../stage3/apply-stage3.js';
import { NvmeOptimizer, type NvmeTarget } from './nvme-optimizer.js';
import { fromFp32 } from '../stage3/param-swap.js';
import type { FileIO } from './file-io.js';

const attached = new WeakMap<object, NvmeOptimizer>();

/** The NVMe optimizer ZeRO attached to these parts' model (undefined without nvme offload). */
export function nvmeOffloadOf(parts: { model: object }): NvmeOptimizer | undefined {
  return attached.get(parts.model);
}

/** The updater hook both stages expose: run this instead of the in-memory optimizer step. */
export interface OffloadStepUpdater {
  setOptimizerStep(step: (() => Promise<void>) | null): void;
}

/** One partition as the checkpoint sees it: the tensor its optimizer state is keyed by. */
interface Held {
  target: NvmeTarget;
  master: Tensor;
  /** Make `master` (and any views of it) hold these values. */
  restore(values: Float32Array): void;
  /** Free the in-memory copy again (a no-op where the model computes with it). */
  drop(): void;
}

export interface NvmeAttachOptions {
  offload: OffloadOptions;
  subGroupSize: number;
  io?: FileIO;
}

/** The nvme_path an `offload_optimizer` section must name, checked. */
export function nvmePathOf(offload: OffloadOptions, key = 'zero_optimization.offload_optimizer'): string {
  const p = offload.nvme_path;
  if (typeof p !== 'string' || p.trim() === '') {
    throw new RangeError(
      `${key}.nvme_path is required when ${key}.device is "nvme": give a directory on fast local storage for the swap files (e.g. "/local_nvme"), got ${JSON.stringify(p)}`,
    );
  }
  return p;
}

/** Stages 1-2: step each flat group's partition from disk. */
export async function attachNvmeStage12(parts: EngineParts, ctx: StrategyContext, applied: AppliedStage12, opts: NvmeAttachOptions): Promise<NvmeOptimizer> {
  const held: Held[] = applied.flats.map((f) => {
    const isHalf = f.master !== f.partition;
    const ps = f.layout.partitionSize;
    const target: NvmeTarget = {
      groupIndex: f.optimizerGroup,
      numel: ps,
      initial: () => f.master.data<'float32'>(),
      gradSlice: (start, numel) => f.grad.data<'float32'>().subarray(start, start + numel),
      update: isHalf
        ? (start, values) => masterToHalf(values, (f.partition.data() as Uint16Array).subarray(start, start + values.length), f.dtype as HalfDType)
        : (start, values) => f.partition.data<'float32'>().set(values, start),
    };
    return {
      target,
      master: f.master,
      restore: (values) => {
        if (isHalf) f.master.setData(new Tensor(values, [ps], 'float32'));
        else f.master.data<'float32'>().set(values);
      },
      drop: () => {
        if (isHalf) f.master.setData(emptyFloat32());
      },
    };
  });
  return attach(parts, ctx, applied.updater, applied.state, held, opts);
}

/** Stage 3: step each flat partition (a sub-group of the optimizer's group) from disk. */
export async function attachNvmeStage3(parts: EngineParts, ctx: StrategyContext, runtime: Stage3Runtime, opts: NvmeAttachOptions): Promise<NvmeOptimizer> {
  const swap = runtime.paramSwap;
  const held: Held[] = runtime.flats.map((f) => {
    // The master is not what the model computes with: a 16-bit model, or partitions on NVMe.
    const isHalf = f.recs.some((r) => r.partition !== r.master || swap?.holds(r));
    const numel = f.numel;
    const target: NvmeTarget = {
      groupIndex: f.groupIndex,
      numel,
      initial: () => f.initialMaster(),
      gradSlice: (start, n, out) => f.gradFloat32(start, n, out),
      update: isHalf
        ? async (start, values) => {
          const end = start + values.length;
          for (let i = 0; i < f.recs.length; i++) {
            const rec = f.recs[i]!;
            const lo = Math.max(start, f.offsets[i]!);
            const hi = Math.min(end, f.offsets[i]! + rec.partitionSize);
            if (lo >= hi) continue;
            const src = values.subarray(lo - start, hi - start);
            if (swap?.holds(rec)) await swap.updateRange(rec, lo - f.offsets[i]!, src);
            else fromFp32(src, rec.partition.data().subarray(lo - f.offsets[i]!, hi - f.offsets[i]!), rec.dtype);
          }
        }
        : (start, values) => f.master.data<'float32'>().set(values, start),
    };
    const point = (data: Float32Array, full: boolean) => {
      f.master.setData(new Tensor(data, [data.length], 'float32'));
      f.recs.forEach((rec, i) => rec.master?.setData(full ? new Tensor(data, [rec.partitionSize], 'float32', { offset: f.offsets[i]! }) : emptyFloat32()));
    };
    return {
      target,
      master: f.master,
      restore: (values) => {
        if (isHalf) point(values, true);
        else f.master.data<'float32'>().set(values);
      },
      drop: () => {
        if (isHalf) point(new Float32Array(0), false);
      },
    };
  });
  const zero = parts.state.get('zero') as Checkpointable;
  const nvme = await attach(parts, ctx, parts.updater as unknown as OffloadStepUpdater, zero, held, opts);
  for (const f of runtime.flats) f.dropInitial();
  // Whole weights set under withGatheredParameters reach the fp32 masters on disk.
  runtime.flats.forEach((f, k) => {
    const target = held[k]!.target;
    f.recs.forEach((rec, i) => {
      rec.masterSink = (values) => {
        const all = nvme.readTargetSync(target, 'param');
        all.set(values, f.offsets[i]!);
        nvme.writeTargetSync(target, 'param', all);
      };
    });
  });
  return nvme;
}

async function attach(
  parts: EngineParts, ctx: StrategyContext, updater: OffloadStepUpdater, inner: Checkpointable, held: Held[], opts: NvmeAttachOptions,
): Promise<NvmeOptimizer> {
  const optimizer = parts.optimizer;
  if (!optimizer) throw new Error('zero_optimization.offload_optimizer "nvme": the engine has no optimizer to offload');
  const nvmePath = nvmePathOf(opts.offload);
  const nvme = await NvmeOptimizer.create(optimizer, held.map((h) => h.target), {
    nvmePath,
    rank: ctx.world.rank,
    subGroupSize: opts.subGroupSize,
    bufferCount: opts.offload.buffer_count,
    pipelineRead: opts.offload.pipeline_read ?? true,
    pipelineWrite: opts.offload.pipeline_write ?? true,
    io: opts.io,
  });
  for (const h of held) h.drop();
  attached.set(parts.model, nvme);
  // engine.close() closes the gradient sync; the swap files go with it (close() is synchronous,
  // so removal finishes behind it; nvmeOffloadOf(parts).close() awaits the same removal).
  const gradSync = parts.gradSync;
  const closeGradSync = gradSync.close.bind(gradSync);
  gradSync.close = () => {
    closeGradSync();
    nvme.close().catch((e: Error) => ctx.warn(`[zero] offload_optimizer nvme: could not remove the swap files under ${nvmePath}: ${e.message}`));
  };
  updater.setOptimizerStep(() => nvme.step());
  parts.state.set('zero', new NvmeCheckpointState(inner, nvme, optimizer, held));
  const s = nvme.stats;
  ctx.log(
    `[zero] offload_optimizer nvme: ${s.stateBytes} bytes of fp32 partitions and Adam moments in swap files under ${nvmePath}; ` +
      `at most ${s.capacityBytes} bytes resident in ${opts.offload.buffer_count} buffer(s) per param group during a step`,
  );
  return nvme;
}

/**
 * The stage's sharded checkpoint state with the partitions on disk: saving swaps them in for the
 * duration of stateDict, loading writes what the stage restored back out to the swap files.
 */
export class NvmeCheckpointState implements Checkpointable {
  readonly sharded = true;
  readonly #inner: Checkpointable;
  readonly #nvme: NvmeOptimizer;
  readonly #optimizer: optim.Optimizer<object>;
  readonly #held: readonly Held[];

  constructor(inner: Checkpointable, nvme: NvmeOptimizer, optimizer: optim.Optimizer<object>, held: readonly Held[]) {
    this.#inner = inner;
    this.#nvme = nvme;
    this.#optimizer = optimizer;
    this.#held = held;
  }

  /** The swap files and their byte counts. */
  get optimizer(): NvmeOptimizer {
    return this.#nvme;
  }

  stateDict(): StateValue {
    const step = this.#nvme.stepCount;
    for (const h of this.#held) {
      h.restore(this.#nvme.readTargetSync(h.target, 'param'));
      // Before the first step an in-memory Adam has no state either.
      if (step > 0) {
        this.#optimizer.state.set(h.master, {
          step,
          expAvg: new Tensor(this.#nvme.readTargetSync(h.target, 'exp_avg'), [h.target.numel], 'float32'),
          expAvgSq: new Tensor(this.#nvme.readTargetSync(h.target, 'exp_avg_sq'), [h.target.numel], 'float32'),
        });
      }
    }
    try {
      return this.#inner.stateDict();
    } finally {
      this.#release();
    }
  }

  loadStateDict(state: StateValue): void {
    this.#load(() => this.#inner.loadStateDict(state));
  }

  loadShardedStateDict(states: StateValue[]): void {
    const inner = this.#inner;
    if (!inner.loadShardedStateDict) throw new Error('zero checkpoint: this stage cannot load a checkpoint of another data-parallel size');
    this.#load(() => inner.loadShardedStateDict!(states));
  }

  afterModuleLoad(): void {
    if (!this.#inner.afterModuleLoad) return;
    this.#load(() => this.#inner.afterModuleLoad!(), { keepMoments: true });
  }

  #load(run: () => void, opts: { keepMoments?: boolean } = {}): void {
    for (const h of this.#held) h.restore(new Float32Array(h.target.numel));
    try {
      run();
      let step = opts.keepMoments ? this.#nvme.stepCount : 0;
      for (const h of this.#held) {
        this.#nvme.writeTargetSync(h.target, 'param', Float32Array.from(h.master.data<'float32'>()));
        if (opts.keepMoments) continue;
        const st = this.#optimizer.state.get(h.master) as Record<string, unknown> | undefined;
        const moment = (k: string) => (st?.[k] instanceof Tensor ? (st[k] as Tensor).toFloat32Array() : new Float32Array(h.target.numel));
        this.#nvme.writeTargetSync(h.target, 'exp_avg', moment('expAvg'));
        this.#nvme.writeTargetSync(h.target, 'exp_avg_sq', moment('expAvgSq'));
        if (typeof st?.step === 'number') step = st.step;
      }
      this.#nvme.setStepCount(step);
    } finally {
      this.#release();
    }
  }

  #release(): void {
    for (const h of this.#held) {
      this.#optimizer.state.delete(h.master);
      h.drop();
    }
  }
}

function emptyFloat32(): Tensor {
  return new Tensor(allocateStorage('float32', 0) as Float32Array, [0], 'float32');
}
