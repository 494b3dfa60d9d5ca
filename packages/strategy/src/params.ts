// Strategies meet through data, not imports: a parameter says in its metadata which process
// group reduces its gradient (experts over the expert-data group, tensor-parallel shards over
// the data group of their slice), and gradient synchronisation honours it without knowing why.
import type { Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';

const REDUCE_GROUP = 'reduceGroup';
const GRAD_HOLDER = 'gradHolder';

/** Make `param`'s gradient reduce over `group` instead of the engine's data-parallel group. */
export function setReduceGroup(param: Tensor, group: ProcessGroup): void {
  param.meta[REDUCE_GROUP] = group;
}

/** The group that reduces `param`'s gradient: its own if set, else `fallback`. */
export function reduceGroupOf(param: Tensor, fallback: ProcessGroup): ProcessGroup {
  const g = param.meta[REDUCE_GROUP];
  return g === undefined ? fallback : (g as ProcessGroup);
}

/**
 * Accumulate `param`'s gradient across micro-batches in `holder.grad` (a bfloat16 parameter's in
 * its fp32 master) instead of in `param.grad`. The strategy that sets this folds `param.grad`
 * into the holder after every backward (`GradientSync.afterBackward`) and clears it; gradient
 * synchronisers then reduce `holder.grad`, once, after the boundary micro-batch is folded in.
 */
export function setGradHolder(param: Tensor, holder: Tensor): void {
  if (holder.shape.join(',') !== param.shape.join(',')) {
    throw new RangeError(`setGradHolder: 'holder' has shape [${holder.shape.join(', ')}] but the parameter has shape [${param.shape.join(', ')}]; they must match`);
  }
  param.meta[GRAD_HOLDER] = holder;
}

/** The tensor whose `.grad` holds `param`'s accumulated gradient: its holder if set, else `param`. */
export function gradHolderOf(param: Tensor): Tensor {
  const h = param.meta[GRAD_HOLDER];
  return h === undefined ? param : (h as Tensor);
}

/** Trainable parameters (requiresGrad), each once even when tied (shared by two modules). */
export function trainableParams(params: Iterable<Tensor>): Tensor[] {
  const seen = new Set<Tensor>();
  const out: Tensor[] = [];
  for (const p of params) {
    if (!p.requiresGrad || seen.has(p)) continue;
    seen.add(p);
    out.push(p);
  }
  return out;
}
