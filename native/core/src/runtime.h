// Process-wide settings: thread count (pool and OpenBLAS), BLAS identity, SIMD level.
#pragma once

#include <napi.h>

namespace ds {

// Applies DS_NUM_THREADS (default 1) to OpenBLAS unless OPENBLAS_NUM_THREADS,
// GOTO_NUM_THREADS or OMP_NUM_THREADS already chose its thread count. Call once at load.
void InitRuntime();

// [sync] setNumThreads(n: integer 1..1024): threads for the pool and OpenBLAS. RangeError otherwise.
// [sync] getNumThreads(): number of pool threads (the caller included).
// [sync] blasInfo(): { library: 'openblas', core, config, threads } from OpenBLAS itself.
// [sync] simd(): 'avx512' | 'avx2' | 'scalar', the instruction set the kernels use now.
// [sync] _setSimd(level: 'avx512' | 'avx2' | 'scalar'): internal, for tests; lowers (never raises
//        beyond the CPU) the level and returns the one in effect. TypeError on an unknown name.
void InitRuntimeExports(Napi::Env env, Napi::Object exports);

}  // namespace ds
