// NOTE: float32 -> bfloat16 rounds with integer arithmetic on every path. AVX512_BF16's
// vcvtneps2bf16 also rounds to nearest even but flushes float32 subnormal inputs to zero, so
// it is not bit-exact. float32 -> float16 uses the F16C / AVX-512 conversion with an explicit
// round-to-nearest-even immediate, which is exact; only its NaN payloads are patched.
#include "master_to_half.h"

#include "args.h"
#include "cpu.h"
#include "half_bits.h"
#include "simd.h"

namespace ds {
namespace {

void ToF16Plain(const float* s, uint16_t* d, size_t n, size_t start = 0) {
  for (size_t i = start; i < n; i++) d[i] = F32ToF16(s[i]);
}

void ToBf16Plain(const float* s, uint16_t* d, size_t n, size_t start = 0) {
  for (size_t i = start; i < n; i++) d[i] = F32ToBf16(s[i]);
}

#if DS_HAVE_X86_SIMD

DS_KERNEL_AVX512 void ToF16Avx512(const float* s, uint16_t* d, size_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = TailMask16(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(k, s + i);
    __m256i h = _mm512_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i bits = _mm512_castps_si512(x);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, abs_mask), inf);
    const __m256i high = _mm512_cvtepi32_epi16(_mm512_srli_epi32(bits, 16));
    const __m256i sign = _mm256_and_si256(high, _mm256_set1_epi16(static_cast<short>(0x8000)));
    h = _mm256_mask_blend_epi16(nan, h, _mm256_or_si256(sign, _mm256_set1_epi16(0x7e00)));
    _mm256_mask_storeu_epi16(d + i, k, h);
  }
}

DS_KERNEL_AVX512 void ToBf16Avx512(const float* s, uint16_t* d, size_t n) {
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i bias = _mm512_set1_epi32(0x7fff);
  const __m512i quiet = _mm512_set1_epi32(0x0040);
  for (size_t i = 0; i < n; i += 16) {
    const __mmask16 k = TailMask16(n - i);
    const __m512i bits = _mm512_maskz_loadu_epi32(k, s + i);
    const __m512i hi = _mm512_srli_epi32(bits, 16);
    const __m512i lsb = _mm512_and_si512(hi, one);
    const __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(bits, bias), lsb), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(bits, abs_mask), inf);
    const __m512i r = _mm512_mask_blend_epi32(nan, rounded, _mm512_or_si512(hi, quiet));
    _mm256_mask_storeu_epi16(d + i, k, _mm512_cvtepi32_epi16(r));
  }
}

DS_KERNEL_AVX2 void ToF16Avx2(const float* s, uint16_t* d, size_t n) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i inf = _mm256_set1_epi32(0x7f800000);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(s + i);
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(bits, abs_mask), inf);
    if (!_mm256_testz_si256(nan, nan)) {
      ToF16Plain(s, d, i + 8, i);
      continue;
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(d + i),
                     _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
  ToF16Plain(s, d, n, i);
}

DS_KERNEL_AVX2 inline __m256i Bf16Round8(__m256i bits) {
  const __m256i hi = _mm256_srli_epi32(bits, 16);
  const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
  const __m256i biased = _mm256_add_epi32(bits, _mm256_set1_epi32(0x7fff));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(biased, lsb), 16);
  const __m256i nan =
      _mm256_cmpgt_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
  return _mm256_blendv_epi8(rounded, _mm256_or_si256(hi, _mm256_set1_epi32(0x0040)), nan);
}

DS_KERNEL_AVX2 void ToBf16Avx2(const float* s, uint16_t* d, size_t n) {
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo = Bf16Round8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i)));
    const __m256i hi = Bf16Round8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(s + i + 8)));
    // packus interleaves 128-bit lanes; the permute restores element order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xD8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d + i), packed);
  }
  ToBf16Plain(s, d, n, i);
}

#endif

Napi::Value MasterToHalf(const Napi::CallbackInfo& info) {
  Args args(info, "masterToHalf", 3);
  Span<float> src = args.F32(0, "src");
  Span<uint16_t> dst = args.U16(1, "dst");
  const DType dtype = args.Dtype(2, "dtype", false);
  args.SameLength("src", src.size, "dst", dst.size);
  const bool f16 = dtype == DType::Float16;
#if DS_HAVE_X86_SIMD
  switch (CurrentSimd()) {
    case SimdLevel::Avx512:
      f16 ? ToF16Avx512(src.data, dst.data, src.size) : ToBf16Avx512(src.data, dst.data, src.size);
      return info.Env().Undefined();
    case SimdLevel::Avx2:
      f16 ? ToF16Avx2(src.data, dst.data, src.size) : ToBf16Avx2(src.data, dst.data, src.size);
      return info.Env().Undefined();
    default:
      break;
  }
#endif
  f16 ? ToF16Plain(src.data, dst.data, src.size) : ToBf16Plain(src.data, dst.data, src.size);
  return info.Env().Undefined();
}

}  // namespace

void InitMasterToHalf(Napi::Env env, Napi::Object exports) {
  exports.Set("masterToHalf", Napi::Function::New(env, MasterToHalf, "masterToHalf"));
}

}  // namespace ds
