// Strided and broadcasting kernels over an N-d index space.
#pragma once

#include <napi.h>

namespace ds {

// [sync] binary(op: BinaryOp 0..6, shape: Int32Array, a: Float32Array, aOffset: number,
//               aStrides: Int32Array, b: Float32Array, bOffset: number, bStrides: Int32Array,
//               out: Float32Array): out[i] = op(a[ia], b[ib]) over the row-major index space of
//   `shape`, with ia = aOffset + sum(idx[d] * aStrides[d]) (0 broadcasts, negative allowed).
// [sync] copyStrided(shape: Int32Array, src: Float32Array, offset: number, strides: Int32Array,
//                    out: Float32Array): gathers a strided view into contiguous `out`.
//   Both throw TypeError on wrong types and RangeError when the strides do not match the shape's
//   rank, a dimension is negative, a reachable index falls outside its array, or `out` is
//   shorter than the product of the shape.
void InitBroadcast(Napi::Env env, Napi::Object exports);

}  // namespace ds
