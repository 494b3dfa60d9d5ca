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
//   bf16 twins below take Uint16Arrays of bfloat16 bits where the float32 kernel takes
//   Float32Arrays for tensor data, compute the same float32 values on the widened inputs and
//   round each output once to nearest even (elem_io.h), so their results equal
//   f32ToBf16(kernel(bf16ToF32(inputs))) bit for bit; they throw the same errors.
// [sync] layerNormBf16(x, weight | null, bias | null, out, mean, rstd, rows, cols, eps): x, weight,
//   bias, out as Uint16Arrays; mean and rstd float32.
// [sync] layerNormBackwardBf16(dy, x, weight | null, mean, rstd, dx, dweight | null, dbias | null,
//   rows, cols): dy, x, weight, dx as Uint16Arrays; dweight and dbias float32, accumulated.
void InitLayerNorm(Napi::Env env, Napi::Object exports);

}  // namespace ds
