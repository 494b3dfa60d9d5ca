// Contiguous elementwise kernels.
#pragma once

#include <napi.h>

namespace ds {

// [sync] unary(op: UnaryOp 0..9, a: Float32Array, out: Float32Array): out[i] = op(a[i]) for i < a.length.
// [sync] binaryScalar(op: BinaryOp 0..6, a: Float32Array, s: number, out: Float32Array): out[i] = op(a[i], s).
// [sync] axpy(alpha: number, x: Float32Array, y: Float32Array): y[i] += alpha * x[i] for i < x.length.
// [sync] scale(x: Float32Array, alpha: number): x[i] *= alpha.
//   All throw TypeError on wrong types, RangeError on an unknown op or an output shorter than the input.
void InitElementwise(Napi::Env env, Napi::Object exports);

}  // namespace ds
