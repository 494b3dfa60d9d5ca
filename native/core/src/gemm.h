// Batched single-precision GEMM on OpenBLAS.
#pragma once

#include <napi.h>

namespace ds {

// [sync] sgemm(transA, transB, m, n, k, alpha, a, lda, strideA, b, ldb, strideB, beta, c, ldc,
//              strideC, batch): C_i = alpha op(A_i) op(B_i) + beta C_i, row-major, for i < batch;
//   A_i starts at a[i*strideA] (stride 0 broadcasts). beta == 0 overwrites C (NaN in C is ignored).
//   Throws TypeError on wrong argument types; RangeError when a leading dimension is smaller
//   than its row length or any matrix of any batch would reach past the end of its array.
void InitGemm(Napi::Env env, Napi::Object exports);

}  // namespace ds
