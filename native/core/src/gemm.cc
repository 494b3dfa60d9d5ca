#include "gemm.h"

#include <cblas.h>

#include <climits>
#include <string>

#include "args.h"
#include "threadpool.h"

namespace ds {
namespace {

struct Operand {
  const char* name;
  const char* ld_name;
  const char* stride_name;
  size_t length;
  int64_t rows, cols;  // as stored, before transposition
  int64_t ld, stride;
};

// Every element any batch touches must lie inside the array; cblas would read or write
// out of bounds otherwise.
void CheckOperand(const Args& args, const Operand& op, int64_t batch) {
  // An empty matrix is never passed to cblas, so its leading dimension does not matter.
  if (op.rows == 0 || op.cols == 0 || batch == 0) return;
  if (op.ld < op.cols) {
    args.ThrowRange(std::string("'") + op.ld_name + "' = " + std::to_string(op.ld) + " is smaller than the " +
                    std::to_string(op.cols) + " columns of '" + op.name + "' as stored");
  }
  unsigned __int128 last = static_cast<unsigned __int128>(batch - 1) * static_cast<uint64_t>(op.stride) +
                           static_cast<unsigned __int128>(op.rows - 1) * static_cast<uint64_t>(op.ld) +
                           static_cast<uint64_t>(op.cols - 1);
  if (last >= op.length) {
    args.ThrowRange(std::string("'") + op.name + "' has " + std::to_string(op.length) + " elements but a " +
                    std::to_string(op.rows) + "x" + std::to_string(op.cols) + " matrix with " + op.ld_name + " " +
                    std::to_string(op.ld) + ", " + op.stride_name + " " + std::to_string(op.stride) + " and batch " +
                    std::to_string(batch) + " needs " + std::to_string(static_cast<uint64_t>(last) + 1));
  }
}

Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  Args args(info, "sgemm", 17);
  const bool trans_a = args.Bool(0, "transA");
  const bool trans_b = args.Bool(1, "transB");
  const int64_t m = args.Int(2, "m", 0, INT_MAX);
  const int64_t n = args.Int(3, "n", 0, INT_MAX);
  const int64_t k = args.Int(4, "k", 0, INT_MAX);
  const float alpha = static_cast<float>(args.Number(5, "alpha"));
  Span<float> a = args.F32(6, "a");
  const int64_t lda = args.Int(7, "lda", 0, INT_MAX);
  const int64_t stride_a = args.Size(8, "strideA");
  Span<float> b = args.F32(9, "b");
  const int64_t ldb = args.Int(10, "ldb", 0, INT_MAX);
  const int64_t stride_b = args.Size(11, "strideB");
  const float beta = static_cast<float>(args.Number(12, "beta"));
  Span<float> c = args.F32(13, "c");
  const int64_t ldc = args.Int(14, "ldc", 0, INT_MAX);
  const int64_t stride_c = args.Size(15, "strideC");
  const int64_t batch = args.Size(16, "batch");

  CheckOperand(args, {"a", "lda", "strideA", a.size, trans_a ? k : m, trans_a ? m : k, lda, stride_a}, batch);
  CheckOperand(args, {"b", "ldb", "strideB", b.size, trans_b ? n : k, trans_b ? k : n, ldb, stride_b}, batch);
  CheckOperand(args, {"c", "ldc", "strideC", c.size, m, n, ldc, stride_c}, batch);
  if (m == 0 || n == 0 || batch == 0) return info.Env().Undefined();

  const CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
  const CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
  auto one = [&](int64_t i) {
    float* ci = c.data + i * stride_c;
    if (k == 0) {
      // No product to form; cblas would still need valid A/B pointers.
      for (int64_t r = 0; r < m; r++) {
        float* row = ci + r * ldc;
        for (int64_t j = 0; j < n; j++) row[j] = beta == 0.0f ? 0.0f : beta * row[j];
      }
      return;
    }
    cblas_sgemm(CblasRowMajor, ta, tb, static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha,
                a.data + i * stride_a, static_cast<int>(lda), b.data + i * stride_b, static_cast<int>(ldb), beta, ci,
                static_cast<int>(ldc));
  };

  // OpenBLAS runs a product below ~2^18 multiply-adds on the calling thread only, so a batch
  // of small products (attention heads) gains from splitting the batch over the pool instead.
  // Batches whose C blocks overlap (strideC 0 accumulates) must stay sequential.
  const double work = static_cast<double>(m) * n * k;
  ThreadPool& pool = ThreadPool::Instance();
  const bool disjoint_c = stride_c >= (m - 1) * ldc + n;
  if (batch > 1 && disjoint_c && work < 262144.0 && pool.Size() > 1) {
    size_t grain = static_cast<size_t>(1 + 65536.0 / (work + 1));
    pool.For(static_cast<size_t>(batch), grain, 1, [&](size_t b0, size_t b1) {
      for (size_t i = b0; i < b1; i++) one(static_cast<int64_t>(i));
    });
  } else {
    for (int64_t i = 0; i < batch; i++) one(i);
  }
  return info.Env().Undefined();
}

}  // namespace

void InitGemm(Napi::Env env, Napi::Object exports) {
  exports.Set("sgemm", Napi::Function::New(env, Sgemm, "sgemm"));
}

}  // namespace ds
