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
//   bf16 twins below take Uint16Arrays of bfloat16 bits where the float32 kernel takes
//   Float32Arrays for tensor data, compute the same float32 values on the widened inputs and
//   round each output once to nearest even (elem_io.h), so their results equal
//   f32ToBf16(kernel(bf16ToF32(inputs))) bit for bit; they throw the same errors.
// [sync] crossEntropyBf16(logits: Uint16Array, targets, rows, cols, ignoreIndex, count): number.
// [sync] crossEntropyBackwardBf16(logits: Uint16Array, targets, rows, cols, ignoreIndex, scale,
//   dlogits: Uint16Array).
void InitCrossEntropy(Napi::Env env, Napi::Object exports);

}  // namespace ds
