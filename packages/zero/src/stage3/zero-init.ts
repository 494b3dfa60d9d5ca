// zeroInit: construct a model already partitioned (DeepSpeed's zero.Init). Each parameter is
// cut down to this rank's slice the moment its module registers it, so no rank ever holds more
// than its partitions plus the one parameter being created.
import { allocateStorage, bytesPerElement, nn, Tensor, type DType } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { PartitionedParam, sliceOf } from './partitioned-param.js';
import { PARAM_BUFFER_SIZE, ParamSwap } from './param-swap.js';

export interface ZeroInitOptions {
  /** The group the parameters are partitioned over (the data-parallel group of the run). */
  group: ProcessGroup;
  /**
   * Check that every rank constructed the same initial values (default true). Collective over
   * `group`: a model built from differently seeded generators would otherwise train from a
   * mixture of the ranks' initialisations.
   */
  verify?: boolean;
  /**
   * `offload_param` with device "nvme" (the same section the engine config gets): each partition
   * is written to the swap file under nvme_path while the model is built, so the partitions are
   * never all in memory. At most buffer_count x buffer_size elements of the most recently
   * registered slices are held before being written; an in-place change to a parameter made
   * after that many elements of later parameters were registered is lost (set such values
   * afterwards under withGatheredParameters).
   */
  offloadParam?: ZeroInitOffload | null;
}

/** The offload_param keys zeroInit reads. */
export interface ZeroInitOffload {
  device: 'none' | 'cpu' | 'nvme';
  nvme_path?: string | null;
  /** Default 5 (DeepSpeed's). */
  buffer_count?: number;
  /** Elements per swap buffer, at least the largest partition; default 1e8 (DeepSpeed's). */
  buffer_size?: number;
  /**
   * The dtype the model will compute in (default float32): partitions are written in it and the
   * swap buffers sized for it. Checksums (verify) are taken before the cast.
   */
  dtype?: DType;
}

interface Created {
  shape: number[];
  sum: number;
  sumSquares: number;
  /** Region of the swap file holding the slice (offloadParam), once written. */
  key?: string;
  dtype: DType;
}

/**
 * Build `factory()`'s model with every parameter partitioned over `opts.group`: it comes back
 * with each parameter released (an empty [0] placeholder) and this rank's slice held aside, ready
 * for ZeRO stage 3 (`applyStage3`, or `withGatheredParameters` to read or set whole weights).
 *
 * While the factory runs, a registered parameter holds its 1-D slice, so in-place scalar
 * initialisation done after registration (`weight.mul_(std)`) stays correct; anything that needs
 * the whole tensor must be done before registering it or later under `withGatheredParameters`.
 * Every rank must construct identical values (seed the generators alike); `verify` checks it.
 *
 * @example
 *   const model = await zeroInit(() => new GPT2LMHeadModel(config), { group: world });
 */
export async function zeroInit<M extends nn.Module>(factory: () => M, opts: ZeroInitOptions): Promise<M> {
  if (typeof factory !== 'function') throw new TypeError(`zeroInit: factory must be a function returning a module, got ${typeof factory}`);
  const group = opts?.group;
  if (!group || typeof group.allGatherInto !== 'function') {
    throw new TypeError('zeroInit: opts.group must be the ProcessGroup to partition over (e.g. the data-parallel group)');
  }
  const swap = await swapFor(opts.offloadParam ?? null, group);
  const created = new Map<Tensor, Created>();
  // offloadParam: slices not yet written, oldest first, and their elements.
  const window: [Tensor, string][] = [];
  let windowElements = 0;
  const windowLimit = swap ? swap.swapper.pool.count * swap.bufferSize : 0;
  const writeDtype: DType = opts.offloadParam?.dtype ?? 'float32';
  const evict = (): void => {
    const [p, name] = window.shift()!;
    windowElements -= p.numel;
    const info = created.get(p)!;
    checkSlice(name, p, info, group);
    // Written in the dtype the model will compute in (mixed precision then finds nothing to recast).
    const slice = p.dtype === writeDtype || !isFloat(p.dtype) ? p.detach() : p.detach().to(writeDtype);
    info.key = swap!.writeNewSync(slice, name);
    info.dtype = slice.dtype;
    p.setData(new Tensor(allocateStorage(p.dtype, 0), [0], p.dtype));
  };
  let model: M;
  try {
    model = nn.withParameterRegistrationHook((_module, name, p) => {
      if (created.has(p) || PartitionedParam.of(p)) return;
      const [sum, sumSquares] = checksum(p);
      const shape = [...p.shape];
      p.setData(sliceOf(p, group));
      created.set(p, { shape, sum, sumSquares, dtype: p.dtype });
      if (!swap) return;
      window.push([p, name]);
      windowElements += p.numel;
      while (windowElements > windowLimit && window.length > 1) evict();
    }, factory);
    while (window.length > 0) evict();
  } catch (e) {
    await swap?.close();
    throw e;
  }
  if (!(model instanceof nn.Module)) throw new TypeError(`zeroInit: factory must return an nn.Module, got ${describe(model)}`);

  const named = [...model.namedParameters()];
  const sums = new Float32Array(2 * named.length);
  named.forEach(([name, p], i) => {
    const info = created.get(p);
    if (!info) {
      // Registered outside the factory (or bypassing registerParameter): partition it now.
      if (!PartitionedParam.of(p)) {
        const [sum, sumSquares] = checksum(p);
        sums[2 * i] = sum;
        sums[2 * i + 1] = sumSquares;
        const rec = PartitionedParam.fromFull(p, group, name);
        rec.release();
        swap?.adoptFromMemory(rec);
      }
      return;
    }
    sums[2 * i] = info.sum;
    sums[2 * i + 1] = info.sumSquares;
    if (info.key !== undefined) {
      const key = info.key;
      PartitionedParam.fromStore(p, group, info.shape, info.dtype, name, (rec) => swap!.adopt(rec, key));
      return;
    }
    checkSlice(name, p, info, group);
    const slice = p.detach();
    PartitionedParam.fromSlice(p, group, info.shape, slice, name);
  });
  if ((opts.verify ?? true) && group.size > 1) await verifyIdentical(group, named.map(([n]) => n), sums);
  return model;
}

function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'bfloat16';
}

function checkSlice(name: string, p: Tensor, info: Created, group: ProcessGroup): void {
  const ps = Math.ceil(info.shape.reduce((a, b) => a * b, 1) / group.size);
  if (p.numel !== ps || p.ndim !== 1) {
    throw new Error(
      `zeroInit: parameter '${name}' changed shape during construction (it holds [${p.shape.join(', ')}], expected its slice [${ps}]); ` +
        'set whole-tensor values before registering the parameter, or afterwards under withGatheredParameters',
    );
  }
}

async function swapFor(off: ZeroInitOffload | null, group: ProcessGroup): Promise<ParamSwap | null> {
  if (off === null || off === undefined) return null;
  const key = 'zeroInit: opts.offloadParam';
  if (typeof off !== 'object') throw new TypeError(`${key} must be an offload_param section such as { device: "nvme", nvme_path: "/local_nvme" }, got ${typeof off}`);
  if (off.device === 'none' || off.device === 'cpu') return null;
  if (off.device !== 'nvme') throw new RangeError(`${key}.device must be "none", "cpu" or "nvme", got ${JSON.stringify(off.device)}`);
  if (typeof off.nvme_path !== 'string' || off.nvme_path.trim() === '') {
    throw new RangeError(`${key}.nvme_path is required when device is "nvme": the directory for the swap file, got ${JSON.stringify(off.nvme_path)}`);
  }
  const dtype = off.dtype ?? 'float32';
  return ParamSwap.create({
    nvmePath: off.nvme_path,
    rank: group.ranks[group.rank] ?? group.rank,
    dtype,
    bufferCount: off.buffer_count ?? 5,
    bufferSize: off.buffer_size ?? PARAM_BUFFER_SIZE,
    elementBytes: bytesPerElement(dtype),
  });
}

/** float64 sum and sum of squares of the values, rounded to float32 (identical values give identical sums). */
function checksum(p: Tensor): [number, number] {
  const v = p.dtype === 'float32' && p.isContiguous() ? p.data<'float32'>() : p.toFloat32Array();
  let s = 0;
  let q = 0;
  for (let i = 0; i < v.length; i++) {
    s += v[i]!;
    q += v[i]! * v[i]!;
  }
  return [Math.fround(s), Math.fround(q)];
}

async function verifyIdentical(group: ProcessGroup, names: string[], sums: Float32Array): Promise<void> {
  const mine = new Tensor(sums, [sums.length], 'float32');
  const all = new Float32Array(sums.length * group.size);
  await group.allGatherInto(new Tensor(all, [all.length], 'float32'), mine, { logName: 'zero3_init_verify' });
  for (let r = 0; r < group.size; r++) {
    for (let i = 0; i < names.length; i++) {
      const a = all[r * sums.length + 2 * i]!;
      const b = all[r * sums.length + 2 * i + 1]!;
      const ref0 = all[2 * i]!;
      const ref1 = all[2 * i + 1]!;
      if (!Object.is(a, ref0) || !Object.is(b, ref1)) {
        throw new Error(
          `zeroInit: rank ${r} of the group constructed different initial values for '${names[i]}' than rank 0 ` +
            `(sum ${a} vs ${ref0}); every rank must build the same model: seed the generators identically (e.g. manualSeed(0) or a seeded Generator)`,
        );
      }
    }
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'an object';
  return typeof v;
}
