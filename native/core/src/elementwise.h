// Contiguous elementwise kernels.
#pragma once

#include <napi.h>

namespace ds {

// [sync] unary(op: UnaryOp 0..9, a: Float32Array, out: Float32Array): out[i] = op(a[i]) for i < a.length.
// [sync] binaryScalar(op: BinaryOp 0..6, a: Float32Array, s: number, out: Float32Array): out[i] = op(a[i], s).
// [sync] axpy(alpha: number, x: Float32Array, y: Float32Array): y[i] += alpha * x[i] for i < x.length.
// [sync] scale(x: Float32Array, alpha: number): x[i] *= alpha.
//   All throw TypeError on wrong types, RangeError on an unknown op or an output shorter than the input.
//   bf16 twins below take Uint16Arrays of bfloat16 bits where the float32 kernel takes
//   Float32Arrays for tensor data, compute the same float32 values on the widened inputs and
//   round each output once to nearest even (elem_io.h), so their results equal
//   f32ToBf16(kernel(bf16ToF32(inputs))) bit for bit; they throw the same errors.
// [sync] unaryBf16(op, a: Uint16Array, out: Uint16Array), binaryScalarBf16(op, a: Uint16Array, s,
//   out: Uint16Array); out may be `a` itself (in place).
void InitElementwise(Napi::Env env, Napi::Object exports);

}  // namespace ds
