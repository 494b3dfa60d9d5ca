// What a ZeRO-3 rank checkpoints (its own file, `sharded`): the fp32 slice of every parameter
// and the optimizer state of those slices, by parameter name, with the partition layout. A load
// at another data-parallel size rebuilds each parameter from every saved rank's slices and cuts
// it again for the current layout.
import { allocateStorage, noGrad, Tensor, type DType, type optim, type StorageArray } from '@ds/core';
import type { Checkpointable, StateValue } from '@ds/strategy';
import { masterToHalf } from '@ds/precision';
import type { FlatPartition } from './flat-partitions.js';
import type { PartitionedParam } from './partitioned-param.js';
import { fromFp32 } from './param-swap.js';

export const STAGE3_FORMAT = 'ds-zero3-partitions';

type Rec = { [key: string]: StateValue };

/** One parameter's slice as saved by one rank. */
interface SavedSlice {
  shape: number[];
  numel: number;
  partitionSize: number;
  groupRank: number;
  groupSize: number;
  fp32: Float32Array;
  optimizer: Map<string, Float32Array | number> | null;
}

interface SavedRank {
  params: Map<string, SavedSlice>;
  paramGroups: Rec[];
}

export class Stage3State implements Checkpointable {
  readonly sharded = true;
  readonly #records: readonly PartitionedParam[];
  readonly #flats: readonly FlatPartition[];
  readonly #optimizer: optim.Optimizer<object> | null;

  constructor(records: readonly PartitionedParam[], flats: readonly FlatPartition[], optimizer: optim.Optimizer<object> | null) {
    this.#records = records;
    this.#flats = flats;
    this.#optimizer = optimizer;
  }

  stateDict(): StateValue {
    const params: Rec = {};
    const flatOf = new Map<PartitionedParam, [FlatPartition, number]>();
    for (const f of this.#flats) f.recs.forEach((r, i) => flatOf.set(r, [f, f.offsets[i]!]));
    for (const rec of this.#records) {
      const fp32 = rec.master ? rec.master.clone() : new Tensor(rec.partitionFloat32(), [rec.partitionSize], 'float32');
      let opt: Rec | null = null;
      const at = flatOf.get(rec);
      const st = at && this.#optimizer ? this.#optimizer.state.get(at[0].master) : undefined;
      if (at && st) {
        opt = {};
        for (const [k, v] of Object.entries(st)) {
          if (typeof v === 'number') opt[k] = v;
          else if (v.numel !== at[0].master.numel) {
            throw new Error(`ZeRO-3 checkpoint: optimizer state '${k}' has ${v.numel} elements for a partition of ${at[0].master.numel}; only element-wise optimizer state can be partitioned`);
          } else opt[k] = v.reshape(-1).narrow(0, at[1], rec.partitionSize).clone();
        }
      }
      params[rec.name] = {
        shape: [...rec.shape],
        numel: rec.numel,
        partition_size: rec.partitionSize,
        group_rank: rec.group.rank,
        group_size: rec.group.size,
        dtype: rec.dtype,
        fp32,
        optimizer: opt,
      };
    }
    const groups = this.#optimizer ? this.#optimizer.stateDict().paramGroups : [];
    const paramGroups = groups.map((g, gi) => {
      const { params: _ids, ...hyper } = g as Record<string, unknown>;
      const names = this.#flats.filter((f) => f.groupIndex === gi).flatMap((f) => f.recs.map((r) => r.name));
      return { ...(hyper as Rec), param_names: names };
    });
    return { format: STAGE3_FORMAT, version: 1, params, param_groups: paramGroups };
  }

  loadStateDict(state: StateValue): void {
    const saved = parseRank(state, 'zero');
    const slices = new Map<string, { fp32: Float32Array; optimizer: Map<string, Float32Array | number> | null }>();
    for (const rec of this.#records) {
      const s = saved.params.get(rec.name);
      if (!s) throw new Error(`ZeRO-3 checkpoint: no saved slice for parameter '${rec.name}'${missingHint(rec.name, saved.params)}`);
      checkShape(rec, s);
      if (s.partitionSize !== rec.partitionSize || s.groupRank !== rec.group.rank || s.groupSize !== rec.group.size) {
        throw new Error(
          `ZeRO-3 checkpoint: parameter '${rec.name}' was saved as slice ${s.groupRank} of ${s.groupSize} (${s.partitionSize} elements) ` +
            `but this rank holds slice ${rec.group.rank} of ${rec.group.size} (${rec.partitionSize}); load every rank's state to reshard`,
        );
      }
      slices.set(rec.name, { fp32: s.fp32, optimizer: s.optimizer });
    }
    checkUnexpected(saved.params, this.#records);
    this.#apply(slices, saved.paramGroups, null);
  }

  loadShardedStateDict(states: StateValue[]): void {
    const ranks = states.map((s, r) => parseRank(s, `zero (saved rank ${r})`));
    const full = consolidate(ranks);
    const slices = new Map<string, { fp32: Float32Array; optimizer: Map<string, Float32Array | number> | null }>();
    for (const rec of this.#records) {
      const f = full.get(rec.name);
      if (!f) throw new Error(`ZeRO-3 checkpoint: no saved slices for parameter '${rec.name}'${missingHint(rec.name, ranks[0]!.params)}`);
      checkShape(rec, f);
      let optimizer: Map<string, Float32Array | number> | null = null;
      if (f.optimizer) {
        optimizer = new Map();
        for (const [k, v] of f.optimizer) optimizer.set(k, typeof v === 'number' ? v : sliceFor(rec, v));
      }
      slices.set(rec.name, { fp32: sliceFor(rec, f.fp32), optimizer });
    }
    checkUnexpected(ranks[0]!.params, this.#records);
    this.#apply(slices, ranks[0]!.paramGroups, full);
  }

  afterModuleLoad(): void {
    const released = this.#records.filter((r) => !r.persistent);
    if (released.length > 0) {
      throw new Error(
        `ZeRO-3: a weights-only load cannot restore partitioned parameters (${released.slice(0, 3).map((r) => `'${r.name}'`).join(', ')}` +
          `${released.length > 3 ? `, … ${released.length} in all` : ''}): the model file holds empty placeholders for them. ` +
          'Load the checkpoint with its optimizer states, or set the weights with withGatheredParameters(params, fn, { modifierRank: 0 })',
      );
    }
    for (const rec of this.#records) {
      rec.repartitionFromFull();
      if (rec.master && rec.master.storage !== rec.partition.storage) rec.master.data<'float32'>().set(rec.partitionFloat32());
    }
  }

  #apply(
    slices: Map<string, { fp32: Float32Array; optimizer: Map<string, Float32Array | number> | null }>,
    paramGroups: Rec[],
    full: Map<string, { fp32: Float32Array }> | null,
  ): void {
    const sd = this.#optimizer ? this.#optimizerStateDict(slices, paramGroups) : null;
    // Everything is validated; now change state.
    if (sd) this.#optimizer!.loadStateDict(sd as never);
    for (const rec of this.#records) {
      const { fp32 } = slices.get(rec.name)!;
      if (rec.master) rec.master.data<'float32'>().set(fp32);
      if (rec.store) rec.writePartition(castFromFp32(fp32, rec.dtype));
      else if (rec.partition.storage !== rec.master?.storage) writeFromFp32(rec.partition, fp32);
      if (rec.status === 'gathered') {
        if (!rec.persistent) rec.release();
        else if (full) {
          const values = full.get(rec.name)!.fp32.subarray(0, rec.numel);
          noGrad(() => rec.param.copy_(new Tensor(Float32Array.from(values), rec.shape, 'float32').to(rec.dtype)));
        }
      }
    }
  }

  #optimizerStateDict(slices: Map<string, { optimizer: Map<string, Float32Array | number> | null }>, paramGroups: Rec[]): optim.OptimizerStateDict {
    const optimizer = this.#optimizer!;
    if (paramGroups.length !== optimizer.paramGroups.length) {
      throw new Error(`ZeRO-3 checkpoint: it has ${paramGroups.length} optimizer param group(s) but this optimizer has ${optimizer.paramGroups.length}`);
    }
    const state: Record<number, optim.ParamState> = {};
    const groups: Record<string, unknown>[] = [];
    let index = 0;
    paramGroups.forEach((g, gi) => {
      const { param_names: names, ...hyper } = g;
      const mine = this.#flats.filter((f) => f.groupIndex === gi);
      const want = mine.flatMap((f) => f.recs.map((r) => r.name));
      if (!Array.isArray(names) || names.length !== want.length || want.some((n) => !names.includes(n))) {
        throw new Error(`ZeRO-3 checkpoint: optimizer param group ${gi} holds [${String(names)}] in the checkpoint but [${want.join(', ')}] here`);
      }
      const ids: number[] = [];
      for (const f of mine) {
        const st = flatState(f, slices);
        if (st) state[index] = st;
        ids.push(index++);
      }
      groups.push({ ...hyper, params: ids });
    });
    return { state, paramGroups: groups as never };
  }
}

/**
 * Full fp32 parameters from every saved rank's ZeRO-3 state (zero_to_fp32 for stage 3): each
 * parameter's slices are concatenated in partition order and cut to its element count.
 */
export function consolidateStage3States(states: readonly StateValue[]): Record<string, Tensor> {
  const full = consolidate(states.map((s, r) => parseRank(s, `zero (saved rank ${r})`)));
  const out: Record<string, Tensor> = {};
  for (const [name, f] of full) out[name] = new Tensor(f.fp32.slice(0, f.numel), f.shape, 'float32');
  return out;
}

interface FullParam {
  shape: number[];
  numel: number;
  fp32: Float32Array;
  optimizer: Map<string, Float32Array | number> | null;
}

function consolidate(ranks: SavedRank[]): Map<string, FullParam> {
  const out = new Map<string, FullParam>();
  if (ranks.length === 0) throw new Error('ZeRO-3 checkpoint: no saved rank states to consolidate');
  for (const name of ranks[0]!.params.keys()) {
    const first = ranks[0]!.params.get(name)!;
    const bySlice = new Map<number, SavedSlice>();
    ranks.forEach((r, ri) => {
      const s = r.params.get(name);
      if (!s) throw new Error(`ZeRO-3 checkpoint: saved rank ${ri} has no slice of parameter '${name}'`);
      if (s.groupSize !== first.groupSize || s.numel !== first.numel) {
        throw new Error(`ZeRO-3 checkpoint: saved ranks disagree on parameter '${name}' (group size ${s.groupSize} vs ${first.groupSize}, ${s.numel} vs ${first.numel} elements)`);
      }
      if (!bySlice.has(s.groupRank)) bySlice.set(s.groupRank, s);
    });
    const ps = first.partitionSize;
    const fp32 = new Float32Array(ps * first.groupSize);
    let optimizer: Map<string, Float32Array | number> | null = first.optimizer ? new Map() : null;
    for (let g = 0; g < first.groupSize; g++) {
      const s = bySlice.get(g);
      if (!s) throw new Error(`ZeRO-3 checkpoint: slice ${g} of ${first.groupSize} of parameter '${name}' is missing from the saved ranks`);
      fp32.set(s.fp32, g * ps);
      if (optimizer) {
        if (!s.optimizer) throw new Error(`ZeRO-3 checkpoint: slice ${g} of parameter '${name}' has no optimizer state but slice 0 has`);
        for (const [k, v] of s.optimizer) {
          if (typeof v === 'number') {
            if (!optimizer.has(k)) optimizer.set(k, v);
            continue;
          }
          let buf = optimizer.get(k);
          if (!(buf instanceof Float32Array)) optimizer.set(k, (buf = new Float32Array(ps * first.groupSize)));
          buf.set(v, g * ps);
        }
      }
    }
    if (optimizer && optimizer.size === 0) optimizer = null;
    out.set(name, { shape: first.shape, numel: first.numel, fp32, optimizer });
  }
  return out;
}

/** This rank's slice (zero-padded) of a full flattened parameter. */
function sliceFor(rec: PartitionedParam, full: Float32Array): Float32Array {
  const out = new Float32Array(rec.partitionSize);
  const n = rec.ownedElements;
  if (n > 0) out.set(full.subarray(rec.start, rec.start + n));
  return out;
}

function flatState(f: FlatPartition, slices: Map<string, { optimizer: Map<string, Float32Array | number> | null }>): optim.ParamState | null {
  const entries = f.recs.map((r) => slices.get(r.name)!.optimizer);
  if (entries.every((e) => e === null)) return null;
  const missing = f.recs.filter((_, i) => entries[i] === null);
  if (missing.length) throw new Error(`ZeRO-3 checkpoint: no optimizer state for ${missing.map((r) => `'${r.name}'`).join(', ')} though other parameters of its group have some`);
  const st: optim.ParamState = {};
  for (const [k, v] of entries[0]!) {
    if (typeof v === 'number') {
      st[k] = v;
      continue;
    }
    const data = new Float32Array(f.master.numel);
    f.recs.forEach((r, i) => {
      const s = entries[i]!.get(k);
      if (!(s instanceof Float32Array) || s.length !== r.partitionSize) {
        throw new Error(`ZeRO-3 checkpoint: optimizer state '${k}' of '${r.name}' is missing or has the wrong size`);
      }
      data.set(s, f.offsets[i]!);
    });
    st[k] = new Tensor(data, [data.length], 'float32');
  }
  return st;
}

function castFromFp32(fp32: Float32Array, dtype: DType): StorageArray {
  const out = allocateStorage(dtype, fp32.length);
  fromFp32(fp32, out, dtype);
  return out;
}

function writeFromFp32(dst: Tensor, fp32: Float32Array): void {
  if (dst.dtype === 'float32') dst.data<'float32'>().set(fp32);
  else if (dst.dtype === 'float16' || dst.dtype === 'bfloat16') masterToHalf(fp32, dst.data() as Uint16Array, dst.dtype);
  else noGrad(() => dst.copy_(new Tensor(Float32Array.from(fp32), [fp32.length], 'float32').to(dst.dtype)));
}

function checkShape(rec: PartitionedParam, s: { shape: number[] }): void {
  if (s.shape.join(',') !== rec.shape.join(',')) {
    throw new Error(`ZeRO-3 checkpoint: parameter '${rec.name}' has shape [${s.shape.join(', ')}] in the checkpoint but [${rec.shape.join(', ')}] in the model`);
  }
}

function checkUnexpected(saved: Map<string, unknown>, records: readonly PartitionedParam[]): void {
  const names = new Set(records.map((r) => r.name));
  const extra = [...saved.keys()].filter((n) => !names.has(n));
  if (extra.length) throw new Error(`ZeRO-3 checkpoint: it has slices of parameters this model does not have: ${extra.map((n) => `'${n}'`).join(', ')}`);
}

function missingHint(name: string, saved: Map<string, unknown>): string {
  const keys = [...saved.keys()];
  const near = keys.find((k) => k.endsWith(name.split('.').slice(-2).join('.')));
  return near ? ` (did you mean '${near}'?)` : ` (it has ${keys.length} parameter(s))`;
}

function parseRank(state: StateValue, where: string): SavedRank {
  const rec = asRecord(state, where);
  if (rec.format !== STAGE3_FORMAT) {
    throw new Error(`${where}: expected ZeRO-3 state (format "${STAGE3_FORMAT}"), got format ${JSON.stringify(rec.format ?? null)}; was it saved with another ZeRO stage?`);
  }
  const params = new Map<string, SavedSlice>();
  for (const [name, v] of Object.entries(asRecord(rec.params, `${where}.params`))) {
    const p = asRecord(v, `${where}.params.${name}`);
    const fp32 = p.fp32;
    if (!(fp32 instanceof Tensor) || fp32.dtype !== 'float32') throw new TypeError(`${where}.params.${name}.fp32 must be a float32 tensor`);
    let optimizer: Map<string, Float32Array | number> | null = null;
    if (p.optimizer !== null && p.optimizer !== undefined) {
      optimizer = new Map();
      for (const [k, x] of Object.entries(asRecord(p.optimizer, `${where}.params.${name}.optimizer`))) {
        if (typeof x === 'number') optimizer.set(k, x);
        else if (x instanceof Tensor) optimizer.set(k, x.toFloat32Array());
        else throw new TypeError(`${where}.params.${name}.optimizer.${k} must be a tensor or a number`);
      }
    }
    const num = (k: string): number => {
      const x = p[k];
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0) throw new TypeError(`${where}.params.${name}.${k} must be a non-negative integer, got ${JSON.stringify(x)}`);
      return x;
    };
    const shape = p.shape;
    if (!Array.isArray(shape) || !shape.every((d) => typeof d === 'number')) throw new TypeError(`${where}.params.${name}.shape must be a list of integers`);
    const slice: SavedSlice = {
      shape: shape as number[],
      numel: num('numel'),
      partitionSize: num('partition_size'),
      groupRank: num('group_rank'),
      groupSize: num('group_size'),
      fp32: fp32.toFloat32Array(),
      optimizer,
    };
    if (slice.fp32.length !== slice.partitionSize) {
      throw new RangeError(`${where}.params.${name}.fp32 has ${slice.fp32.length} elements but partition_size is ${slice.partitionSize}`);
    }
    params.set(name, slice);
  }
  const groups = rec.param_groups;
  if (!Array.isArray(groups)) throw new TypeError(`${where}.param_groups must be a list`);
  return { params, paramGroups: groups.map((g, i) => asRecord(g, `${where}.param_groups[${i}]`)) };
}

function asRecord(v: StateValue | undefined, where: string): Rec {
  if (v === null || v === undefined || typeof v !== 'object' || Array.isArray(v) || v instanceof Tensor) {
    throw new TypeError(`${where}: expected a record, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`);
  }
  return v;
}
