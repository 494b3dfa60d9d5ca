// zeroInit: construct a model already partitioned (DeepSpeed's zero.Init). Each parameter is
// cut down to this rank's slice the moment its module registers it, so no rank ever holds more
// than its partitions plus the one parameter being created.
import { nn, Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { PartitionedParam, sliceOf } from './partitioned-param.js';

export interface ZeroInitOptions {
  /** The group the parameters are partitioned over (the data-parallel group of the run). */
  group: ProcessGroup;
  /**
   * Check that every rank constructed the same initial values (default true). Collective over
   * `group`: a model built from differently seeded generators would otherwise train from a
   * mixture of the ranks' initialisations.
   */
  verify?: boolean;
}

interface Created {
  shape: number[];
  sum: number;
  sumSquares: number;
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
  const created = new Map<Tensor, Created>();
  const model = nn.withParameterRegistrationHook((_module, _name, p) => {
    if (created.has(p) || PartitionedParam.of(p)) return;
    const [sum, sumSquares] = checksum(p);
    const shape = [...p.shape];
    p.setData(sliceOf(p, group));
    created.set(p, { shape, sum, sumSquares });
  }, factory);
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
        PartitionedParam.fromFull(p, group, name).release();
      }
      return;
    }
    const ps = Math.ceil(info.shape.reduce((a, b) => a * b, 1) / group.size);
    if (p.numel !== ps || p.ndim !== 1) {
      throw new Error(
        `zeroInit: parameter '${name}' changed shape during construction (it holds [${p.shape.join(', ')}], expected its slice [${ps}]); ` +
          'set whole-tensor values before registering the parameter, or afterwards under withGatheredParameters',
      );
    }
    sums[2 * i] = info.sum;
    sums[2 * i + 1] = info.sumSquares;
    const slice = p.detach();
    PartitionedParam.fromSlice(p, group, info.shape, slice, name);
  });
  if ((opts.verify ?? true) && group.size > 1) await verifyIdentical(group, named.map(([n]) => n), sums);
  return model;
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
