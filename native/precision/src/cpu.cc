// SIMD level detection. The level is process-wide: kernels read it on every call, so a
// test can switch it to exercise each code path on one machine.
#include "cpu.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ds {
namespace {

SimdLevel Detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  // libgcc only reports AVX/AVX-512 features when the OS saves the wider register state
  // (XGETBV), so these checks are sufficient on their own.
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                    __builtin_cpu_supports("f16c") && __builtin_cpu_supports("bmi2");
  if (avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
    return SimdLevel::Avx512;
  }
  if (avx2) return SimdLevel::Avx2;
#endif
  return SimdLevel::Scalar;
}

SimdLevel InitialLevel() {
  SimdLevel level = Detect();
  const char* env = std::getenv("DS_SIMD");
  SimdLevel wanted;
  if (env && ParseSimd(env, &wanted) && wanted < level) level = wanted;
  return level;
}

std::atomic<SimdLevel>& Level() {
  static std::atomic<SimdLevel> level{InitialLevel()};
  return level;
}

}  // namespace

SimdLevel DetectSimd() {
  static const SimdLevel detected = Detect();
  return detected;
}

SimdLevel CurrentSimd() { return Level().load(std::memory_order_relaxed); }

SimdLevel SetSimd(SimdLevel level) {
  if (level > DetectSimd()) level = DetectSimd();
  Level().store(level, std::memory_order_relaxed);
  return level;
}

const char* SimdName(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512:
      return "avx512";
    case SimdLevel::Avx2:
      return "avx2";
    default:
      return "scalar";
  }
}

bool ParseSimd(const char* name, SimdLevel* out) {
  if (std::strcmp(name, "avx512") == 0) {
    *out = SimdLevel::Avx512;
  } else if (std::strcmp(name, "avx2") == 0) {
    *out = SimdLevel::Avx2;
  } else if (std::strcmp(name, "scalar") == 0) {
    *out = SimdLevel::Scalar;
  } else {
    return false;
  }
  return true;
}

}  // namespace ds
