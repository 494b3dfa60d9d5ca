// GELU activation, exact (erf) and tanh-approximated, forward and backward.
#pragma once

#include <napi.h>

namespace ds {

// [sync] gelu(x, out, approximate: 0 | 1): 0 = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
//   1 = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), for i < x.length.
// [sync] geluBackward(x, dy, dx, approximate: 0 | 1): dx = dy * d gelu / dx.
//   Both throw TypeError on wrong types, RangeError on a bad mode or short arrays.
//   bf16 twins below take Uint16Arrays of bfloat16 bits where the float32 kernel takes
//   Float32Arrays for tensor data, compute the same float32 values on the widened inputs and
//   round each output once to nearest even (elem_io.h), so their results equal
//   f32ToBf16(kernel(bf16ToF32(inputs))) bit for bit; they throw the same errors.
// [sync] geluBf16(x, out, approximate), geluBackwardBf16(x, dy, dx, approximate): Uint16Arrays.
void InitGelu(Napi::Env env, Napi::Object exports);

}  // namespace ds
