// Batched bfloat16 GEMM with float32 accumulation and a float32 result.
#pragma once

#include <napi.h>

namespace ds {

// [sync] sbgemm(transA, transB, m, n, k, alpha, a: Uint16Array, lda, strideA, b: Uint16Array, ldb,
//               strideB, beta, c: Float32Array, ldc, strideC, batch):
//   C_i = alpha op(A_i) op(B_i) + beta C_i with the conventions of sgemm (row-major, A_i at
//   a[i*strideA], stride 0 broadcasts, beta == 0 overwrites C); a and b hold bfloat16 bit patterns.
//   Every product of two bf16 values is exact in float32; the sums are float32.
//   With AVX512_BF16 (and the avx512 level in effect) the products run on vdpbf16ps, which
//   treats bf16 subnormal inputs as zero and flushes subnormal partial sums to zero (it ignores
//   MXCSR); otherwise A and B are widened to float32 and multiplied by cblas_sgemm.
//   Throws TypeError on wrong argument types; RangeError when a leading dimension is smaller
//   than its row length or any matrix of any batch would reach past the end of its array.
// [sync] sbgemmToBf16(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, c: Uint16Array,
//               ldc, strideC, batch): sbgemm with beta 0 (no beta argument) whose float32 results are
//   rounded to bf16 once: from the registers when K fits one block (1536), else after summing
//   the blocks in a float32 buffer. Equals f32ToBf16 of sbgemm's C bit for bit; elements of c
//   outside the m x n matrices are not touched. Throws as sbgemm does.
// [sync] _sbgemmPath(): "avx512_bf16" or "sgemm", the path sbgemm takes at the current SIMD level.
void InitGemmBf16(Napi::Env env, Napi::Object exports);

}  // namespace ds
