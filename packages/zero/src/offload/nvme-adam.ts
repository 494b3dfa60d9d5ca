// ZeRO-Infinity's optimizer step with the optimizer state on NVMe: a flat fp32 parameter
// partition and its Adam moments live in a swap file in sub-groups of `sub_group_size`
// elements. A step walks the sub-groups in order: read p / exp_avg / exp_avg_sq of sub-group
// k (prefetched while k-1 computed, `pipeline_read`), run the fused Adam kernel on them, and
// write them back behind the next sub-group's compute (`pipeline_write`). Only the swap buffers
// are ever resident, so the state may be far larger than memory.
import { kernels } from '@ds/core';
import type { FileIO } from './file-io.js';
import { resolveCpuAdamOptions, type CpuAdamHyperparameters, type CpuAdamOptions } from './cpu-adam.js';
import { asFloat32, TensorSwapper, type Resident } from './tensor-swapper.js';
import path from 'node:path';

/** One of the three arrays held per sub-group. */
export type NvmeAdamArray = 'param' | 'exp_avg' | 'exp_avg_sq';

const ARRAYS: readonly NvmeAdamArray[] = ['param', 'exp_avg', 'exp_avg_sq'];

export interface SubGroup {
  readonly index: number;
  /** First element in the flat partition. */
  readonly start: number;
  readonly numel: number;
}

export interface NvmeAdamStateOptions {
  /** Directory of the swap file (e.g. `swapPath(nvme_path, 'optimizer', rank)`). */
  dir: string;
  /** Elements in the flat fp32 partition. */
  numel: number;
  /** `sub_group_size`: elements stepped (and resident) at a time. */
  subGroupSize: number;
  /**
   * `offload_optimizer.buffer_count`: swap buffers of one sub-group each. A sub-group needs 3
   * (param, exp_avg, exp_avg_sq); 6 lets the next sub-group's reads run during a step.
   */
  bufferCount: number;
  /** Initial parameter values: the whole partition, or a callback filling one sub-group's slice. */
  init: Float32Array | ((start: number, out: Float32Array) => void);
  /** Prefetch sub-group k+1 while k computes (default true). */
  pipelineRead?: boolean;
  /** Write sub-group k back while k+1 computes (default true). */
  pipelineWrite?: boolean;
  io?: FileIO;
  /** Swap file name inside `dir` (default "optimizer_state.swp"). */
  fileName?: string;
}

/** The on-disk state of one flat partition and its step count. */
export class NvmeAdamState {
  readonly numel: number;
  readonly subGroupSize: number;
  readonly subGroups: readonly SubGroup[];
  readonly swapper: TensorSwapper;
  readonly pipelineRead: boolean;
  readonly pipelineWrite: boolean;
  /** Adam's step count (the bias corrections use it). */
  stepCount = 0;

  private constructor(opts: NvmeAdamStateOptions, subGroups: SubGroup[], swapper: TensorSwapper) {
    this.numel = opts.numel;
    this.subGroupSize = opts.subGroupSize;
    this.subGroups = subGroups;
    this.swapper = swapper;
    this.pipelineRead = opts.pipelineRead ?? true;
    this.pipelineWrite = opts.pipelineWrite ?? true;
  }

  /** Lay the partition out in sub-groups and write the initial parameters and zero moments. */
  static async create(opts: NvmeAdamStateOptions): Promise<NvmeAdamState> {
    const where = 'offload_optimizer (nvme)';
    if (!Number.isSafeInteger(opts.numel) || opts.numel < 1) throw new RangeError(`${where}: numel must be a positive integer, got ${opts.numel}`);
    if (!Number.isSafeInteger(opts.subGroupSize) || opts.subGroupSize < 1) {
      throw new RangeError(`${where}: sub_group_size must be a positive integer, got ${opts.subGroupSize}`);
    }
    if (!Number.isInteger(opts.bufferCount) || opts.bufferCount < ARRAYS.length) {
      throw new RangeError(
        `${where}: buffer_count must be >= ${ARRAYS.length} (param, exp_avg and exp_avg_sq of one sub-group are resident together), got ${opts.bufferCount}`,
      );
    }
    if (opts.init instanceof Float32Array && opts.init.length !== opts.numel) {
      throw new RangeError(`${where}: init has ${opts.init.length} elements but numel is ${opts.numel}`);
    }
    const size = Math.min(opts.subGroupSize, opts.numel);
    const subGroups: SubGroup[] = [];
    for (let start = 0, index = 0; start < opts.numel; start += size, index++) {
      subGroups.push({ index, start, numel: Math.min(size, opts.numel - start) });
    }
    const swapper = await TensorSwapper.create({
      file: path.join(opts.dir, opts.fileName ?? 'optimizer_state.swp'),
      bufferCount: opts.bufferCount,
      bufferBytes: size * 4,
      io: opts.io,
      label: where,
    });
    const state = new NvmeAdamState(opts, subGroups, swapper);
    const init = opts.init;
    try {
      for (const g of subGroups) {
        for (const which of ARRAYS) swapper.reserve(key(which, g.index), g.numel * 4);
        await swapper.swapOutWith(key('param', g.index), g.numel * 4, (dst) => {
          const out = asFloat32(dst);
          if (init instanceof Float32Array) out.set(init.subarray(g.start, g.start + g.numel));
          else init(g.start, out);
        });
        await swapper.swapOutWith(key('exp_avg', g.index), g.numel * 4, (dst) => dst.fill(0));
        await swapper.swapOutWith(key('exp_avg_sq', g.index), g.numel * 4, (dst) => dst.fill(0));
      }
    } catch (e) {
      await swapper.close();
      throw e;
    }
    return state;
  }

  /**
   * Copy one array out of the swap file, sub-group by sub-group (checkpoints, tests): `out`
   * receives all `numel` elements.
   */
  async read(which: NvmeAdamArray, out: Float32Array = new Float32Array(this.numel)): Promise<Float32Array> {
    checkArray(which);
    if (out.length !== this.numel) throw new RangeError(`NvmeAdamState.read: out has ${out.length} elements, expected ${this.numel}`);
    for (const g of this.subGroups) {
      const r = await this.swapper.swapIn(key(which, g.index));
      out.set(asFloat32(r.bytes), g.start);
      this.swapper.release(r);
    }
    return out;
  }

  /** Overwrite one array (a checkpoint load) from `src` of `numel` elements. */
  async write(which: NvmeAdamArray, src: Float32Array): Promise<void> {
    checkArray(which);
    if (src.length !== this.numel) throw new RangeError(`NvmeAdamState.write: src has ${src.length} elements, expected ${this.numel}`);
    await this.swapper.flush();
    for (const g of this.subGroups) {
      await this.swapper.swapOutWith(key(which, g.index), g.numel * 4, (dst) => asFloat32(dst).set(src.subarray(g.start, g.start + g.numel)));
    }
  }

  /** Wait for writes and delete the swap file (unless `keep`). */
  close(opts: { keep?: boolean } = {}): Promise<void> {
    return this.swapper.close(opts);
  }
}

function key(which: NvmeAdamArray, index: number): string {
  return `${which}.${index}`;
}

function checkArray(which: string): void {
  if (!ARRAYS.includes(which as NvmeAdamArray)) {
    throw new RangeError(`NvmeAdamState: unknown array '${which}'; valid: ${ARRAYS.map((a) => `'${a}'`).join(', ')}`);
  }
}

export interface NvmeStepOptions {
  /**
   * Called with each sub-group's updated parameters while they are resident (e.g. to copy them
   * into 16-bit weights); a returned promise is awaited before the sub-group is written back.
   */
  onUpdated?(start: number, params: Float32Array): void | Promise<void>;
}

/**
 * One Adam step over the whole partition held in `state`. `grads` is the partition's fp32
 * gradient, or a function returning the slice [start, start + numel). Hyperparameters are
 * DeepSpeedCPUAdam's (defaults included); the update is the same fused kernel as in memory, so
 * the result equals an in-memory Adam bit for bit.
 */
export async function nvmeOptimizerStep(
  state: NvmeAdamState,
  grads: Float32Array | ((start: number, numel: number) => Float32Array),
  hyper: CpuAdamOptions = {},
  opts: NvmeStepOptions = {},
): Promise<void> {
  const h: CpuAdamHyperparameters = resolveCpuAdamOptions(hyper, 'nvmeOptimizerStep');
  if (grads instanceof Float32Array && grads.length !== state.numel) {
    throw new RangeError(`nvmeOptimizerStep: grads has ${grads.length} elements but the partition has ${state.numel}`);
  }
  const { swapper, subGroups } = state;
  const step = state.stepCount + 1;
  const [beta1, beta2] = h.betas;
  // Computed like @ds/core's Adam (float64 on the host), so both give the same bits.
  const bc1 = h.biasCorrection ? 1 - beta1 ** step : 1;
  const bc2Sqrt = h.biasCorrection ? Math.sqrt(1 - beta2 ** step) : 1;
  const mode = h.adamwMode ? 1 : 0;
  const prefetch = (g: SubGroup) => ARRAYS.forEach((a) => swapper.prefetch(key(a, g.index)));

  if (state.pipelineRead) prefetch(subGroups[0]!);
  for (let k = 0; k < subGroups.length; k++) {
    const g = subGroups[k]!;
    const [p, m, v] = (await Promise.all(ARRAYS.map((a) => swapper.swapIn(key(a, g.index))))) as [Resident, Resident, Resident];
    const next = subGroups[k + 1];
    if (state.pipelineRead && next) prefetch(next);
    const grad = typeof grads === 'function' ? grads(g.start, g.numel) : grads.subarray(g.start, g.start + g.numel);
    if (!(grad instanceof Float32Array) || grad.length !== g.numel) {
      for (const r of [p, m, v]) swapper.release(r);
      throw new RangeError(`nvmeOptimizerStep: the gradient of sub-group ${k} (elements ${g.start}..${g.start + g.numel}) must be a Float32Array of ${g.numel}`);
    }
    const params = asFloat32(p.bytes);
    kernels().adam(params, grad, asFloat32(m.bytes), asFloat32(v.bytes), h.lr, beta1, beta2, h.eps, h.weightDecay, mode, bc1, bc2Sqrt);
    await opts.onUpdated?.(g.start, params);
    const writes = [p, m, v].map((r) => swapper.writeBack(r));
    if (!state.pipelineWrite) await Promise.all(writes);
  }
  await swapper.flush();
  state.stepCount = step;
}
