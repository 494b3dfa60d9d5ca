// Strategies meet through data, not imports: a parameter says in its metadata which process
// group reduces its gradient (experts over the expert-data group, tensor-parallel shards over
// the data group of their slice), and gradient synchronisation honours it without knowing why.
import type { Tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';

const REDUCE_GROUP = 'reduceGroup';

/** Make `param`'s gradient reduce over `group` instead of the engine's data-parallel group. */
export function setReduceGroup(param: Tensor, group: ProcessGroup): void {
  param.meta[REDUCE_GROUP] = group;
}

/** The group that reduces `param`'s gradient: its own if set, else `fallback`. */
export function reduceGroupOf(param: Tensor, fallback: ProcessGroup): ProcessGroup {
  const g = param.meta[REDUCE_GROUP];
  return g === undefined ? fallback : (g as ProcessGroup);
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
