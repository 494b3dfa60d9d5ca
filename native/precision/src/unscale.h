// Fused unscale of gradients into fp32 master gradients, with the overflow check folded in.
#pragma once

#include <napi.h>

namespace ds {

// [sync] unscaleToMaster(grad: Float32Array | Uint16Array, dtype: 'float32' | 'float16' | 'bfloat16',
//                        out: Float32Array, invScale: number, accumulate: boolean): boolean
//   out[i] = widen(grad[i]) * invScale, or out[i] += widen(grad[i]) * invScale when accumulate,
//   with float32 rounding after the multiply and after the add (never one fused FMA), so every
//   SIMD level gives the TypeScript reference's bits. grad holds float32 values or float16 /
//   bfloat16 bit patterns as dtype says. Returns true when every value written is finite.
//   TypeError on wrong argument types or an f32/u16 array that does not match dtype; RangeError
//   on an unknown dtype or when grad and out differ in length.
void InitUnscale(Napi::Env env, Napi::Object exports);

}  // namespace ds
