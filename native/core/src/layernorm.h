// Layer normalisation over the last dimension, forward and backward.
#pragma once

#include <napi.h>

namespace ds {

// [sync] layerNorm(x, weight | null, bias | null, out, mean, rstd, rows, cols, eps): per row of
//   [rows, cols], out = (x - mean) * rstd * weight + bias with the biased variance; writes
//   mean[rows] and rstd[rows] = 1/sqrt(var + eps). Mean and variance are two-pass in double, so
//   the variance stays accurate when |mean| >> std.
// [sync] layerNormBackward(dy, x, weight | null, mean, rstd, dx, dweight | null, dbias | null,
//   rows, cols): dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * weight,
//   overwriting dx; dweight += sum_rows dy * xhat and dbias += sum_rows dy when given.
//   Both throw TypeError on wrong types and RangeError on arrays shorter than their shape.
void InitLayerNorm(Napi::Env env, Napi::Object exports);

}  // namespace ds
