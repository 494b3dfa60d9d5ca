// NOTE: f32 -> bf16 uses integer arithmetic on every path. AVX512_BF16's vcvtneps2bf16 also
// rounds to nearest even but treats float32 subnormal inputs as zero (e.g. 0x00400000 gives
// 0x0000 instead of 0x0040), so it is not bit-exact. f32 <-> f16 uses the F16C / AVX-512
// conversions with an explicit round-to-nearest-even immediate, which are exact, MXCSR aside.
#include "half.h"

#include <cstring>

#include "args.h"
#include "cpu.h"
#include "simd.h"
#include "threadpool.h"

namespace ds {
namespace {

constexpr size_t kGrain = size_t{1} << 16;

uint32_t Bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

float FromBits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t F32ToF16Scalar(float f) {
  const uint32_t bits = Bits(f);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000);
  const int exp = static_cast<int>((bits >> 23) & 0xff);
  uint32_t mant = bits & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const int e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
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

float F16ToF32Scalar(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  if (exp == 0) {
    if (mant == 0) return FromBits(sign);
    // Subnormal: normalise the mantissa into an f32 exponent.
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

uint16_t F32ToBf16Scalar(float f) {
  const uint32_t bits = Bits(f);
  if ((bits & 0x7fffffff) > 0x7f800000) return static_cast<uint16_t>((bits >> 16) | 0x0040);
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

// ---------------------------------------------------------------- AVX-512

DS_KERNEL_AVX512 void F32ToF16Avx512(const float* s, uint16_t* d, size_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    __m512 x = _mm512_maskz_loadu_ps(k, s + i);
    __m256i h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i bits = _mm512_castps_si512(x);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, abs_mask), inf);
    const __m256i high = _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16));
    const __m256i sign = _mm256_and_si256(high, _mm256_set1_epi16(static_cast<short>(0x8000)));
    h = _mm256_mask_blend_epi16(nan, h, _mm256_or_si256(sign, _mm256_set1_epi16(0x7e00)));
    _mm256_mask_storeu_epi16(d + i, k, h);
  }
}

DS_KERNEL_AVX512 void F16ToF32Avx512(const uint16_t* s, float* d, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    _mm512_mask_storeu_ps(d + i, k, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, s + i)));
  }
}

DS_KERNEL_AVX512 void F32ToBf16Avx512(const float* s, uint16_t* d, size_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i bias = _mm512_set1_epi32(0x7fff);
  const __m512i quiet = _mm512_set1_epi32(0x0040);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i bits = _mm512_maskz_loadu_epi32(k, s + i);
    const __m512i hi = _mm512_srli_epi32(bits, 16);
    const __m512i lsb = _mm512_and_si512(hi, one);
    const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(bits, bias), lsb), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, abs_mask), inf);
    const __m512i r = _mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(hi, quiet));
    _mm256_mask_storeu_epi16(d + i, k, _mm512_cvtepi32_epi16(r));
  }
}

DS_KERNEL_AVX512 void Bf16ToF32Avx512(const uint16_t* s, float* d, size_t n) {
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = n - i >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - i)) - 1);
    const __m512i w = _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, s + i)), 16);
    _mm512_mask_storeu_ps(d + i, k, _mm512_castsi512_ps(w));
  }
}

// ---------------------------------------------------------------- AVX2 + F16C

DS_KERNEL_AVX2 void F32ToF16Avx2(const float* s, uint16_t* d, size_t n) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(s + i);
    __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i nan32 = _mm256_cmpgt_epi32(_mm256_and_si256(bits, abs_mask), inf);
    if (!_mm256_testz_si256(nan32, nan32)) {
      for (size_t j = i; j < i + 8; j++) d[j] = F32ToF16Scalar(s[j]);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i), h);
  }
  for (; i < n; i++) d[i] = F32ToF16Scalar(s[i]);
}

DS_KERNEL_AVX2 void F16ToF32Avx2(const uint16_t* s, float* d, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(d + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
  }
  for (; i < n; i++) d[i] = F16ToF32Scalar(s[i]);
}

DS_KERNEL_AVX2 __m256i Bf16Round8(__m256i bits) {
  const __m256i hi = _mm256_srli_epi32(bits, 16);
  const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
  const __m256i biased = _mm256_add_epi32(bits, _mm256_set1_epi32(0x7fff));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(biased, lsb), 16);
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, _mm256_set1_epi32(0x0040)), nan);
}

DS_KERNEL_AVX2 void F32ToBf16Avx2(const float* s, uint16_t* d, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i lo = Bf16Round8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
    __m256i hi = Bf16Round8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 8)));
    // packus interleaves 128-bit lanes; the permute restores element order.
    __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), packed);
  }
  for (; i < n; i++) d[i] = F32ToBf16Scalar(s[i]);
}

DS_KERNEL_AVX2 void Bf16ToF32Avx2(const uint16_t* s, float* d, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256i w = _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))), 16);
    _mm256_storeu_ps(d + i, _mm256_castsi256_ps(w));
  }
  for (; i < n; i++) d[i] = FromBits(static_cast<uint32_t>(s[i]) << 16);
}

// ---------------------------------------------------------------- scalar

void F32ToF16Plain(const float* s, uint16_t* d, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = F32ToF16Scalar(s[i]);
}
void F16ToF32Plain(const uint16_t* s, float* d, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = F16ToF32Scalar(s[i]);
}
void F32ToBf16Plain(const float* s, uint16_t* d, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = F32ToBf16Scalar(s[i]);
}
void Bf16ToF32Plain(const uint16_t* s, float* d, size_t n) {
  for (size_t i = 0; i < n; i++) d[i] = FromBits(static_cast<uint32_t>(s[i]) << 16);
}

template <class S, class D>
using Convert = void (*)(const S*, D*, size_t);

template <class S, class D>
void RunConvert(const Args& args, Span<S> src, Span<D> dst, Convert<S, D> avx512, Convert<S, D> avx2,
                Convert<S, D> plain) {
  args.NeedLength("dst", dst.size, src.size, "src.length");
  Convert<S, D> fn = plain;
  switch (CurrentSimd()) {
    case SimdLevel::Avx512:
      fn = avx512;
      break;
    case SimdLevel::Avx2:
      fn = avx2;
      break;
    default:
      break;
  }
  ThreadPool::Instance().For(src.size, kGrain, 32,
                             [&](size_t b, size_t e) { fn(src.data + b, dst.data + b, e - b); });
}

Napi::Value F32ToF16(const Napi::CallbackInfo& info) {
  Args args(info, "f32ToF16", 2);
  RunConvert<float, uint16_t>(args, args.F32(0, "src"), args.U16(1, "dst"), F32ToF16Avx512, F32ToF16Avx2,
                              F32ToF16Plain);
  return info.Env().Undefined();
}

Napi::Value F16ToF32(const Napi::CallbackInfo& info) {
  Args args(info, "f16ToF32", 2);
  RunConvert<uint16_t, float>(args, args.U16(0, "src"), args.F32(1, "dst"), F16ToF32Avx512, F16ToF32Avx2,
                              F16ToF32Plain);
  return info.Env().Undefined();
}

Napi::Value F32ToBf16(const Napi::CallbackInfo& info) {
  Args args(info, "f32ToBf16", 2);
  RunConvert<float, uint16_t>(args, args.F32(0, "src"), args.U16(1, "dst"), F32ToBf16Avx512, F32ToBf16Avx2,
                              F32ToBf16Plain);
  return info.Env().Undefined();
}

Napi::Value Bf16ToF32(const Napi::CallbackInfo& info) {
  Args args(info, "bf16ToF32", 2);
  RunConvert<uint16_t, float>(args, args.U16(0, "src"), args.F32(1, "dst"), Bf16ToF32Avx512, Bf16ToF32Avx2,
                              Bf16ToF32Plain);
  return info.Env().Undefined();
}

}  // namespace

void InitHalf(Napi::Env env, Napi::Object exports) {
  exports.Set("f32ToF16", Napi::Function::New(env, F32ToF16, "f32ToF16"));
  exports.Set("f16ToF32", Napi::Function::New(env, F16ToF32, "f16ToF32"));
  exports.Set("f32ToBf16", Napi::Function::New(env, F32ToBf16, "f32ToBf16"));
  exports.Set("bf16ToF32", Napi::Function::New(env, Bf16ToF32, "bf16ToF32"));
}

}  // namespace ds
