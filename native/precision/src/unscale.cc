// NOTE: finiteness is tracked as a running sum of (y - y): 0 for every finite y and NaN for
// inf or NaN, and NaN sticks. That keeps the check branch-free inside the vector loop.
#include "unscale.h"

#include <cmath>

#include "args.h"
#include "cpu.h"
#include "half_bits.h"
#include "simd.h"

namespace ds {
namespace {

template <DType D>
float Widen(const void* src, size_t i) {
  if constexpr (D == DType::Float32) {
    return static_cast<const float*>(src)[i];
  } else if constexpr (D == DType::Float16) {
    return F16ToF32(static_cast<const uint16_t*>(src)[i]);
  } else {
    return FromBits(static_cast<uint32_t>(static_cast<const uint16_t*>(src)[i]) << 16);
  }
}

template <DType D, bool Acc>
bool UnscalePlain(const void* src, float* out, size_t n, float inv, size_t start = 0) {
  float bad = 0.0f;
  for (size_t i = start; i < n; i++) {
    float y = Widen<D>(src, i) * inv;
    if (Acc) y = out[i] + y;
    out[i] = y;
    bad += y - y;
  }
  return bad == 0.0f;
}

#if DS_HAVE_X86_SIMD

template <DType D>
DS_KERNEL_AVX512 inline __m512 Load16(const void* src, size_t i, __mmask16 k) {
  if constexpr (D == DType::Float32) {
    return _mm512_maskz_loadu_ps(k, static_cast<const float*>(src) + i);
  } else if constexpr (D == DType::Float16) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(src) + i));
  } else {
    const __m256i h = _mm256_maskz_loadu_epi16(k, static_cast<const uint16_t*>(src) + i);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
  }
}

template <DType D, bool Acc>
DS_KERNEL_AVX512 bool UnscaleAvx512(const void* src, float* out, size_t n, float inv) {
  const __m512 vinv = _mm512_set1_ps(inv);
  __m512 bad = _mm512_setzero_ps();
  for (size_t i = 0; i < n; i += 16) {
    // Masked-off lanes load as 0 and are never stored, so they add 0 to `bad`.
    const __mmask16 k = TailMask16(n - i);
    __m512 y = _mm512_mul_ps(Load16<D>(src, i, k), vinv);
    if (Acc) y = _mm512_add_ps(_mm512_maskz_loadu_ps(k, out + i), y);
    _mm512_mask_storeu_ps(out + i, k, y);
    bad = _mm512_add_ps(bad, _mm512_sub_ps(y, y));
  }
  return _mm512_cmp_ps_mask(bad, bad, _CMP_UNORD_Q) == 0;
}

template <DType D>
DS_KERNEL_AVX2 inline __m256 Load8(const void* src, size_t i) {
  if constexpr (D == DType::Float32) {
    return _mm256_loadu_ps(static_cast<const float*>(src) + i);
  } else if constexpr (D == DType::Float16) {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(src) + i)));
  } else {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(src) + i));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  }
}

template <DType D, bool Acc>
DS_KERNEL_AVX2 bool UnscaleAvx2(const void* src, float* out, size_t n, float inv) {
  const __m256 vinv = _mm256_set1_ps(inv);
  __m256 bad = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 y = _mm256_mul_ps(Load8<D>(src, i), vinv);
    if (Acc) y = _mm256_add_ps(_mm256_loadu_ps(out + i), y);
    _mm256_storeu_ps(out + i, y);
    bad = _mm256_add_ps(bad, _mm256_sub_ps(y, y));
  }
  const bool head = _mm256_movemask_ps(_mm256_cmp_ps(bad, bad, _CMP_UNORD_Q)) == 0;
  const bool tail = UnscalePlain<D, Acc>(src, out, n, inv, i);
  return head && tail;
}

#endif

template <DType D, bool Acc>
bool UnscaleDispatch(const void* src, float* out, size_t n, float inv) {
#if DS_HAVE_X86_SIMD
  switch (CurrentSimd()) {
    case SimdLevel::Avx512:
      return UnscaleAvx512<D, Acc>(src, out, n, inv);
    case SimdLevel::Avx2:
      return UnscaleAvx2<D, Acc>(src, out, n, inv);
    default:
      break;
  }
#endif
  return UnscalePlain<D, Acc>(src, out, n, inv);
}

template <DType D>
bool UnscaleAs(const void* src, float* out, size_t n, float inv, bool acc) {
  return acc ? UnscaleDispatch<D, true>(src, out, n, inv) : UnscaleDispatch<D, false>(src, out, n, inv);
}

Napi::Value UnscaleToMaster(const Napi::CallbackInfo& info) {
  Args args(info, "unscaleToMaster", 5);
  const DType dtype = args.Dtype(1, "dtype", true);
  const void* src;
  size_t n;
  if (dtype == DType::Float32) {
    Span<float> g = args.F32(0, "grad");
    src = g.data;
    n = g.size;
  } else {
    Span<uint16_t> g = args.U16(0, "grad");
    src = g.data;
    n = g.size;
  }
  Span<float> out = args.F32(2, "out");
  args.SameLength("grad", n, "out", out.size);
  const double inv_arg = args.Number(3, "invScale");
  if (!std::isfinite(inv_arg)) {
    args.ThrowRange("'invScale' must be a finite number, got " + Describe(info[3]));
  }
  const float inv = static_cast<float>(inv_arg);
  const bool acc = args.Bool(4, "accumulate");
  bool finite;
  switch (dtype) {
    case DType::Float32:
      finite = UnscaleAs<DType::Float32>(src, out.data, n, inv, acc);
      break;
    case DType::Float16:
      finite = UnscaleAs<DType::Float16>(src, out.data, n, inv, acc);
      break;
    default:
      finite = UnscaleAs<DType::BFloat16>(src, out.data, n, inv, acc);
  }
  return Napi::Boolean::New(info.Env(), finite);
}

}  // namespace

void InitUnscale(Napi::Env env, Napi::Object exports) {
  exports.Set("unscaleToMaster", Napi::Function::New(env, UnscaleToMaster, "unscaleToMaster"));
}

}  // namespace ds
