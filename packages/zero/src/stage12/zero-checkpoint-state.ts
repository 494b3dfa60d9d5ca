// The sharded checkpoint state of ZeRO-1/2: each rank saves its fp32 partitions, the inner
// optimizer's state for them and the layout; a run with as many ranks loads its own file, a run
// with another count reassembles whole parameters from every file and cuts its new partitions.
import { Tensor, type optim } from '@ds/core';
import { masterToHalf, type HalfDType } from '@ds/precision';
import type { Checkpointable, StateValue } from '@ds/strategy';
import { assembleParams } from '../checkpoint/assemble-params.js';
import { parseShardState } from '../checkpoint/parse-shard.js';
import { SHARD_FORMAT, SHARD_VERSION, type SavedFlat, type SavedHyperparameters, type ZeroShardState } from '../checkpoint/shard-format.js';
import type { FlatGroup } from './flat-group.js';

export interface ZeroCheckpointStateInit {
  flats: readonly FlatGroup[];
  optimizer: () => optim.Optimizer<object> | null;
  stage: 1 | 2;
  /** `load_from_fp32_weights`: masters come from the checkpoint's fp32 partitions (true) or from the 16-bit weights. */
  loadFromFp32Weights: boolean;
}

const WHERE = 'zero checkpoint';

export class ZeroCheckpointState implements Checkpointable {
  readonly sharded = true;
  readonly #init: ZeroCheckpointStateInit;

  constructor(init: ZeroCheckpointStateInit) {
    this.#init = init;
  }

  stateDict(): StateValue {
    const opt = this.#init.optimizer();
    const flats: SavedFlat[] = this.#init.flats.map((f) => {
      const { layout } = f;
      const st = opt?.state.get(f.master) ?? {};
      const optimizerState: SavedFlat['optimizer_state'] = {};
      for (const [k, v] of Object.entries(st)) optimizerState[k] = v instanceof Tensor ? v.detach() : v;
      return {
        optimizer_group: f.optimizerGroup,
        group_ranks: [...f.group.ranks],
        rank: f.rank,
        partition_count: f.worldSize,
        numel: layout.numel,
        padding: layout.padding,
        partition_size: layout.partitionSize,
        partition_padding: layout.partitions[f.rank]!.padding,
        dtype: f.dtype,
        params: f.names.map((name, i) => ({ name, aliases: [...f.aliases[i]!], shape: [...f.params[i]!.shape], offset: layout.offsets[i]!, numel: layout.numels[i]! })),
        fragments: f.fragments().map((x) => ({ name: f.names[x.param]!, param_start: x.paramStart, part_start: x.partStart, length: x.length })),
        fp32: f.master.detach(),
        optimizer_state: optimizerState,
      };
    });
    const state: ZeroShardState = {
      format: SHARD_FORMAT,
      version: SHARD_VERSION,
      zero_stage: this.#init.stage,
      flats,
      optimizer_param_groups: (opt?.paramGroups ?? []).map(hyperparameters),
    };
    return state;
  }

  /** This rank's own file, saved by a run of the same data-parallel size and layout. */
  loadStateDict(state: StateValue): void {
    const s = parseShardState(state, WHERE);
    const flats = this.#init.flats;
    if (s.flats.length !== flats.length) {
      throw new Error(`${WHERE}: the checkpoint has ${s.flats.length} partitioned parameter group(s), this run ${flats.length}; was it saved with another optimizer grouping or precision?`);
    }
    flats.forEach((f, i) => checkSameLayout(f, s.flats[i]!, i));
    this.#checkGroups(s);
    flats.forEach((f, i) => {
      const saved = s.flats[i]!;
      const tensors = new Map<string, Float32Array>();
      const scalars = new Map<string, number>();
      for (const [k, v] of Object.entries(saved.optimizer_state)) {
        if (typeof v === 'number') scalars.set(k, v);
        else tensors.set(k, v.toFloat32Array());
      }
      this.#apply(f, saved.fp32.toFloat32Array(), tensors, scalars);
    });
    this.#restoreGroups(s);
  }

  /** Every saved rank's state from a run of another data-parallel size: reshard for this one. */
  loadShardedStateDict(states: StateValue[]): void {
    const parsed = states.map((s, r) => parseShardState(s, `${WHERE} (rank ${r})`));
    const params = assembleParams(parsed, WHERE, { optimizerState: true });
    const current = new Set(this.#init.flats.flatMap((f) => f.names));
    const extra = [...params.keys()].filter((n) => !current.has(n));
    if (extra.length > 0) throw new Error(`${WHERE}: the checkpoint partitions parameter(s) this run does not train: ${extra.slice(0, 5).join(', ')}`);
    for (const f of this.#init.flats) {
      f.names.forEach((name, i) => {
        const a = params.get(name);
        if (!a) throw new Error(`${WHERE}: the checkpoint has no fp32 partitions of '${name}', which this run trains`);
        if (a.numel !== f.params[i]!.numel) throw new Error(`${WHERE}: '${name}' has ${a.numel} elements in the checkpoint, ${f.params[i]!.numel} here`);
      });
    }
    this.#checkGroups(parsed[0]!);
    const plans = this.#init.flats.map((f) => {
      const ps = f.layout.partitionSize;
      const fp32 = new Float32Array(ps);
      const tensors = new Map<string, Float32Array>();
      const scalars = new Map<string, number>();
      let keys: string | null = null;
      for (const x of f.fragments()) {
        const name = f.names[x.param]!;
        const a = params.get(name)!;
        const own = [...a.state.keys(), ...a.scalars.keys()].sort().join(',');
        if (keys !== null && keys !== own) throw new Error(`${WHERE}: the parameters of one partition have different optimizer state keys ([${keys}] and [${own}] for '${name}')`);
        keys = own;
        fp32.set(a.fp32.subarray(x.paramStart, x.paramStart + x.length), x.partStart);
        for (const [k, v] of a.state) {
          let dst = tensors.get(k);
          if (!dst) tensors.set(k, (dst = new Float32Array(ps)));
          dst.set(v.subarray(x.paramStart, x.paramStart + x.length), x.partStart);
        }
        for (const [k, v] of a.scalars) {
          const prev = scalars.get(k);
          if (prev !== undefined && prev !== v) throw new Error(`${WHERE}: optimizer state '${k}' differs between parameters that now share a partition (${prev} and ${v} at '${name}')`);
          scalars.set(k, v);
        }
      }
      return { f, fp32, tensors, scalars };
    });
    for (const p of plans) this.#apply(p.f, p.fp32, p.tensors, p.scalars);
    this.#restoreGroups(parsed[0]!);
  }

  /** The model's weights were loaded without optimizer state: the masters follow them. */
  afterModuleLoad(): void {
    for (const f of this.#init.flats) f.refreshMasterFromPartition();
  }

  #apply(f: FlatGroup, fp32: Float32Array, tensors: Map<string, Float32Array>, scalars: Map<string, number>): void {
    f.master.data<'float32'>().set(fp32);
    if (f.master !== f.partition) {
      if (this.#init.loadFromFp32Weights) masterToHalf(f.master.data<'float32'>(), f.partition.data() as Uint16Array, f.dtype as HalfDType);
      else f.refreshMasterFromPartition();
    }
    const opt = this.#init.optimizer();
    if (!opt) return;
    if (tensors.size === 0 && scalars.size === 0) {
      opt.state.delete(f.master);
      return;
    }
    const st: Record<string, Tensor | number> = Object.fromEntries(scalars);
    for (const [k, v] of tensors) st[k] = new Tensor(v, [v.length], 'float32');
    opt.state.set(f.master, st);
  }

  #checkGroups(s: ZeroShardState): void {
    const opt = this.#init.optimizer();
    const n = opt?.paramGroups.length ?? 0;
    if (s.optimizer_param_groups.length !== n) {
      throw new Error(`${WHERE}: the checkpoint's optimizer has ${s.optimizer_param_groups.length} parameter group(s), this one ${n}`);
    }
  }

  #restoreGroups(s: ZeroShardState): void {
    const opt = this.#init.optimizer();
    if (!opt) return;
    s.optimizer_param_groups.forEach((saved, gi) => {
      const group = opt.paramGroups[gi]! as Record<string, unknown>;
      for (const [k, v] of Object.entries(saved)) if (k !== 'params') group[k] = Array.isArray(v) ? [...v] : v;
    });
  }
}

function checkSameLayout(f: FlatGroup, saved: SavedFlat, i: number): void {
  const why = (what: string) =>
    new Error(`${WHERE}: partitioned group ${i} was saved with ${what}; load it with loadShardedStateDict (a run of another size) or from a checkpoint of this layout`);
  if (saved.partition_count !== f.worldSize) throw why(`${saved.partition_count} partitions, this run has ${f.worldSize}`);
  if (saved.rank !== f.rank) throw why(`the partition of rank ${saved.rank}, this rank is ${f.rank}`);
  if (saved.partition_size !== f.layout.partitionSize) throw why(`partitions of ${saved.partition_size} elements, this run ${f.layout.partitionSize}`);
  saved.params.forEach((p, k) => {
    if (p.name !== f.names[k] || p.offset !== f.layout.offsets[k] || p.numel !== f.layout.numels[k]) {
      throw why(`'${p.name}' (${p.numel} elements) at offset ${p.offset} where this run has '${f.names[k] ?? '(nothing)'}' at ${f.layout.offsets[k] ?? '-'}`);
    }
  });
  if (saved.params.length !== f.names.length) throw why(`${saved.params.length} parameters, this run ${f.names.length}`);
}

function hyperparameters(group: Record<string, unknown>): SavedHyperparameters {
  const out: SavedHyperparameters = {};
  for (const [k, v] of Object.entries(group)) {
    if (k === 'params') continue;
    if (v === null || typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean') out[k] = v;
    else if (Array.isArray(v) && v.every((x) => x === null || ['number', 'string', 'boolean'].includes(typeof x))) out[k] = [...(v as (number | string | boolean | null)[])];
  }
  return out;
}
