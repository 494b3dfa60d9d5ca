#include "reduce.h"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace dsgloo {
namespace {

// ---- half-precision conversions (scalar, round to nearest even; F16C when the CPU has it) ----

inline float bitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t floatToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float h2f(uint16_t h) {
  const uint32_t shiftedExp = 0x7c00u << 13;
  uint32_t o = (uint32_t)(h & 0x7fffu) << 13;
  const uint32_t exp = shiftedExp & o;
  o += (uint32_t)(127 - 15) << 23;
  if (exp == shiftedExp) {
    o += (uint32_t)(128 - 16) << 23;  // Inf / NaN
  } else if (exp == 0) {
    o += 1u << 23;  // subnormal: renormalise
    o = floatToBits(bitsToFloat(o) - bitsToFloat(113u << 23));
  }
  o |= (uint32_t)(h & 0x8000u) << 16;
  return bitsToFloat(o);
}

inline uint16_t f2h(float f) {
  const uint32_t f32infty = 255u << 23;
  const uint32_t f16max = (127u + 16u) << 23;
  const uint32_t denormMagic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  uint32_t u = floatToBits(f);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint16_t o;
  if (u >= f16max) {
    o = u > f32infty ? 0x7e00 : 0x7c00;
  } else if (u < (113u << 23)) {
    o = (uint16_t)(floatToBits(bitsToFloat(u) + bitsToFloat(denormMagic)) - denormMagic);
  } else {
    const uint32_t mantOdd = (u >> 13) & 1u;
    u += ((uint32_t)(15 - 127) << 23) + 0xfffu;
    u += mantOdd;
    o = (uint16_t)(u >> 13);
  }
  return (uint16_t)(o | (sign >> 16));
}

inline float bf2f(uint16_t h) { return bitsToFloat((uint32_t)h << 16); }

inline uint16_t f2bf(float f) {
  uint32_t u = floatToBits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

__attribute__((target("avx,f16c"))) void h2fF16c(const uint16_t* in, float* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  }
  for (; i < n; i++) out[i] = h2f(in[i]);
}

__attribute__((target("avx,f16c"))) void f2hF16c(const float* in, uint16_t* out, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; i++) out[i] = f2h(in[i]);
}

const bool kHasF16c = __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx");

void widenF16(const uint16_t* in, float* out, size_t n) {
  if (kHasF16c) return h2fF16c(in, out, n);
  for (size_t i = 0; i < n; i++) out[i] = h2f(in[i]);
}
void narrowF16(const float* in, uint16_t* out, size_t n) {
  if (kHasF16c) return f2hF16c(in, out, n);
  for (size_t i = 0; i < n; i++) out[i] = f2h(in[i]);
}
void widenBf16(const uint16_t* in, float* out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = bf2f(in[i]);
}
void narrowBf16(const float* in, uint16_t* out, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = f2bf(in[i]);
}

// ---- the ops ----

struct Sum {
  template <typename T>
  static T apply(T a, T b) { return a + b; }
};
struct Prod {
  template <typename T>
  static T apply(T a, T b) { return a * b; }
};
struct Min {
  template <typename T>
  static T apply(T a, T b) { return b < a ? b : a; }
};
struct Max {
  template <typename T>
  static T apply(T a, T b) { return b > a ? b : a; }
};

template <typename T, typename OpT>
void reduceTyped(void* out, const void* a, const void* b, size_t n) {
  T* o = static_cast<T*>(out);
  const T* x = static_cast<const T*>(a);
  const T* y = static_cast<const T*>(b);
  for (size_t i = 0; i < n; i++) o[i] = OpT::apply(x[i], y[i]);
}

template <typename OpT, void (*Widen)(const uint16_t*, float*, size_t), void (*Narrow)(const float*, uint16_t*, size_t)>
void reduceHalf(void* out, const void* a, const void* b, size_t n) {
  constexpr size_t kBlock = 1024;
  float fa[kBlock];
  float fb[kBlock];
  uint16_t* o = static_cast<uint16_t*>(out);
  const uint16_t* x = static_cast<const uint16_t*>(a);
  const uint16_t* y = static_cast<const uint16_t*>(b);
  for (size_t s = 0; s < n; s += kBlock) {
    const size_t m = std::min(kBlock, n - s);
    Widen(x + s, fa, m);
    Widen(y + s, fb, m);
    for (size_t i = 0; i < m; i++) fa[i] = OpT::apply(fa[i], fb[i]);
    Narrow(fa, o + s, m);  // both inputs were read first, so out may alias a or b
  }
}

template <typename OpT>
ReduceFn forOp(DType dtype) {
  switch (dtype) {
    case DType::F32: return &reduceTyped<float, OpT>;
    case DType::I32: return &reduceTyped<int32_t, OpT>;
    case DType::I64: return &reduceTyped<int64_t, OpT>;
    case DType::F16: return &reduceHalf<OpT, widenF16, narrowF16>;
    case DType::BF16: return &reduceHalf<OpT, widenBf16, narrowBf16>;
  }
  return nullptr;
}

}  // namespace

ReduceFn reduceFunction(DType dtype, RedOp op) {
  switch (op) {
    case RedOp::SUM:
    case RedOp::AVG: return forOp<Sum>(dtype);
    case RedOp::PROD: return forOp<Prod>(dtype);
    case RedOp::MIN: return forOp<Min>(dtype);
    case RedOp::MAX: return forOp<Max>(dtype);
  }
  return nullptr;
}

void scaleInPlace(void* p, size_t n, DType dtype, double factor) {
  const float f = static_cast<float>(factor);
  switch (dtype) {
    case DType::F32: {
      float* x = static_cast<float*>(p);
      for (size_t i = 0; i < n; i++) x[i] *= f;
      return;
    }
    case DType::F16:
    case DType::BF16: {
      constexpr size_t kBlock = 1024;
      float tmp[kBlock];
      uint16_t* x = static_cast<uint16_t*>(p);
      for (size_t s = 0; s < n; s += kBlock) {
        const size_t m = std::min(kBlock, n - s);
        if (dtype == DType::F16) widenF16(x + s, tmp, m); else widenBf16(x + s, tmp, m);
        for (size_t i = 0; i < m; i++) tmp[i] *= f;
        if (dtype == DType::F16) narrowF16(tmp, x + s, m); else narrowBf16(tmp, x + s, m);
      }
      return;
    }
    case DType::I32:
    case DType::I64:
      return;  // rejected before it gets here (avg needs a floating dtype)
  }
}

}  // namespace dsgloo
