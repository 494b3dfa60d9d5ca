// Row softmax / log-softmax, their backward passes, and causal attention probabilities.
#pragma once

#include <napi.h>

namespace ds {

// [sync] softmax(x, out, rows, cols), logSoftmax(x, out, rows, cols): over the last dim of
//   [rows, cols], with max subtraction; -inf entries give probability exactly 0 (log -inf), a row
//   that is all -inf gives NaN like PyTorch.
// [sync] softmaxBackward(y, dy, dx, rows, cols): dx = y * (dy - sum(dy * y)) per row.
// [sync] logSoftmaxBackward(y, dy, dx, rows, cols): dx = dy - exp(y) * sum(dy) per row.
// [sync] causalSoftmax(x, out, batch, t, scale): x [batch, t, t]; out[b,i,j] = softmax over
//   j <= i of scale * x[b,i,j], exactly 0 for j > i.
//   All take Float32Arrays and throw TypeError on wrong types, RangeError on short arrays.
//   bf16 twins below take Uint16Arrays of bfloat16 bits where the float32 kernel takes
//   Float32Arrays for tensor data, compute the same float32 values on the widened inputs and
//   round each output once to nearest even (elem_io.h), so their results equal
//   f32ToBf16(kernel(bf16ToF32(inputs))) bit for bit; they throw the same errors.
// [sync] softmaxBf16(x, out, rows, cols), logSoftmaxBf16(x, out, rows, cols),
//   causalSoftmaxBf16(x, out, batch, t, scale): Uint16Arrays.
// [sync] softmaxBackwardBf16(x, dy, dx, rows, cols), logSoftmaxBackwardBf16(x, dy, dx, rows, cols):
//   take the forward's INPUT x and recompute its float32 output per row (bit for bit what the
//   forward computed before rounding), then run the float32 backward on it.
// [sync] causalSoftmaxBackwardBf16(x, dy, dx, batch, t, scale): dx = scale * softmaxBackward(p, dy)
//   with p = causalSoftmax(x, scale) recomputed in float32 and the product by scale taken like
//   scale() does (in double when scale is not a float).
void InitSoftmax(Napi::Env env, Napi::Object exports);

}  // namespace ds
