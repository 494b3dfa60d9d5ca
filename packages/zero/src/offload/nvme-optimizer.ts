// ZeRO-Infinity's optimizer offload for the ZeRO stages: this rank's fp32 master partitions and
// their Adam moments live in swap files under nvme_path (one per optimizer param group), and a
// step streams them through the fixed buffer pool. The stages hand over their partitions as
// targets: where the gradient is, and where updated values go (the 16-bit weights the model
// computes with, or the fp32 partition itself for an fp32 model).
import fs from 'node:fs';
import { optim } from '@ds/core';
import type { CpuAdamHyperparameters } from './cpu-adam.js';
import type { FileIO } from './file-io.js';
import { NvmeAdamState, nvmeOptimizerStep, type NvmeAdamArray } from './nvme-adam.js';
import { swapPath, type SwapStats } from './tensor-swapper.js';

/** One fp32 partition the optimizer steps from disk. */
export interface NvmeTarget {
  /** The optimizer param group whose hyperparameters (lr from the scheduler included) step it. */
  groupIndex: number;
  numel: number;
  /** Starting fp32 values, read once when the swap file is written. */
  initial(): Float32Array;
  /**
   * The unscaled, clipped fp32 gradient of elements [start, start + numel) at step time: a view
   * of fp32 gradients held as such, or 16-bit ones widened into `out` (numel elements long).
   */
  gradSlice(start: number, numel: number, out: Float32Array): Float32Array;
  /** Receives updated fp32 values of elements [start, start + values.length) while they are resident. */
  update(start: number, values: Float32Array): void | Promise<void>;
}

export interface NvmeOptimizerOptions {
  /** `offload_optimizer.nvme_path`: the rank's files go to `swapPath(nvmePath, 'optimizer', rank)`. */
  nvmePath: string;
  /** Global rank (ranks of one machine share nvme_path). */
  rank: number;
  /** `sub_group_size`: elements stepped, and held in one buffer, at a time. */
  subGroupSize: number;
  /** `offload_optimizer.buffer_count` (>= 3: a sub-group's parameters and both moments). */
  bufferCount: number;
  pipelineRead?: boolean;
  pipelineWrite?: boolean;
  io?: FileIO;
}

interface GroupState {
  index: number;
  targets: NvmeTarget[];
  /** First element of each target in the group's concatenated partition. */
  starts: number[];
  state: NvmeAdamState;
}

/** Byte accounting summed over the swap files of every param group. */
export interface NvmeOptimizerStats extends SwapStats {
  /** Largest number of bytes held in swap buffers at once (per group's pool, summed). */
  peakResidentBytes: number;
  /** What the pools may ever hold: buffer_count x buffer size, summed. */
  capacityBytes: number;
  /** fp32 parameters and both moments on disk, in bytes. */
  stateBytes: number;
}

/** Adam / AdamW over partitions held on NVMe, with the hyperparameters of a @ds/core optimizer. */
export class NvmeOptimizer {
  readonly #optimizer: optim.Optimizer<object>;
  readonly #groups: GroupState[];
  readonly #mode: boolean;
  #closing: Promise<void> | null = null;

  private constructor(optimizer: optim.Optimizer<object>, groups: GroupState[], adamwMode: boolean) {
    this.#optimizer = optimizer;
    this.#groups = groups;
    this.#mode = adamwMode;
  }

  /** Write every target's initial values and zero moments to disk. */
  static async create(optimizer: optim.Optimizer<object>, targets: readonly NvmeTarget[], opts: NvmeOptimizerOptions): Promise<NvmeOptimizer> {
    const adamwMode = adamModeOf(optimizer);
    const dir = swapPath(opts.nvmePath, 'optimizer', opts.rank);
    const byGroup = new Map<number, NvmeTarget[]>();
    for (const t of targets) {
      if (!optimizer.paramGroups[t.groupIndex]) throw new RangeError(`offload_optimizer (nvme): target of param group ${t.groupIndex}, but the optimizer has ${optimizer.paramGroups.length}`);
      if (t.numel < 1) continue;
      const list = byGroup.get(t.groupIndex);
      if (list) list.push(t);
      else byGroup.set(t.groupIndex, [t]);
    }
    const groups: GroupState[] = [];
    try {
      for (const [index, list] of [...byGroup].sort((a, b) => a[0] - b[0])) {
        const starts: number[] = [];
        let numel = 0;
        for (const t of list) {
          starts.push(numel);
          numel += t.numel;
        }
        const state = await NvmeAdamState.create({
          dir,
          numel,
          subGroupSize: opts.subGroupSize,
          bufferCount: opts.bufferCount,
          pipelineRead: opts.pipelineRead,
          pipelineWrite: opts.pipelineWrite,
          io: opts.io,
          fileName: `param_group_${index}.swp`,
          init: (start, out) => gather(list, starts, start, out, (t) => t.initial()),
        });
        groups.push({ index, targets: list, starts, state });
      }
    } catch (e) {
      await Promise.all(groups.map((g) => g.state.close()));
      throw e;
    }
    return new NvmeOptimizer(optimizer, groups, adamwMode);
  }

  /** One Adam step of every partition, with each param group's current hyperparameters. */
  async step(): Promise<void> {
    for (const g of this.#groups) {
      const h = this.#hyperparameters(g.index);
      const scratch = new Float32Array(g.state.subGroupSize);
      await nvmeOptimizerStep(
        g.state,
        (start, numel) => {
          const i = targetAt(g.starts, start);
          const t = g.targets[i]!;
          const local = start - g.starts[i]!;
          // A sub-group inside one partition reads an fp32 gradient in place; one spanning two is copied.
          if (local + numel <= t.numel) return t.gradSlice(local, numel, scratch.subarray(0, numel));
          return gatherGrad(g.targets, g.starts, start, scratch.subarray(0, numel));
        },
        h,
        { onUpdated: (start, values) => scatter(g.targets, g.starts, start, values) },
      );
    }
  }

  /** Adam steps taken so far (the bias corrections use it). */
  get stepCount(): number {
    return this.#groups[0]?.state.stepCount ?? 0;
  }

  get stats(): NvmeOptimizerStats {
    const out: NvmeOptimizerStats = { reads: 0, writes: 0, bytesRead: 0, bytesWritten: 0, prefetchHits: 0, peakResidentBytes: 0, capacityBytes: 0, stateBytes: 0 };
    for (const g of this.#groups) {
      const { swapper } = g.state;
      for (const k of ['reads', 'writes', 'bytesRead', 'bytesWritten', 'prefetchHits'] as const) out[k] += swapper.stats[k];
      out.peakResidentBytes += swapper.pool.peakResidentBytes;
      out.capacityBytes += swapper.pool.capacityBytes;
      out.stateBytes += g.state.numel * 12;
    }
    return out;
  }

  /**
   * Read one array of every target from disk, synchronously (checkpoints save inside a
   * synchronous stateDict). Call between steps, when no transfer is in flight.
   */
  readTargetSync(target: NvmeTarget, which: NvmeAdamArray): Float32Array {
    const { g, at } = this.#find(target);
    const out = new Float32Array(target.numel);
    transferSync(g.state, which, g.starts[at]!, out, 'read');
    return out;
  }

  /** Overwrite one array of a target on disk (a checkpoint load), synchronously. */
  writeTargetSync(target: NvmeTarget, which: NvmeAdamArray, values: Float32Array): void {
    if (values.length !== target.numel) throw new RangeError(`offload_optimizer (nvme): ${which} has ${values.length} elements, the partition ${target.numel}`);
    const { g, at } = this.#find(target);
    transferSync(g.state, which, g.starts[at]!, values, 'write');
  }

  /** Set the step count a checkpoint restored. */
  setStepCount(step: number): void {
    if (!Number.isSafeInteger(step) || step < 0) throw new RangeError(`offload_optimizer (nvme): step must be an integer >= 0, got ${step}`);
    for (const g of this.#groups) g.state.stepCount = step;
  }

  /** Wait for writes and delete the swap files (once; later calls return the same promise). */
  close(): Promise<void> {
    this.#closing ??= Promise.all(this.#groups.map((g) => g.state.close())).then(() => undefined);
    return this.#closing;
  }

  #find(target: NvmeTarget): { g: GroupState; at: number } {
    for (const g of this.#groups) {
      const at = g.targets.indexOf(target);
      if (at >= 0) return { g, at };
    }
    throw new Error('offload_optimizer (nvme): unknown partition (not one this optimizer was created with)');
  }

  #hyperparameters(index: number): CpuAdamHyperparameters {
    const g = this.#optimizer.paramGroups[index] as Partial<optim.AdamHyperparameters>;
    const where = `optimizer param group ${index}`;
    if (g.amsgrad) throw new RangeError(`${where}: amsgrad is true; offload_optimizer "nvme" steps DeepSpeed's fused Adam, which has no amsgrad (valid: false)`);
    if ((g as { maximize?: boolean }).maximize) throw new RangeError(`${where}: maximize is true; offload_optimizer "nvme" only minimizes (valid: false)`);
    return {
      lr: g.lr!, betas: [g.betas![0], g.betas![1]], eps: g.eps!, weightDecay: g.weightDecay!, adamwMode: this.#mode, biasCorrection: g.biasCorrection ?? true,
    };
  }
}

function adamModeOf(optimizer: optim.Optimizer<object>): boolean {
  if (optimizer instanceof optim.AdamW) return true;
  if (optimizer instanceof optim.Adam) return false;
  throw new TypeError(
    `offload_optimizer.device "nvme": the optimizer is ${optimizer.constructor.name}; the NVMe step runs Adam or AdamW (optimizer.type "Adam" or "AdamW")`,
  );
}

/** Index of the target holding element `start` of the concatenation. */
function targetAt(starts: readonly number[], start: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (starts[mid]! <= start) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function gather(targets: readonly NvmeTarget[], starts: readonly number[], start: number, out: Float32Array, src: (t: NvmeTarget) => Float32Array): Float32Array {
  let done = 0;
  for (let i = targetAt(starts, start); done < out.length; i++) {
    const t = targets[i]!;
    const local = start + done - starts[i]!;
    const n = Math.min(t.numel - local, out.length - done);
    out.set(src(t).subarray(local, local + n), done);
    done += n;
  }
  return out;
}

/** Gradients of consecutive targets into `out` (each target's piece made in place where it must be made). */
function gatherGrad(targets: readonly NvmeTarget[], starts: readonly number[], start: number, out: Float32Array): Float32Array {
  let done = 0;
  for (let i = targetAt(starts, start); done < out.length; i++) {
    const t = targets[i]!;
    const local = start + done - starts[i]!;
    const n = Math.min(t.numel - local, out.length - done);
    const piece = out.subarray(done, done + n);
    const got = t.gradSlice(local, n, piece);
    if (got !== piece) piece.set(got);
    done += n;
  }
  return out;
}

async function scatter(targets: readonly NvmeTarget[], starts: readonly number[], start: number, values: Float32Array): Promise<void> {
  let done = 0;
  for (let i = targetAt(starts, start); done < values.length; i++) {
    const t = targets[i]!;
    const local = start + done - starts[i]!;
    const n = Math.min(t.numel - local, values.length - done);
    await t.update(local, values.subarray(done, done + n));
    done += n;
  }
}

/** Copy [start, start + data.length) of one array between memory and the swap file. */
function transferSync(state: NvmeAdamState, which: NvmeAdamArray, start: number, data: Float32Array, dir: 'read' | 'write'): void {
  const file = state.swapper.file;
  const fd = fs.openSync(file.path, dir === 'read' ? 'r' : 'r+');
  try {
    for (const sg of state.subGroups) {
      const lo = Math.max(start, sg.start);
      const hi = Math.min(start + data.length, sg.start + sg.numel);
      if (lo >= hi) continue;
      const region = file.region(`${which}.${sg.index}`);
      const bytes = new Uint8Array(data.buffer, data.byteOffset + (lo - start) * 4, (hi - lo) * 4);
      const pos = region.offset + (lo - sg.start) * 4;
      let moved = 0;
      while (moved < bytes.length) {
        const sub = bytes.subarray(moved);
        const n = dir === 'read' ? fs.readSync(fd, sub, 0, sub.length, pos + moved) : fs.writeSync(fd, sub, 0, sub.length, pos + moved);
        if (n <= 0) throw new Error(`offload_optimizer (nvme): short ${dir} of ${file.path} at byte ${pos + moved}`);
        moved += n;
      }
    }
    if (dir === 'write') fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
