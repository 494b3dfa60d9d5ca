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
void InitReduce(Napi::Env env, Napi::Object exports);

}  // namespace ds
