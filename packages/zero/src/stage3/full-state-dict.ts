// stage3_gather_16bit_weights_on_model_save: the whole model's state dict, in the dtype the model
// computes in, assembled on one rank by gathering one parameter at a time.
import { noGrad, type nn, type Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { PartitionedParam } from './partitioned-param.js';

export interface GatherFullStateDictOptions {
  /** The group whose rank `rank` receives the result (default: the first partitioned parameter's group). */
  group?: ProcessGroup;
  /** Rank within `group` that receives the state dict (default 0). */
  rank?: number;
}

/**
 * Every parameter (gathered from its partitions) and buffer by dotted name, on one rank; the
 * others get null. A parameter shared under two names is one tensor under both. Collective:
 * every rank of the parameters' groups must call it.
 */
export async function gatherFullStateDict(
  parts: { model: nn.Module },
  opts: GatherFullStateDictOptions = {},
): Promise<Record<string, Tensor> | null> {
  const model = parts?.model;
  if (!model || typeof model.namedModules !== 'function') throw new TypeError('gatherFullStateDict: parts.model must be the nn.Module the engine trains');
  const entries: [string, Tensor, boolean][] = [];
  for (const [prefix, m] of model.namedModules()) {
    for (const [name, p] of m.namedParameters(prefix, false)) entries.push([name, p, true]);
  }
  const first = entries.map(([, p]) => PartitionedParam.of(p)).find((r) => r !== undefined);
  const group = opts.group ?? first?.group ?? null;
  const rank = opts.rank ?? 0;
  if (group && (!Number.isInteger(rank) || rank < 0 || rank >= group.size)) {
    throw new RangeError(`gatherFullStateDict: rank ${rank} is not a rank of the group (valid: 0..${group.size - 1})`);
  }
  const isRoot = group ? group.rank === rank : true;

  const out: Record<string, Tensor> = {};
  const copies = new Map<Tensor, Tensor>();
  for (const [name, p] of entries) {
    const known = copies.get(p);
    if (known) {
      if (isRoot) out[name] = known;
      continue;
    }
    const rec = PartitionedParam.of(p);
    const wasReleased = rec !== undefined && rec.status !== 'gathered';
    if (wasReleased) await rec.gather();
    // Only the receiving rank keeps a copy; the others take part in the gathers.
    const copy = isRoot ? noGrad(() => p.detach().clone()) : p;
    if (wasReleased) rec.release();
    copies.set(p, copy);
    if (isRoot) out[name] = copy;
  }
  if (!isRoot) return null;
  const own = new Set(entries.map(([n]) => n));
  for (const [name, t] of Object.entries(model.stateDict())) {
    if (!own.has(name)) out[name] = noGrad(() => t.clone());
  }
  return out;
}
