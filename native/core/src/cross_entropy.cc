#include "cross_entropy.h"

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "args.h"
#include "elem_io.h"
#include "simd.h"
#include "softmax_rows.h"
#include "threadpool.h"

namespace ds {
namespace {

constexpr size_t kGrainElems = 8192;

template <class V, class T>
struct ForwardKernel {
  static void Run(const T* logits, const int32_t* targets, size_t cols, double ignore, double* loss, size_t r0,
                  size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const int32_t t = targets[r];
      if (static_cast<double>(t) == ignore) {
        loss[r] = 0.0;
        continue;
      }
      const T* row = logits + r * cols;
      const float m = SoftmaxRows<V>::Max(row, cols, 1.0f);
      const double sum = SoftmaxRows<V>::ExpSum(row, cols, m);
      loss[r] = (static_cast<double>(m) + std::log(sum)) - static_cast<double>(simd::Get(row + t));
    }
  }
};

// For bf16 logits the exponentials wait in `tmp` and are scaled straight into the rounded
// output; the target's entry is then redone from tmp with the same two float32 operations
// (scale, subtract) the float32 kernel applies in place.
template <class V, class T>
struct BackwardKernel {
  static void Run(const T* logits, const int32_t* targets, size_t cols, double ignore, float scale, T* dl,
                  float* tmp, size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
      const int32_t t = targets[r];
      T* out = dl + r * cols;
      if (static_cast<double>(t) == ignore) {
        for (size_t j = 0; j < cols; j++) out[j] = T{0};
        continue;
      }
      const T* row = logits + r * cols;
      const float m = SoftmaxRows<V>::Max(row, cols, 1.0f);
      if constexpr (std::is_same_v<T, float>) {
        const double sum = SoftmaxRows<V>::ExpStore(row, out, cols, 1.0f, m);
        SoftmaxRows<V>::Scale(out, cols, static_cast<float>(static_cast<double>(scale) / sum));
        out[t] -= scale;
      } else {
        const double sum = SoftmaxRows<V>::ExpStore(row, tmp, cols, 1.0f, m);
        const float f = static_cast<float>(static_cast<double>(scale) / sum);
        SoftmaxRows<V>::ScaleTo(tmp, out, cols, f);
        simd::Put(out + t, tmp[t] * f - scale);
      }
    }
  }
};

template <class V>
using ForwardF32 = ForwardKernel<V, float>;
template <class V>
using ForwardBf16 = ForwardKernel<V, uint16_t>;
template <class V>
using BackwardF32 = BackwardKernel<V, float>;
template <class V>
using BackwardBf16 = BackwardKernel<V, uint16_t>;

template <class T>
struct CeArgs {
  Span<T> logits;
  Span<int32_t> targets;
  size_t rows, cols;
  double ignore;
};

template <class T>
CeArgs<T> ReadCe(const Args& args) {
  CeArgs<T> a;
  a.logits = args.Elems<T>(0, "logits");
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

template <class T, template <class> class K>
Napi::Value CrossEntropyImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 6);
  CeArgs<T> a = ReadCe<T>(args);
  Span<int32_t> count = args.I32(5, "count");
  args.NeedLength("count", count.size, 1, "the result");
  // Per-row losses summed in row order afterwards: the total is independent of the split.
  std::vector<double> loss(a.rows);
  ThreadPool::Instance().For(a.rows, 1 + kGrainElems / (a.cols + 1), 1, [&](size_t r0, size_t r1) {
    simd::Run<K>(static_cast<const T*>(a.logits.data), static_cast<const int32_t*>(a.targets.data), a.cols, a.ignore,
                 loss.data(), r0, r1);
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

template <class T, template <class> class K>
Napi::Value CrossEntropyBackwardImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 7);
  CeArgs<T> a = ReadCe<T>(args);
  const float scale = static_cast<float>(args.Number(5, "scale"));
  Span<T> dl = args.Elems<T>(6, "dlogits");
  args.NeedLength("dlogits", dl.size, a.rows * a.cols, "rows*cols");
  ThreadPool::Instance().For(a.rows, 1 + kGrainElems / (a.cols + 1), 1, [&](size_t r0, size_t r1) {
    float* tmp = std::is_same_v<T, float> ? nullptr : simd::ThreadRow(a.cols);
    simd::Run<K>(static_cast<const T*>(a.logits.data), static_cast<const int32_t*>(a.targets.data), a.cols, a.ignore,
                 scale, dl.data, tmp, r0, r1);
  });
  return info.Env().Undefined();
}

Napi::Value CrossEntropy(const Napi::CallbackInfo& info) {
  return CrossEntropyImpl<float, ForwardF32>(info, "crossEntropy");
}
Napi::Value CrossEntropyBf16(const Napi::CallbackInfo& info) {
  return CrossEntropyImpl<uint16_t, ForwardBf16>(info, "crossEntropyBf16");
}
Napi::Value CrossEntropyBackward(const Napi::CallbackInfo& info) {
  return CrossEntropyBackwardImpl<float, BackwardF32>(info, "crossEntropyBackward");
}
Napi::Value CrossEntropyBackwardBf16(const Napi::CallbackInfo& info) {
  return CrossEntropyBackwardImpl<uint16_t, BackwardBf16>(info, "crossEntropyBackwardBf16");
}

}  // namespace

void InitCrossEntropy(Napi::Env env, Napi::Object exports) {
  exports.Set("crossEntropy", Napi::Function::New(env, CrossEntropy, "crossEntropy"));
  exports.Set("crossEntropyBackward", Napi::Function::New(env, CrossEntropyBackward, "crossEntropyBackward"));
  exports.Set("crossEntropyBf16", Napi::Function::New(env, CrossEntropyBf16, "crossEntropyBf16"));
  exports.Set("crossEntropyBackwardBf16",
              Napi::Function::New(env, CrossEntropyBackwardBf16, "crossEntropyBackwardBf16"));
}

}  // namespace ds
