// Reductions over one axis and over a whole array.
#pragma once

#include <napi.h>

namespace ds {

// [sync] reduce(mode: 0 sum | 1 mean | 2 max, x: Float32Array, outer, dim, inner, out: Float32Array,
//               indices: Int32Array | null): reduces the middle axis of contiguous [outer, dim, inner]
//   into out [outer, inner], accumulating in double. Max propagates NaN (the first NaN wins) and
//   writes the first index of the maximum to `indices` when given; dim 0 gives sum 0, mean NaN,
//   max NaN with index 0. Throws TypeError / RangeError on bad types, modes or lengths.
// [sync] sumAll(x: Float32Array, squares: boolean): number — sum of x (or of x*x when squares)
//   in double. The array is summed in fixed blocks whose partial sums are added in order, so
//   the result is the same for any thread count.
//   bf16 twins below take Uint16Arrays of bfloat16 bits where the float32 kernel takes
//   Float32Arrays for tensor data, compute the same float32 values on the widened inputs and
//   round each output once to nearest even (elem_io.h), so their results equal
//   f32ToBf16(kernel(bf16ToF32(inputs))) bit for bit; they throw the same errors.
// [sync] reduceBf16(mode, x: Uint16Array, outer, dim, inner, out: Float32Array, indices): reduce on
//   bf16 input; out stays float32 (unrounded).
void InitReduce(Napi::Env env, Napi::Object exports);

}  // namespace ds
