// Element-wise reduction kernels handed to Gloo (its Func signature: out, a, b, n), for every
// dtype x op. float16 and bfloat16 are widened to float32, reduced, and rounded back to nearest
// even in blocks; the other types reduce in their own type.
#pragma once

#include <cstddef>

#include "common.h"

namespace dsgloo {

using ReduceFn = void (*)(void* out, const void* a, const void* b, size_t n);

/** The kernel for (dtype, op); AVG maps to SUM (the caller scales afterwards). */
ReduceFn reduceFunction(DType dtype, RedOp op);

/** p[i] *= factor for floating dtypes (AVG's final scaling). */
void scaleInPlace(void* p, size_t n, DType dtype, double factor);

}  // namespace dsgloo
