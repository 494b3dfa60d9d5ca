#include "cross_entropy.h"

#include <cmath>
#include <string>
#include <vector>

#include "args.h"
#include "simd.h"
#include "softmax_rows.h"
#include "threadpool.h"

namespace ds {
namespace {

constexpr size_t kGrainElems = 8192;

template <class V>
struct ForwardKernel {
  static void Run(const float* logits, const int32_t* targets, size_t cols, double ignore, double* loss, size_t r0,
                  size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const int32_t t = targets[r];
      if (static_cast<double>(t) == ignore) {
        loss[r] = 0.0;
        continue;
      }
      const float* row = logits + r * cols;
      const float m = SoftmaxRows<V>::Max(row, cols, 1.0f);
      const double sum = SoftmaxRows<V>::ExpSum(row, cols, m);
      loss[r] = (static_cast<double>(m) + std::log(sum)) - static_cast<double>(row[t]);
    }
  }
};

template <class V>
struct BackwardKernel {
  static void Run(const float* logits, const int32_t* targets, size_t cols, double ignore, float scale, float* dl,
                  size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const int32_t t = targets[r];
      float* out = dl + r * cols;
      if (static_cast<double>(t) == ignore) {
        for (size_t j = 0; j < cols; j++) out[j] = 0.0f;
        continue;
      }
      const float* row = logits + r * cols;
      const float m = SoftmaxRows<V>::Max(row, cols, 1.0f);
      const double sum = SoftmaxRows<V>::ExpStore(row, out, cols, 1.0f, m);
      SoftmaxRows<V>::Scale(out, cols, static_cast<float>(static_cast<double>(scale) / sum));
      out[t] -= scale;
    }
  }
};

struct CeArgs {
  Span<float> logits;
  Span<int32_t> targets;
  size_t rows, cols;
  double ignore;
};

CeArgs ReadCe(const Args& args) {
  CeArgs a;
  a.logits = args.F32(0, "logits");
  a.targets = args.I32(1, "targets");
  const int64_t rows = args.Size(2, "rows");
  const int64_t cols = args.Int(3, "cols", 0, INT32_MAX);
  a.ignore = args.Number(4, "ignoreIndex");
  const size_t n = CheckedProduct(args, "rows*cols", {rows, cols});
  args.NeedLength("logits", a.logits.size, n, "rows*cols");
  args.NeedLength("targets", a.targets.size, static_cast<size_t>(rows), "rows");
  a.rows = static_cast<size_t>(rows);
  a.cols = static_cast<size_t>(cols);
  for (size_t r = 0; r < a.rows; r++) {
    const int32_t t = a.targets.data[r];
    if (static_cast<double>(t) != a.ignore && (t < 0 || static_cast<size_t>(t) >= a.cols)) {
      args.ThrowRange("targets[" + std::to_string(r) + "] = " + std::to_string(t) + " is out of range [0, " +
                      std::to_string(a.cols) + ") and is not ignoreIndex (" +
                      Napi::Number::New(args.Env(), a.ignore).ToString().Utf8Value() + ")");
    }
  }
  return a;
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropy", 6);
  CeArgs a = ReadCe(args);
  Span<int32_t> count = args.I32(5, "count");
  args.NeedLength("count", count.size, 1, "the result");
  // Per-row losses summed in row order afterwards: the total is independent of the split.
  std::vector<double> loss(a.rows);
  ThreadPool::Instance().For(a.rows, 1 + kGrainElems / (a.cols + 1), 1, [&](size_t r0, size_t r1) {
    simd::Run<ForwardKernel>(static_cast<const float*>(a.logits.data), static_cast<const int32_t*>(a.targets.data),
                             a.cols, a.ignore, loss.data(), r0, r1);
  });
  double total = 0.0;
  int32_t n = 0;
  for (size_t r = 0; r < a.rows; r++) {
    if (static_cast<double>(a.targets.data[r]) == a.ignore) continue;
    total += loss[r];
    n++;
  }
  count.data[0] = n;
  return Napi::Number::New(info.Env(), total);
}

Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  Args args(info, "crossEntropyBackward", 7);
  CeArgs a = ReadCe(args);
  const float scale = static_cast<float>(args.Number(5, "scale"));
  Span<float> dl = args.F32(6, "dlogits");
  args.NeedLength("dlogits", dl.size, a.rows * a.cols, "rows*cols");
  ThreadPool::Instance().For(a.rows, 1 + kGrainElems / (a.cols + 1), 1, [&](size_t r0, size_t r1) {
    simd::Run<BackwardKernel>(static_cast<const float*>(a.logits.data), static_cast<const int32_t*>(a.targets.data),
                              a.cols, a.ignore, scale, dl.data, r0, r1);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitCrossEntropy(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy, "crossEntropy"));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward, "crossEntropyBackward"));
}

}  // namespace ds
