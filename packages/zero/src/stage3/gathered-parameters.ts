// withGatheredParameters: whole ZeRO-3 weights for the length of a callback (DeepSpeed's
// GatheredParameters), optionally writing one rank's changes back into every partition.
import { noGrad, type Tensor } from '@ds/core';
import { PartitionedParam } from './partitioned-param.js';

export interface GatheredParametersOptions {
  /**
   * The rank (within each parameter's partition group) whose edits are kept: its full tensors
   * are broadcast and re-partitioned on exit. null (default): edits are discarded, as DeepSpeed
   * does, and the callback only reads.
   */
  modifierRank?: number | null;
}

/**
 * Gather `params` (ZeRO-3 parameters; ordinary ones are left as they are), run `fn`, then
 * re-partition and release them. Collective: every rank of the parameters' groups must call it
 * with the same parameters in the same order.
 *
 * @example
 *   await withGatheredParameters(model.transformer.wte.weight, () => model.transformer.wte.weight.mul_(0.5), { modifierRank: 0 });
 */
export async function withGatheredParameters<T>(
  params: Tensor | Iterable<Tensor>,
  fn: () => T | Promise<T>,
  opts: GatheredParametersOptions = {},
): Promise<T> {
  if (typeof fn !== 'function') throw new TypeError(`withGatheredParameters: fn must be a function, got ${typeof fn}`);
  const list: Tensor[] = Symbol.iterator in Object(params) && !isTensor(params) ? [...(params as Iterable<Tensor>)] : [params as Tensor];
  const seen = new Set<PartitionedParam>();
  for (const p of list) {
    const rec = PartitionedParam.of(p);
    if (rec) seen.add(rec);
  }
  // The same order on every rank, whatever order the caller listed them in.
  const recs = [...seen].sort((a, b) => a.id - b.id);
  const modifierRank = opts.modifierRank ?? null;
  if (modifierRank !== null) {
    for (const rec of recs) {
      if (!Number.isInteger(modifierRank) || modifierRank < 0 || modifierRank >= rec.group.size) {
        throw new RangeError(
          `withGatheredParameters: modifierRank ${String(modifierRank)} is not a rank of parameter '${rec.name}''s group (valid: 0..${rec.group.size - 1}, or null to discard edits)`,
        );
      }
    }
  }
  const gatheredHere: PartitionedParam[] = [];
  for (const rec of recs) {
    if (rec.status === 'released') {
      rec.startGather();
      gatheredHere.push(rec);
    }
  }
  for (const rec of recs) await rec.finishGather();

  let result: T;
  try {
    result = await fn();
  } catch (e) {
    for (const rec of gatheredHere) rec.release();
    throw e;
  }

  if (modifierRank !== null) {
    for (const rec of recs) {
      const full = rec.param.isContiguous() ? rec.param : noGrad(() => rec.param.contiguous());
      if (rec.group.size > 1) await noGrad(() => rec.group.broadcast(full, modifierRank, { logName: 'zero3_modifier_broadcast' }));
      if (full !== rec.param) noGrad(() => rec.param.copy_(full));
      rec.repartitionFromFull();
      writeMaster(rec);
    }
  }
  for (const rec of gatheredHere) rec.release();
  if (modifierRank === null) {
    // Parameters that stay gathered (persistent ones) must not keep local edits either.
    const kept = recs.filter((r) => !gatheredHere.includes(r));
    for (const rec of kept) await rec.refresh();
  }
  return result;
}

/** Keep the fp32 master in step with a partition that was just rewritten. */
function writeMaster(rec: PartitionedParam): void {
  const master = rec.master;
  if (!master || master.storage === rec.partition.storage) return;
  const src = rec.partitionFloat32();
  if (master.numel === 0 && rec.masterSink) rec.masterSink(src);
  else master.data<'float32'>().set(src);
}

function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'shape' in v && 'dtype' in v && 'storage' in v;
}
