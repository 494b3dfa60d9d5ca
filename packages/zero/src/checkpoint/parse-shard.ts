// Checks a rank's saved ZeRO state before anything uses it: every field a loader reads is
// present with the right type and consistent sizes, or the error names the field and the file.
import { Tensor } from '@ds/core';
import { SHARD_FORMAT, SHARD_VERSION, type SavedFlat, type ZeroShardState } from './shard-format.js';

type Rec = Record<string, unknown>;

function fail(where: string, what: string): never {
  throw new Error(`${where}: ${what}; the file is not a ds ZeRO partition state or is corrupt`);
}

function rec(v: unknown, where: string, key: string): Rec {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Tensor) fail(where, `'${key}' must be a record`);
  return v as Rec;
}

function int(r: Rec, key: string, where: string): number {
  const v = r[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(where, `'${key}' must be an integer >= 0, got ${JSON.stringify(v)}`);
  return v;
}

function arr(r: Rec, key: string, where: string): unknown[] {
  const v = r[key];
  if (!Array.isArray(v)) fail(where, `'${key}' must be an array`);
  return v;
}

/** `value` as a ZeroShardState, or an error naming what is wrong. */
export function parseShardState(value: unknown, where: string): ZeroShardState {
  const s = rec(value, where, 'state');
  if (s.format !== SHARD_FORMAT) fail(where, `'format' is ${JSON.stringify(s.format)}, expected "${SHARD_FORMAT}"`);
  if (s.version !== SHARD_VERSION) fail(where, `'version' is ${JSON.stringify(s.version)}; this @ds/zero reads version ${SHARD_VERSION}`);
  const stage = int(s, 'zero_stage', where);
  const flats = arr(s, 'flats', where).map((f, i) => parseFlat(f, `${where} flats[${i}]`));
  const groups = arr(s, 'optimizer_param_groups', where).map((g, i) => rec(g, where, `optimizer_param_groups[${i}]`));
  return { format: SHARD_FORMAT, version: SHARD_VERSION, zero_stage: stage, flats, optimizer_param_groups: groups as ZeroShardState['optimizer_param_groups'] };
}

function parseFlat(value: unknown, where: string): SavedFlat {
  const f = rec(value, where, 'flat');
  const ps = int(f, 'partition_size', where);
  const count = int(f, 'partition_count', where);
  if (count < 1) fail(where, `'partition_count' must be >= 1`);
  const params = arr(f, 'params', where).map((p, i) => {
    const r = rec(p, where, `params[${i}]`);
    if (typeof r.name !== 'string') fail(where, `params[${i}].name must be a string`);
    const shape = arr(r, 'shape', `${where} params[${i}]`);
    if (!shape.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0)) fail(where, `params[${i}].shape must be a list of sizes`);
    const numel = int(r, 'numel', `${where} params[${i}]`);
    if ((shape as number[]).reduce((a, b) => a * b, 1) !== numel) fail(where, `params[${i}] ('${r.name}') has numel ${numel} but shape [${shape.join(', ')}]`);
    const aliases = Array.isArray(r.aliases) ? r.aliases.filter((a): a is string => typeof a === 'string') : [];
    return { name: r.name, aliases, shape: shape as number[], offset: int(r, 'offset', `${where} params[${i}]`), numel };
  });
  const names = new Set(params.map((p) => p.name));
  const fragments = arr(f, 'fragments', where).map((x, i) => {
    const r = rec(x, where, `fragments[${i}]`);
    if (typeof r.name !== 'string' || !names.has(r.name)) fail(where, `fragments[${i}] names ${JSON.stringify(r.name)}, which is not one of the flat's params`);
    const frag = { name: r.name, param_start: int(r, 'param_start', where), part_start: int(r, 'part_start', where), length: int(r, 'length', where) };
    const p = params.find((q) => q.name === frag.name)!;
    if (frag.param_start + frag.length > p.numel || frag.part_start + frag.length > ps) fail(where, `fragments[${i}] ('${frag.name}') lies outside the parameter or the partition`);
    return frag;
  });
  const fp32 = f.fp32;
  if (!(fp32 instanceof Tensor) || fp32.numel !== ps) fail(where, `'fp32' must be a tensor of partition_size (${ps}) elements`);
  const st = rec(f.optimizer_state ?? {}, where, 'optimizer_state');
  const optimizerState: SavedFlat['optimizer_state'] = {};
  for (const [k, v] of Object.entries(st)) {
    if (v instanceof Tensor) {
      if (v.numel !== ps) fail(where, `optimizer_state.${k} has ${v.numel} elements, the partition ${ps}`);
      optimizerState[k] = v;
    } else if (typeof v === 'number') optimizerState[k] = v;
    else fail(where, `optimizer_state.${k} must be a tensor or a number`);
  }
  const groupRanks = arr(f, 'group_ranks', where);
  if (groupRanks.length !== count) fail(where, `'group_ranks' lists ${groupRanks.length} ranks but partition_count is ${count}`);
  return {
    optimizer_group: int(f, 'optimizer_group', where),
    group_ranks: groupRanks as number[],
    rank: int(f, 'rank', where),
    partition_count: count,
    numel: int(f, 'numel', where),
    padding: int(f, 'padding', where),
    partition_size: ps,
    partition_padding: int(f, 'partition_padding', where),
    dtype: typeof f.dtype === 'string' ? f.dtype : 'float32',
    params,
    fragments,
    fp32,
    optimizer_state: optimizerState,
  };
}
