// Argument checks and call descriptors shared by every backend: what a collective was asked
// to do (CollectiveCall), how it reads in an error message, the key ranks compare to detect a
// mismatch, and the checks that turn bad arguments into errors naming what was wrong.
import { DTYPES, isFloating, Tensor, type DType } from '@ds/core';
import type { CollectiveCall, CollectiveOp, ReduceOp } from './types.js';
import { REDUCE_OPS } from './types.js';

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** The call as it reads in messages, e.g. `broadcast(float32 [1024], src=0)`. */
export function formatCall(call: CollectiveCall): string {
  const dt = call.dtype ?? '';
  const s = call.shapes;
  const extra: string[] = [];
  if (call.reduceOp !== undefined && call.reduceOp !== 'sum') extra.push(`op=${call.reduceOp}`);
  let args: string;
  switch (call.op) {
    case 'allReduce':
      args = `${dt} ${shapeText(s[0] ?? [])}`;
      break;
    case 'reduce':
      args = `${dt} ${shapeText(s[0] ?? [])}, dst=${call.root}`;
      break;
    case 'broadcast':
      args = `${dt} ${shapeText(s[0] ?? [])}, src=${call.root}`;
      break;
    case 'allGatherInto':
    case 'reduceScatter':
      args = `${dt} output ${shapeText(s[0] ?? [])}, input ${shapeText(s[1] ?? [])}`;
      break;
    case 'allGather':
      args = `${dt} ${s.length - 1} outputs ${shapeText(s[0] ?? [])}, input ${shapeText(s[s.length - 1] ?? [])}`;
      break;
    case 'allToAll':
      args = `${dt} output ${shapeText(s[0] ?? [])}, input ${shapeText(s[1] ?? [])}`;
      if (call.outputSplits) extra.push(`outputSplits=${shapeText(call.outputSplits)}`);
      if (call.inputSplits) extra.push(`inputSplits=${shapeText(call.inputSplits)}`);
      break;
    case 'barrier':
      args = '';
      break;
    case 'newGroup':
      args = `ranks=${shapeText(call.groupRanks ?? [])}`;
      break;
    case 'send':
    case 'recv':
      args = `${dt} ${shapeText(s[0] ?? [])}, ${call.op === 'send' ? 'dst' : 'src'}=${call.peer}, tag=${call.tag ?? 0}`;
      break;
  }
  return `${call.op}(${[args, ...extra].filter((x) => x !== '').join(', ')})`;
}

/**
 * What must agree across ranks at one sequence number. Shapes are compared exactly, except
 * allToAll, whose row counts legitimately differ per rank (its rows are checked pairwise
 * against the split sizes instead).
 */
export function callKey(call: CollectiveCall): string {
  let shapes = '';
  for (const s of call.shapes) shapes += `${(call.op === 'allToAll' ? s.slice(1) : s).join('x')};`;
  return `${call.op}|${call.dtype ?? ''}|${shapes}|${call.reduceOp ?? ''}|${call.root ?? ''}|${call.groupRanks?.join(',') ?? ''}`;
}

/** 32-bit FNV-1a of a string (the mismatch check compares these before reading the text). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** "rank 2" in the world group, "rank 1 (global rank 5)" in a subgroup. */
export function rankLabel(groupRank: number, groupRanks: readonly number[], worldSize?: number): string {
  const global = groupRanks[groupRank];
  const isWorld = worldSize !== undefined ? groupRanks.length === worldSize && groupRanks.every((r, i) => r === i) : groupRanks.every((r, i) => r === i);
  return isWorld || global === undefined ? `rank ${groupRank}` : `rank ${groupRank} (global rank ${global})`;
}

/** "ranks 0, 1 and 3" / "rank 2". */
export function listRanks(ranks: readonly number[], groupRanks?: readonly number[]): string {
  const labels = ranks.map((r) => (groupRanks ? rankLabel(r, groupRanks).replace(/^rank /, '') : String(r)));
  if (labels.length === 1) return `rank ${labels[0]}`;
  return `ranks ${labels.slice(0, -1).join(', ')} and ${labels[labels.length - 1]}`;
}

/** The message every rank reports when two ranks' calls disagree. */
export function mismatchMessage(mine: CollectiveCall, a: number, callA: string, b: number, callB: string, groupRanks: readonly number[]): string {
  return `${mine.op} #${mine.seq} mismatch: ${rankLabel(a, groupRanks)} called ${callA} but ${rankLabel(b, groupRanks)} called ${callB}`;
}

// ---- argument checks --------------------------------------------------------------------

function fail(op: CollectiveOp, what: string): never {
  throw new TypeError(`${op}: ${what}`);
}

export function checkTensor(op: CollectiveOp, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) {
    if (t && typeof t === 'object' && 'shape' in t && 'dtype' in t && 'storage' in t) return t as Tensor; // another copy of @ds/core
    fail(op, `${name} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  }
  if (!(DTYPES as readonly string[]).includes(t.dtype)) fail(op, `${name} has unsupported dtype ${t.dtype}`);
  if (t.device.type !== 'cpu') fail(op, `${name} is on ${String(t.device)}; this backend works on cpu tensors`);
  if (!t.isContiguous()) {
    fail(op, `${name} must be contiguous (shape ${shapeText(t.shape)}, strides ${shapeText(t.strides)}); pass t.contiguous() and copy the result back`);
  }
  return t;
}

export function checkSameDtype(op: CollectiveOp, name: string, t: Tensor, dtype: DType): void {
  if (t.dtype !== dtype) fail(op, `${name} has dtype ${t.dtype} but the input is ${dtype}; both must have the same dtype`);
}

export function checkReduceOp(op: CollectiveOp, reduceOp: unknown, dtype: DType): ReduceOp {
  if (!(REDUCE_OPS as readonly unknown[]).includes(reduceOp)) {
    fail(op, `unknown reduce op ${JSON.stringify(reduceOp)}; expected one of ${REDUCE_OPS.join(', ')}`);
  }
  if (reduceOp === 'avg' && !isFloating(dtype)) {
    fail(op, `op 'avg' needs a floating-point tensor, this one is ${dtype}; reduce with 'sum' and divide`);
  }
  return reduceOp as ReduceOp;
}

export function checkRank(op: CollectiveOp, name: string, r: unknown, size: number): number {
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r >= size) {
    throw new RangeError(`${op}: ${name}=${String(r)} is not a rank of this group (valid: 0..${size - 1}; ranks are group ranks)`);
  }
  return r;
}

export function checkTag(op: CollectiveOp, tag: unknown): number {
  if (typeof tag !== 'number' || !Number.isInteger(tag) || tag < 0 || tag > 0x7fffffff) {
    throw new RangeError(`${op}: tag must be an integer in [0, 2^31), got ${String(tag)}`);
  }
  return tag;
}

export function checkTimeout(where: string, ms: unknown): number {
  if (typeof ms !== 'number' || !(ms > 0) || !Number.isFinite(ms)) {
    throw new RangeError(`${where}: timeoutMs must be a positive number of milliseconds, got ${String(ms)}`);
  }
  return ms;
}

/** Rows (dim 0) and elements per row of an allToAll tensor. */
export function rowsOf(op: CollectiveOp, name: string, t: Tensor): { rows: number; rowElems: number } {
  if (t.ndim === 0) fail(op, `${name} must have at least one dimension (splits are along dim 0), got a 0-d tensor`);
  const rows = t.shape[0]!;
  return { rows, rowElems: rows === 0 ? t.shape.slice(1).reduce((a, b) => a * b, 1) : t.numel / rows };
}

/** Validate split sizes (or derive equal ones) for one side of an allToAll. */
export function checkSplits(op: CollectiveOp, name: string, splits: readonly number[] | null | undefined, rows: number, size: number): number[] {
  if (splits === undefined || splits === null) {
    if (rows % size !== 0) {
      throw new RangeError(`${op}: ${name.replace('Splits', '')} has ${rows} rows, which do not split equally over ${size} ranks; pass ${name}`);
    }
    return new Array<number>(size).fill(rows / size);
  }
  if (!Array.isArray(splits) || splits.length !== size) {
    throw new RangeError(`${op}: ${name} must list one size per rank (${size}), got ${JSON.stringify(splits)}`);
  }
  let sum = 0;
  for (const s of splits) {
    if (!Number.isInteger(s) || s < 0) throw new RangeError(`${op}: ${name} must hold non-negative integers, got ${JSON.stringify(splits)}`);
    sum += s;
  }
  if (sum !== rows) throw new RangeError(`${op}: ${name} ${JSON.stringify(splits)} sum to ${sum} rows but the tensor has ${rows}`);
  return [...splits];
}

export function checkNumel(op: CollectiveOp, what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new RangeError(`${op}: ${what} has ${actual} elements, expected ${expected}`);
}
