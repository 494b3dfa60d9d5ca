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
void InitSoftmax(Napi::Env env, Napi::Object exports);

}  // namespace ds
