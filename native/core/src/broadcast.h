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
//   bf16 twins below take Uint16Arrays of bfloat16 bits where the float32 kernel takes
//   Float32Arrays for tensor data, compute the same float32 values on the widened inputs and
//   round each output once to nearest even (elem_io.h), so their results equal
//   f32ToBf16(kernel(bf16ToF32(inputs))) bit for bit; they throw the same errors.
// [sync] binaryBf16(op, shape, a: Uint16Array, aOffset, aStrides, b: Uint16Array, bOffset, bStrides,
//   out: Uint16Array); out may be `a` itself when a is contiguous over `shape` (an in-place add).
// [sync] copyStrided16(shape, src: Uint16Array, offset, strides, out: Uint16Array): copyStrided for
//   any 16-bit elements (bfloat16 or float16 bits), moving bits unchanged.
void InitBroadcast(Napi::Env env, Napi::Object exports);

}  // namespace ds
