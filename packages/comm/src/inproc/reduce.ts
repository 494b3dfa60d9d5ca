// Elementwise reductions over typed arrays, per dtype. float32 runs on the core kernels
// (native SIMD when built); float16/bfloat16 are widened to float32 block by block, combined,
// and rounded back once (more accurate than a ring's per-hop rounding, and deterministic);
// int32 wraps like C int32; int64 wraps modulo 2^64.
import { kernels, type Kernels } from '@ds/core';
import type { StorageArray } from './slab.js';
import type { ReduceOp } from '../types.js';

type BinaryOpCode = Parameters<Kernels['binary']>[0];
const MUL = 2 as BinaryOpCode;
const DIV = 3 as BinaryOpCode;
const MAX = 5 as BinaryOpCode;
const MIN = 6 as BinaryOpCode;
const BLOCK = 8192;

const one = new Int32Array([1]);

function combineF32(k: Kernels, op: ReduceOp, acc: Float32Array, src: Float32Array): void {
  const n = acc.length;
  if (n === 0) return;
  if (op === 'sum' || op === 'avg') {
    k.axpy(1, src, acc);
    return;
  }
  const code = op === 'product' ? MUL : op === 'max' ? MAX : MIN;
  k.binary(code, new Int32Array([n]), acc, 0, one, src, 0, one, acc);
}

function reduceF32(op: ReduceOp, dst: Float32Array, sources: readonly Float32Array[], count: number): void {
  const k = kernels();
  if (dst !== sources[0]) dst.set(sources[0]!);
  for (let i = 1; i < sources.length; i++) combineF32(k, op, dst, sources[i]!);
  if (op === 'avg' && dst.length) k.binaryScalar(DIV, dst, count, dst);
}

let scratchA = new Float32Array(BLOCK);
let scratchB = new Float32Array(BLOCK);

function reduceHalf(bf16: boolean, op: ReduceOp, dst: Uint16Array, sources: readonly Uint16Array[], count: number): void {
  const k = kernels();
  const widen = bf16 ? k.bf16ToF32.bind(k) : k.f16ToF32.bind(k);
  const narrow = bf16 ? k.f32ToBf16.bind(k) : k.f32ToF16.bind(k);
  if (scratchA.length < BLOCK) {
    scratchA = new Float32Array(BLOCK);
    scratchB = new Float32Array(BLOCK);
  }
  const n = dst.length;
  for (let off = 0; off < n; off += BLOCK) {
    const len = Math.min(BLOCK, n - off);
    const acc = scratchA.subarray(0, len);
    const tmp = scratchB.subarray(0, len);
    widen(sources[0]!.subarray(off, off + len), acc);
    for (let i = 1; i < sources.length; i++) {
      widen(sources[i]!.subarray(off, off + len), tmp);
      combineF32(k, op, acc, tmp);
    }
    if (op === 'avg') k.binaryScalar(DIV, acc, count, acc);
    narrow(acc, dst.subarray(off, off + len));
  }
}

function reduceI32(op: ReduceOp, dst: Int32Array, sources: readonly Int32Array[]): void {
  if (dst !== sources[0]) dst.set(sources[0]!);
  const n = dst.length;
  for (let s = 1; s < sources.length; s++) {
    const x = sources[s]!;
    switch (op) {
      case 'sum':
        for (let i = 0; i < n; i++) dst[i] = (dst[i]! + x[i]!) | 0;
        break;
      case 'product':
        for (let i = 0; i < n; i++) dst[i] = Math.imul(dst[i]!, x[i]!);
        break;
      case 'max':
        for (let i = 0; i < n; i++) if (x[i]! > dst[i]!) dst[i] = x[i]!;
        break;
      case 'min':
        for (let i = 0; i < n; i++) if (x[i]! < dst[i]!) dst[i] = x[i]!;
        break;
      default:
        throw new TypeError(`reduce op ${op} is not defined for int32`);
    }
  }
}

function reduceI64(op: ReduceOp, dst: BigInt64Array, sources: readonly BigInt64Array[]): void {
  if (dst !== sources[0]) dst.set(sources[0]!);
  const n = dst.length;
  for (let s = 1; s < sources.length; s++) {
    const x = sources[s]!;
    switch (op) {
      case 'sum':
        for (let i = 0; i < n; i++) dst[i] = dst[i]! + x[i]!; // BigInt64Array stores wrap modulo 2^64
        break;
      case 'product':
        for (let i = 0; i < n; i++) dst[i] = dst[i]! * x[i]!;
        break;
      case 'max':
        for (let i = 0; i < n; i++) if (x[i]! > dst[i]!) dst[i] = x[i]!;
        break;
      case 'min':
        for (let i = 0; i < n; i++) if (x[i]! < dst[i]!) dst[i] = x[i]!;
        break;
      default:
        throw new TypeError(`reduce op ${op} is not defined for int64`);
    }
  }
}

/**
 * dst = op(sources[0], sources[1], ...) elementwise, combined in list order; 'avg' divides by
 * `count`. dst may be sources[0] itself (in place); all views have the same length and type.
 */
export function reduceSources(dtype: string, op: ReduceOp, dst: StorageArray, sources: readonly StorageArray[], count: number): void {
  switch (dtype) {
    case 'float32':
      return reduceF32(op, dst as Float32Array, sources as Float32Array[], count);
    case 'float16':
    case 'bfloat16':
      if (sources.length === 1 && op !== 'avg') {
        if (dst !== sources[0]) (dst as Uint16Array).set(sources[0] as Uint16Array);
        return;
      }
      return reduceHalf(dtype === 'bfloat16', op, dst as Uint16Array, sources as Uint16Array[], count);
    case 'int32':
      return reduceI32(op, dst as Int32Array, sources as Int32Array[]);
    case 'int64':
      return reduceI64(op, dst as BigInt64Array, sources as BigInt64Array[]);
    default:
      throw new TypeError(`reduce: unsupported dtype ${dtype}`);
  }
}
