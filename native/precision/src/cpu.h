// Run-time choice of the instruction set the kernels use.
#pragma once

namespace ds {

enum class SimdLevel { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// Best level this CPU and OS support (AVX-512 F/BW/DQ/VL; AVX2 needs FMA and F16C too).
SimdLevel DetectSimd();
// Level in effect: the detected one, lowered by DS_SIMD=avx2|scalar at load or SetSimd.
SimdLevel CurrentSimd();
// Requests a level; it is capped at what the CPU supports. Returns the level in effect.
SimdLevel SetSimd(SimdLevel level);
const char* SimdName(SimdLevel level);
// Parses "avx512" | "avx2" | "scalar"; false if the name is unknown.
bool ParseSimd(const char* name, SimdLevel* out);
// AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16) on top of the AVX-512 level, as detected; kernels
// use it only while CurrentSimd() is Avx512, so DS_SIMD / SetSimd switch it off too.
bool HasAvx512Bf16();

}  // namespace ds
