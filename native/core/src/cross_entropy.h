// Cross entropy over integer class targets, forward (summed loss) and backward.
#pragma once

#include <napi.h>

namespace ds {

// [sync] crossEntropy(logits, targets: Int32Array, rows, cols, ignoreIndex, count: Int32Array): number
//   Returns sum over rows with targets[r] != ignoreIndex of logsumexp(logits[r]) - logits[r, t]
//   (in double) and writes the number of such rows to count[0].
// [sync] crossEntropyBackward(logits, targets, rows, cols, ignoreIndex, scale, dlogits):
//   dlogits[r] = scale * (softmax(logits[r]) - onehot(t)), or 0 for ignored rows.
//   Both throw RangeError naming the row and value when a target is outside [0, cols) and is not
//   ignoreIndex (before writing anything), TypeError on wrong types, RangeError on short arrays.
void InitCrossEntropy(Napi::Env env, Napi::Object exports);

}  // namespace ds
