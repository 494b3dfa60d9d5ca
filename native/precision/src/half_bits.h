// Scalar float32 <-> float16 / bfloat16 bit conversions, round to nearest even. They are the
// same algorithms as @ds/core's TypeScript reference (f32ToF16Bits, f32ToBf16Bits), NaN
// handling included, and serve the scalar kernels and the vector kernels' tails.
#pragma once

#include <cstdint>

#include "simd.h"

namespace ds {

inline uint16_t F32ToF16(float f) {
  const uint32_t bits = Bits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const int exp = static_cast<int>((bits >> 23) & 0xff);
  uint32_t mant = bits & 0x7fffff;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mant ? 0x200 : 0));
  const int e = exp - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00);
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const int shift = 14 - e;
    uint32_t r = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (r & 1))) r++;
    return static_cast<uint16_t>(sign | r);
  }
  uint32_t r = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and rounds 65520.. to inf).
  if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
  return static_cast<uint16_t>(sign | r);
}

inline float F16ToF32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    if (mant == 0) return FromBits(sign);
    // Subnormal: normalise the mantissa into a float32 exponent.
    int e = -1;
    do {
      e++;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    return FromBits(sign | ((127 - 15 - e) << 23) | ((mant & 0x3ff) << 13));
  }
  if (exp == 0x1f) return FromBits(sign | 0x7f800000 | (mant << 13));
  return FromBits(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

inline uint16_t F32ToBf16(float f) {
  const uint32_t bits = Bits(f);
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((bits >> 16) | 0x0040);
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

}  // namespace ds
