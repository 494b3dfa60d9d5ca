// float32 <-> float16 / bfloat16 conversion.
#pragma once

#include <napi.h>

namespace ds {

// [sync] f32ToF16(src: Float32Array, dst: Uint16Array), f32ToBf16(src, dst): round to nearest
//   even, subnormals kept, overflow to inf; NaN becomes the reference's quiet NaN
//   (sign | 0x7e00 for f16, high half | 0x0040 for bf16), so results are bit-identical to it.
// [sync] f16ToF32(src: Uint16Array, dst: Float32Array), bf16ToF32(src, dst): exact widening.
//   All convert src.length values; TypeError on wrong types, RangeError if dst is shorter.
void InitHalf(Napi::Env env, Napi::Object exports);

}  // namespace ds
