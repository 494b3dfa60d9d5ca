// Agreement on fp16 overflow: a step is skipped everywhere if any rank saw an inf or NaN
// gradient, otherwise ranks that skipped would drift from ranks that stepped.
import { tensor } from '@ds/core';
import type { ProcessGroup } from '@ds/comm';
import { invalidArgument } from './invalid-argument.js';

/**
 * True when `localOverflow` is true on any rank of any of `groups`: a MAX all-reduce of a
 * one-element flag over each group in turn (DeepSpeed reduces over the data-parallel group,
 * then the model-parallel one). Every rank of each group must call it, with its groups in the
 * same order. Groups of one rank are skipped.
 */
export async function overflowAcross(localOverflow: boolean, groups: readonly ProcessGroup[]): Promise<boolean> {
  if (typeof localOverflow !== 'boolean') throw invalidArgument('overflowAcross', 'localOverflow', 'a boolean', localOverflow);
  if (!Array.isArray(groups)) throw invalidArgument('overflowAcross', 'groups', 'an array of ProcessGroups', groups);
  const flag = tensor([localOverflow ? 1 : 0]);
  for (const [i, group] of groups.entries()) {
    if (group === null || typeof group !== 'object' || typeof group.allReduce !== 'function') {
      throw invalidArgument('overflowAcross', `groups[${i}]`, 'a ProcessGroup', group);
    }
    if (group.size > 1) await group.allReduce(flag, 'max', { logName: 'overflow_allreduce' });
  }
  return flag.item() > 0;
}
