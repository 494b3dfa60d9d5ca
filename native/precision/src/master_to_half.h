// Copy of fp32 master weights into the float16 / bfloat16 parameters the model computes with.
#pragma once

#include <napi.h>

namespace ds {

// [sync] masterToHalf(src: Float32Array, dst: Uint16Array, dtype: 'float16' | 'bfloat16'): void
//   dst[i] = round-to-nearest-even of src[i] as dtype bits: subnormals kept, overflow to inf,
//   NaN as the reference's quiet NaN (sign | 0x7e00 for float16, high half | 0x0040 for
//   bfloat16), so results are bit-identical to @ds/core's f32ToF16Bits / f32ToBf16Bits.
//   TypeError on wrong argument types; RangeError on another dtype or unequal lengths.
void InitMasterToHalf(Napi::Env env, Napi::Object exports);

}  // namespace ds
