#include "embedding.h"

#include <cstring>
#include <string>
#include <vector>

#include "args.h"
#include "elem_io.h"
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

// dweight rows for vocabulary entries [v0, v1) from per-id lists of positions (head / next,
// in increasing position order): each referenced row is summed in float32 from +0 in position
// order, exactly as AccumulateKernel adds into a zeroed float32 dweight, then rounded once;
// rows no id refers to are +0.
template <class V>
struct AccumulateBf16Kernel {
  static void Run(const uint16_t* dy, const int32_t* head, const int32_t* next, size_t dim, uint16_t* dw, float* acc,
                  size_t v0, size_t v1) {
    for (size_t v = v0; v < v1; v++) {
      uint16_t* dst = dw + v * dim;
      if (head[v] < 0) {
        std::memset(dst, 0, dim * sizeof(uint16_t));
        continue;
      }
      for (size_t j = 0; j < dim; j++) acc[j] = 0.0f;
      for (int32_t i = head[v]; i >= 0; i = next[i]) {
        const uint16_t* src = dy + static_cast<size_t>(i) * dim;
        size_t j = 0;
        for (; j + V::N <= dim; j += V::N) (V::load(acc + j) + simd::Load<V>(src + j)).store(acc + j);
        if (j < dim) {
          (V::loadn(acc + j, dim - j, 0.0f) + simd::LoadN<V>(src + j, dim - j, 0.0f)).storen(acc + j, dim - j);
        }
      }
      size_t j = 0;
      for (; j + V::N <= dim; j += V::N) simd::Store(V::load(acc + j), dst + j);
      if (j < dim) simd::StoreN(V::loadn(acc + j, dim - j, 0.0f), dst + j, dim - j);
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

// Each row is widened and rounded back: the bits are unchanged except that a signalling NaN
// comes out quiet, exactly as gathering the widened float32 rows and rounding them did.
template <class V>
struct GatherBf16Kernel {
  static void Run(const uint16_t* weight, const int32_t* ids, size_t dim, uint16_t* out, size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) {
      const uint16_t* src = weight + static_cast<size_t>(ids[i]) * dim;
      uint16_t* dst = out + i * dim;
      size_t j = 0;
      for (; j + V::N <= dim; j += V::N) simd::Store(simd::Load<V>(src + j), dst + j);
      if (j < dim) simd::StoreN(simd::LoadN<V>(src + j, dim - j, 0.0f), dst + j, dim - j);
    }
  }
};

Napi::Value EmbeddingBf16(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingBf16", 4);
  Span<uint16_t> weight = args.U16(0, "weight");
  Span<int32_t> ids = args.I32(1, "ids");
  const int64_t dim = args.Int(2, "dim", 1, INT32_MAX);
  Span<uint16_t> out = args.U16(3, "out");
  const size_t d = static_cast<size_t>(dim);
  CheckIds(args, ids, weight.size / d);
  args.NeedLength("out", out.size, CheckedProduct(args, "ids.length*dim", {static_cast<int64_t>(ids.size), dim}),
                  "ids.length*dim");
  ThreadPool::Instance().For(ids.size, 1 + kGrainElems / d, 1, [&](size_t i0, size_t i1) {
    simd::Run<GatherBf16Kernel>(static_cast<const uint16_t*>(weight.data), static_cast<const int32_t*>(ids.data), d,
                                out.data, i0, i1);
  });
  return info.Env().Undefined();
}

Napi::Value EmbeddingBackwardBf16(const Napi::CallbackInfo& info) {
  Args args(info, "embeddingBackwardBf16", 4);
  Span<uint16_t> dy = args.U16(0, "dy");
  Span<int32_t> ids = args.I32(1, "ids");
  const int64_t dim = args.Int(2, "dim", 1, INT32_MAX);
  Span<uint16_t> dw = args.U16(3, "dweight");
  const size_t d = static_cast<size_t>(dim);
  args.NeedLength("dy", dy.size, CheckedProduct(args, "ids.length*dim", {static_cast<int64_t>(ids.size), dim}),
                  "ids.length*dim");
  const size_t vocab = dw.size / d;
  CheckIds(args, ids, vocab);
  if (ids.size > static_cast<size_t>(INT32_MAX)) args.ThrowRange("'ids' has more than 2^31 - 1 entries");
  std::vector<int32_t> head(vocab, -1), next(ids.size);
  for (size_t i = ids.size; i-- > 0;) {
    const size_t v = static_cast<size_t>(ids.data[i]);
    next[i] = head[v];
    head[v] = static_cast<int32_t>(i);
  }
  ThreadPool::Instance().For(vocab, 1 + kGrainElems / d, 1, [&](size_t v0, size_t v1) {
    simd::Run<AccumulateBf16Kernel>(static_cast<const uint16_t*>(dy.data), static_cast<const int32_t*>(head.data()),
                                    static_cast<const int32_t*>(next.data()), d, dw.data, simd::ThreadRow(d), v0, v1);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitEmbedding(Napi::Env env, Napi::Object exports) {
  exports.Set("embedding", Napi::Function::New(env, Embedding, "embedding"));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward, "embeddingBackward"));
  exports.Set("embeddingBf16", Napi::Function::New(env, EmbeddingBf16, "embeddingBf16"));
  exports.Set("embeddingBackwardBf16", Napi::Function::New(env, EmbeddingBackwardBf16, "embeddingBackwardBf16"));
}

}  // namespace ds
