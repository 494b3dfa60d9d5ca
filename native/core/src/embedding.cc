#include "embedding.h"

#include <cstring>
#include <string>

#include "args.h"
#include "simd.h"
#include "threadpool.h"

namespace ds {
namespace {

constexpr size_t kGrainElems = size_t{1} << 15;

void CheckIds(const Args& args, Span<int32_t> ids, size_t vocab) {
  for (size_t i = 0; i < ids.size; i++) {
    const int32_t id = ids.data[i];
    if (id < 0 || static_cast<size_t>(id) >= vocab) {
      args.ThrowRange("ids[" + std::to_string(i) + "] = " + std::to_string(id) + " is out of range [0, " +
                      std::to_string(vocab) + ")");
    }
  }
}

template <class V>
struct AccumulateKernel {
  // Columns [c0, c1) of every referenced row: threads own disjoint columns, so repeated ids
  // need no atomics and rows are added in id order whatever the split.
  static void Run(const float* dy, const int32_t* ids, size_t n, size_t dim, float* dw, size_t c0, size_t c1) {
    const size_t w = c1 - c0;
    for (size_t i = 0; i < n; i++) {
      const float* src = dy + i * dim + c0;
      float* dst = dw + static_cast<size_t>(ids[i]) * dim + c0;
      size_t j = 0;
      for (; j + V::N <= w; j += V::N) (V::load(dst + j) + V::load(src + j)).store(dst + j);
      if (j < w) (V::loadn(dst + j, w - j, 0.0f) + V::loadn(src + j, w - j, 0.0f)).storen(dst + j, w - j);
    }
  }
};

Napi::Value Embedding(const Napi::CallbackInfo& info) {
  Args args(info, "embedding", 4);
  Span<float> weight = args.F32(0, "weight");
  Span<int32_t> ids = args.I32(1, "ids");
  const int64_t dim = args.Int(2, "dim", 1, INT32_MAX);
  Span<float> out = args.F32(3, "out");
  const size_t d = static_cast<size_t>(dim);
  CheckIds(args, ids, weight.size / d);
  args.NeedLength("out", out.size, CheckedProduct(args, "ids.length*dim", {static_cast<int64_t>(ids.size), dim}),
                  "ids.length*dim");
  ThreadPool::Instance().For(ids.size, 1 + kGrainElems / d, 1, [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) {
      std::memcpy(out.data + i * d, weight.data + static_cast<size_t>(ids.data[i]) * d, d * sizeof(float));
    }
  });
  return info.Env().Undefined();
}

Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingBackward", 4);
  Span<float> dy = args.F32(0, "dy");
  Span<int32_t> ids = args.I32(1, "ids");
  const int64_t dim = args.Int(2, "dim", 1, INT32_MAX);
  Span<float> dw = args.F32(3, "dweight");
  const size_t d = static_cast<size_t>(dim);
  args.NeedLength("dy", dy.size, CheckedProduct(args, "ids.length*dim", {static_cast<int64_t>(ids.size), dim}),
                  "ids.length*dim");
  CheckIds(args, ids, dw.size / d);
  ThreadPool::Instance().For(d, 1 + kGrainElems / (ids.size + 1), 16, [&](size_t c0, size_t c1) {
    simd::Run<AccumulateKernel>(static_cast<const float*>(dy.data), static_cast<const int32_t*>(ids.data), ids.size, d,
                                dw.data, c0, c1);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitEmbedding(Napi::Env env, Napi::Object exports) {
  exports.Set("embedding", Napi::Function::New(env, Embedding, "embedding"));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward, "embeddingBackward"));
}

}  // namespace ds
