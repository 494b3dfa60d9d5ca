// Whole parameters from every rank's partitions: each saved fragment is copied to its place in
// its parameter, for the fp32 weights and for each per-element optimizer state. Consolidation
// (zero_to_fp32) and loading at another data-parallel size both start from this.
import type { ZeroShardState } from './shard-format.js';

export interface AssembledParam {
  name: string;
  aliases: string[];
  shape: number[];
  numel: number;
  optimizerGroup: number;
  fp32: Float32Array;
  /** Per-element optimizer state (exp_avg, ...) by key. */
  state: Map<string, Float32Array>;
  /** Scalar optimizer state (step) by key. */
  scalars: Map<string, number>;
}

/**
 * Every parameter the saved ranks hold, by name, in the order they first appear. Fails when a
 * piece is missing or claimed twice, or when the ranks disagree about a parameter.
 */
export function assembleParams(states: readonly ZeroShardState[], where: string, opts: { optimizerState: boolean }): Map<string, AssembledParam> {
  const out = new Map<string, AssembledParam>();
  const filled = new Map<string, number>();
  const groupOf = new Map<string, string>();
  const stateFilled = new Map<string, number>();
  states.forEach((s, r) => {
    for (const flat of s.flats) {
      const groupKey = flat.group_ranks.join(',');
      for (const p of flat.params) {
        const seenIn = groupOf.get(p.name);
        if (seenIn !== undefined && seenIn !== groupKey) {
          throw new Error(`${where}: parameter '${p.name}' is partitioned over ranks [${seenIn}] and over ranks [${groupKey}]; it names different tensors on different ranks, which cannot be merged into one state dict`);
        }
        groupOf.set(p.name, groupKey);
        const have = out.get(p.name);
        if (have && have.shape.join(',') !== p.shape.join(',')) {
          throw new Error(`${where}: parameter '${p.name}' has shape [${have.shape.join(', ')}] on one rank and [${p.shape.join(', ')}] on rank ${r}`);
        }
        if (!have) {
          out.set(p.name, {
            name: p.name, aliases: p.aliases, shape: p.shape, numel: p.numel, optimizerGroup: flat.optimizer_group,
            fp32: new Float32Array(p.numel), state: new Map(), scalars: new Map(),
          });
          filled.set(p.name, 0);
        }
      }
      const fp32 = flat.fp32.toFloat32Array();
      const tensors = opts.optimizerState
        ? Object.entries(flat.optimizer_state).flatMap(([k, v]) => (typeof v === 'number' ? [] : [[k, v.toFloat32Array()] as const]))
        : [];
      for (const f of flat.fragments) {
        const a = out.get(f.name)!;
        a.fp32.set(fp32.subarray(f.part_start, f.part_start + f.length), f.param_start);
        filled.set(f.name, filled.get(f.name)! + f.length);
        if (!opts.optimizerState) continue;
        for (const [k, values] of tensors) {
          let dst = a.state.get(k);
          if (!dst) a.state.set(k, (dst = new Float32Array(a.numel)));
          dst.set(values.subarray(f.part_start, f.part_start + f.length), f.param_start);
          const key = `${f.name}\u0000${k}`;
          stateFilled.set(key, (stateFilled.get(key) ?? 0) + f.length);
        }
        for (const [k, v] of Object.entries(flat.optimizer_state)) {
          if (typeof v !== 'number') continue;
          const prev = a.scalars.get(k);
          if (prev !== undefined && prev !== v) throw new Error(`${where}: the ranks disagree on optimizer state '${k}' of '${f.name}' (${prev} and ${v} on rank ${r})`);
          a.scalars.set(k, v);
        }
      }
    }
  });
  for (const [name, a] of out) {
    const n = filled.get(name)!;
    if (n !== a.numel) {
      throw new Error(`${where}: the saved partitions hold ${n} of the ${a.numel} elements of '${name}'${n < a.numel ? '; a rank\'s file is missing or from another checkpoint' : ' (pieces claimed twice)'}`);
    }
    for (const k of a.state.keys()) {
      if (stateFilled.get(`${name}\u0000${k}`) !== a.numel) throw new Error(`${where}: optimizer state '${k}' of '${name}' was saved by some of the ranks holding it and not by others`);
    }
  }
  return out;
}
