// Checkpoint state as JSON plus safetensors: every tensor in a state tree is replaced by a
// reference to its name in the tensor file, everything else stays JSON. No pickles.
import { Tensor } from '@ds/core';
import type { StateValue } from '@ds/strategy';

const REF = '__tensor__';

export type Json = number | string | boolean | null | Json[] | { [key: string]: Json };

export function packState(tree: unknown, prefix: string, tensors: Record<string, Tensor>): Json {
  if (tree instanceof Tensor) {
    tensors[prefix] = tree;
    return { [REF]: prefix };
  }
  if (Array.isArray(tree)) return tree.map((v, i) => packState(v, `${prefix}.${i}`, tensors));
  if (tree !== null && typeof tree === 'object') {
    const out: Record<string, Json> = {};
    for (const [k, v] of Object.entries(tree)) if (v !== undefined) out[k] = packState(v, `${prefix}.${k}`, tensors);
    return out;
  }
  if (typeof tree === 'number' && !Number.isFinite(tree)) return { __number__: String(tree) };
  if (tree === undefined) return null;
  return tree as Json;
}

export function unpackState(json: Json, tensors: Record<string, Tensor>, where: string): StateValue {
  if (Array.isArray(json)) return json.map((v) => unpackState(v, tensors, where));
  if (json !== null && typeof json === 'object') {
    if (typeof json[REF] === 'string') {
      const t = tensors[json[REF]];
      if (!t) throw new Error(`${where}: tensor '${json[REF]}' is referenced by the state but missing from the tensor file`);
      return t;
    }
    if (typeof json.__number__ === 'string' && Object.keys(json).length === 1) return Number(json.__number__);
    const out: Record<string, StateValue> = {};
    for (const [k, v] of Object.entries(json)) out[k] = unpackState(v, tensors, where);
    return out;
  }
  return json;
}
