// Target attributes for the AVX-512 and AVX2 kernels. Nothing is compiled with -mavx*: each
// kernel carries its own target and is entered only when CurrentSimd() says the CPU has it,
// so the rest of the binary runs on any x86-64 (and the scalar kernels anywhere).
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#define DS_HAVE_X86_SIMD 1
#include <immintrin.h>
#define DS_AVX512_FEATURES "avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,f16c,bmi,bmi2"
#define DS_AVX2_FEATURES "avx2,fma,f16c,bmi,bmi2"
#define DS_KERNEL_AVX512 __attribute__((target(DS_AVX512_FEATURES)))
#define DS_KERNEL_AVX2 __attribute__((target(DS_AVX2_FEATURES)))
#else
#define DS_HAVE_X86_SIMD 0
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "cpu.h"

namespace ds {

inline uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Mask of the first n (< 16) lanes of a 16-lane vector; all lanes when n >= 16.
inline uint16_t TailMask16(size_t n) { return n >= 16 ? 0xffff : static_cast<uint16_t>((1u << n) - 1u); }

}  // namespace ds
