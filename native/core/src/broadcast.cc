// Both kernels first merge dimensions that are contiguous for every operand and drop size-1
// dimensions, so typical broadcasts (bias over rows, a scalar, a row vector) reduce to a 1- or
// 2-d walk whose inner loop is a plain vector loop.
#include "broadcast.h"

#include <cstring>
#include <string>

#include "args.h"
#include "cpu.h"
#include "elem_io.h"
#include "ops.h"
#include "simd.h"
#include "threadpool.h"

namespace ds {
namespace {

constexpr int kMaxDims = 32;
constexpr size_t kGrain = size_t{1} << 16;

// dims[0] is the innermost dimension after merging.
template <int K>
struct Layout {
  int nd = 0;
  int64_t shape[kMaxDims];
  int64_t stride[K][kMaxDims];
  size_t total = 1;
};

// Reads shape and K stride arrays, checks them and every operand's reachable range, and
// merges dimensions. Returns false if the index space is empty.
template <int K>
bool BuildLayout(const Args& args, Span<int32_t> shape, const Span<int32_t>* strides, const char* const* stride_names,
                 const int64_t* offsets, const size_t* lengths, const char* const* names, Layout<K>* out) {
  const int nd = static_cast<int>(shape.size);
  if (shape.size > static_cast<size_t>(kMaxDims)) {
    args.ThrowRange("'shape' has " + std::to_string(shape.size) + " dimensions; at most " +
                    std::to_string(kMaxDims) + " are supported");
  }
  for (int k = 0; k < K; k++) {
    if (strides[k].size != shape.size) {
      args.ThrowRange(std::string("'") + stride_names[k] + "' has " + std::to_string(strides[k].size) +
                      " entries but 'shape' has " + std::to_string(shape.size));
    }
  }
  unsigned __int128 total = 1;
  for (int d = 0; d < nd; d++) {
    if (shape.data[d] < 0) {
      args.ThrowRange("'shape' has a negative dimension " + std::to_string(shape.data[d]) + " at " + std::to_string(d));
    }
    total *= static_cast<unsigned>(shape.data[d]);
    if (total >= (static_cast<unsigned __int128>(1) << 53)) args.ThrowRange("'shape' has too many elements");
  }
  out->total = static_cast<size_t>(total);
  if (out->total == 0) return false;
  for (int k = 0; k < K; k++) {
    int64_t lo = offsets[k], hi = offsets[k];
    for (int d = 0; d < nd; d++) {
      int64_t span = static_cast<int64_t>(shape.data[d] - 1) * strides[k].data[d];
      (span < 0 ? lo : hi) += span;
    }
    if (lo < 0 || hi >= static_cast<int64_t>(lengths[k])) {
      args.ThrowRange(std::string("'") + names[k] + "' has " + std::to_string(lengths[k]) +
                      " elements but the view reaches indices " + std::to_string(lo) + " to " + std::to_string(hi));
    }
  }
  int m = 0;
  for (int d = nd - 1; d >= 0; d--) {
    int64_t s = shape.data[d];
    if (s == 1) continue;
    bool merge = m > 0;
    for (int k = 0; k < K && merge; k++) {
      merge = strides[k].data[d] == out->stride[k][m - 1] * out->shape[m - 1];
    }
    if (merge) {
      out->shape[m - 1] *= s;
    } else {
      out->shape[m] = s;
      for (int k = 0; k < K; k++) out->stride[k][m] = strides[k].data[d];
      m++;
    }
  }
  if (m == 0) {
    out->shape[0] = 1;
    for (int k = 0; k < K; k++) out->stride[k][0] = 0;
    m = 1;
  }
  out->nd = m;
  return true;
}

// Calls seg(i, len, off[K]) for maximal runs of the innermost dimension covering flat
// output indices [begin, end); off[k] is operand k's offset of the run's first element.
template <int K, class F>
void ForEachRun(const Layout<K>& l, const int64_t* base, size_t begin, size_t end, F&& seg) {
  int64_t idx[kMaxDims];
  int64_t off[K];
  const size_t inner = static_cast<size_t>(l.shape[0]);
  size_t rest = begin / inner;
  size_t j = begin % inner;
  for (int k = 0; k < K; k++) off[k] = base[k];
  for (int d = 1; d < l.nd; d++) {
    idx[d] = static_cast<int64_t>(rest % static_cast<size_t>(l.shape[d]));
    rest /= static_cast<size_t>(l.shape[d]);
    for (int k = 0; k < K; k++) off[k] += idx[d] * l.stride[k][d];
  }
  size_t i = begin;
  while (i < end) {
    size_t len = inner - j < end - i ? inner - j : end - i;
    int64_t run[K];
    for (int k = 0; k < K; k++) run[k] = off[k] + static_cast<int64_t>(j) * l.stride[k][0];
    seg(i, len, run);
    i += len;
    j = 0;
    for (int d = 1; d < l.nd; d++) {
      for (int k = 0; k < K; k++) off[k] += l.stride[k][d];
      if (++idx[d] < l.shape[d]) break;
      for (int k = 0; k < K; k++) off[k] -= l.stride[k][d] * l.shape[d];
      idx[d] = 0;
    }
  }
}

// Views whose innermost stride is not 1 (a transpose) would touch a new cache line for every
// element if walked in output order. They are walked in kTile x kTile tiles of the two
// innermost output dimensions instead, so the lines a tile reads are reused from L1 while the
// output is still written row by row.
constexpr int64_t kTile = 32;

template <int K>
bool NeedsTiles(const Layout<K>& l) {
  if (l.nd < 2 || l.shape[1] < 4) return false;
  for (int k = 0; k < K; k++) {
    if (l.stride[k][0] != 0 && l.stride[k][0] != 1) return true;
  }
  return false;
}

// Tasks are (plane, block of kTile rows); a plane is one index of the dimensions above the
// two innermost.
template <int K>
size_t TileTasks(const Layout<K>& l) {
  return l.total / static_cast<size_t>(l.shape[0] * l.shape[1]) *
         static_cast<size_t>((l.shape[1] + kTile - 1) / kTile);
}

// Calls elem(out_index, off[K]) for every element of tasks [t0, t1).
template <int K, class F>
void ForEachTiled(const Layout<K>& l, const int64_t* base, size_t t0, size_t t1, F&& elem) {
  const int64_t cols = l.shape[0], rows = l.shape[1];
  const size_t blocks = static_cast<size_t>((rows + kTile - 1) / kTile);
  for (size_t t = t0; t < t1; t++) {
    size_t plane = t / blocks;
    const int64_t r0 = static_cast<int64_t>(t % blocks) * kTile;
    const int64_t r1 = r0 + kTile < rows ? r0 + kTile : rows;
    int64_t off[K];
    for (int k = 0; k < K; k++) off[k] = base[k];
    size_t rest = plane;
    for (int d = 2; d < l.nd; d++) {
      const int64_t i = static_cast<int64_t>(rest % static_cast<size_t>(l.shape[d]));
      rest /= static_cast<size_t>(l.shape[d]);
      for (int k = 0; k < K; k++) off[k] += i * l.stride[k][d];
    }
    const size_t out_plane = plane * static_cast<size_t>(rows * cols);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = c0 + kTile < cols ? c0 + kTile : cols;
      for (int64_t r = r0; r < r1; r++) {
        int64_t o[K];
        for (int k = 0; k < K; k++) o[k] = off[k] + r * l.stride[k][1] + c0 * l.stride[k][0];
        size_t out_i = out_plane + static_cast<size_t>(r * cols + c0);
        for (int64_t c = c0; c < c1; c++, out_i++) {
          elem(out_i, o);
          for (int k = 0; k < K; k++) o[k] += l.stride[k][0];
        }
      }
    }
  }
}

// out[r, c] = src[c * s0 + r] for one kTile x kTile tile of a plane (src rows are output
// columns), moving 8x8 blocks through registers so every load and store is a full vector.
DS_KERNEL_AVX2 void TransposeTile(const float* src, int64_t s0, float* out, int64_t cols, int64_t r0, int64_t r1,
                                  int64_t c0, int64_t c1) {
  int64_t r = r0;
  for (; r + 8 <= r1; r += 8) {
    int64_t c = c0;
    for (; c + 8 <= c1; c += 8) {
      __m256 x[8], t[8], u[8];
      for (int i = 0; i < 8; i++) x[i] = _mm256_loadu_ps(src + (c + i) * s0 + r);
      for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(x[i], x[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(x[i], x[i + 1]);
      }
      for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
      }
      for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(out + (r + j) * cols + c, _mm256_permute2f128_ps(u[j], u[j + 4], 0x20));
        _mm256_storeu_ps(out + (r + j + 4) * cols + c, _mm256_permute2f128_ps(u[j], u[j + 4], 0x31));
      }
    }
    for (; c < c1; c++) {
      for (int64_t j = 0; j < 8; j++) out[(r + j) * cols + c] = src[c * s0 + r + j];
    }
  }
  for (; r < r1; r++) {
    for (int64_t c = c0; c < c1; c++) out[r * cols + c] = src[c * s0 + r];
  }
}

// copyStrided for a plane-wise transpose (inner output stride s0, next stride 1), by tiles.
void CopyTransposed(const Layout<1>& l, const float* src, int64_t offset, float* out, size_t t0, size_t t1) {
  const int64_t cols = l.shape[0], rows = l.shape[1];
  const size_t blocks = static_cast<size_t>((rows + kTile - 1) / kTile);
  for (size_t t = t0; t < t1; t++) {
    size_t rest = t / blocks;
    const size_t plane = rest;
    const int64_t r0 = static_cast<int64_t>(t % blocks) * kTile;
    const int64_t r1 = r0 + kTile < rows ? r0 + kTile : rows;
    int64_t off = offset;
    for (int d = 2; d < l.nd; d++) {
      off += static_cast<int64_t>(rest % static_cast<size_t>(l.shape[d])) * l.stride[0][d];
      rest /= static_cast<size_t>(l.shape[d]);
    }
    float* o = out + plane * static_cast<size_t>(rows * cols);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      TransposeTile(src + off, l.stride[0][0], o, cols, r0, r1, c0, c0 + kTile < cols ? c0 + kTile : cols);
    }
  }
}

// T = float: float32 operands and result; T = uint16_t: bf16 bits, each result rounded once.
template <class V, class T>
struct BinaryTiles {
  static void Run(BinaryOp op, const Layout<2>* l, const T* a, const T* b, int64_t a_off, int64_t b_off, T* out,
                  size_t t0, size_t t1) {
    const int64_t base[2] = {a_off, b_off};
    bool vector = WithVectorOp(op, [&](auto o) {
      using Op = decltype(o);
      ForEachTiled<2>(*l, base, t0, t1, [&](size_t i, const int64_t* off) {
        simd::Put(out + i, Op::Apply(simd::F1{simd::Get(a + off[0])}, simd::F1{simd::Get(b + off[1])}).v);
      });
    });
    if (vector) return;
    ForEachTiled<2>(*l, base, t0, t1, [&](size_t i, const int64_t* off) {
      simd::Put(out + i, PowScalar(simd::Get(a + off[0]), simd::Get(b + off[1])));
    });
  }
};

template <class V, class T>
struct BinaryRuns {
  static void Run(BinaryOp op, const Layout<2>* l, const T* a, const T* b, int64_t a_off, int64_t b_off, T* out,
                  size_t begin, size_t end) {
    const int64_t base[2] = {a_off, b_off};
    const int64_t sa = l->stride[0][0], sb = l->stride[1][0];
    bool vector = WithVectorOp(op, [&](auto o) {
      using Op = decltype(o);
      ForEachRun<2>(*l, base, begin, end, [&](size_t i, size_t n, const int64_t* off) {
        const T* pa = a + off[0];
        const T* pb = b + off[1];
        T* po = out + i;
        size_t j = 0;
        if (sa == 1 && sb == 1) {
          for (; j + V::N <= n; j += V::N) simd::Store(Op::Apply(simd::Load<V>(pa + j), simd::Load<V>(pb + j)), po + j);
          if (j < n) {
            simd::StoreN(Op::Apply(simd::LoadN<V>(pa + j, n - j, 1.0f), simd::LoadN<V>(pb + j, n - j, 1.0f)), po + j,
                         n - j);
          }
        } else if (sa == 1 && sb == 0) {
          const V bv = V::set1(simd::Get(pb));
          for (; j + V::N <= n; j += V::N) simd::Store(Op::Apply(simd::Load<V>(pa + j), bv), po + j);
          if (j < n) simd::StoreN(Op::Apply(simd::LoadN<V>(pa + j, n - j, 1.0f), bv), po + j, n - j);
        } else if (sa == 0 && sb == 1) {
          const V av = V::set1(simd::Get(pa));
          for (; j + V::N <= n; j += V::N) simd::Store(Op::Apply(av, simd::Load<V>(pb + j)), po + j);
          if (j < n) simd::StoreN(Op::Apply(av, simd::LoadN<V>(pb + j, n - j, 1.0f)), po + j, n - j);
        } else {
          for (; j < n; j++) {
            simd::Put(po + j, Op::Apply(simd::F1{simd::Get(pa + static_cast<int64_t>(j) * sa)},
                                        simd::F1{simd::Get(pb + static_cast<int64_t>(j) * sb)})
                                  .v);
          }
        }
      });
    });
    if (vector) return;
    ForEachRun<2>(*l, base, begin, end, [&](size_t i, size_t n, const int64_t* off) {
      const T* pa = a + off[0];
      const T* pb = b + off[1];
      for (size_t j = 0; j < n; j++) {
        simd::Put(out + i + j,
                  PowScalar(simd::Get(pa + static_cast<int64_t>(j) * sa), simd::Get(pb + static_cast<int64_t>(j) * sb)));
      }
    });
  }
};

template <class V>
using BinaryTilesF32 = BinaryTiles<V, float>;
template <class V>
using BinaryTilesBf16 = BinaryTiles<V, uint16_t>;
template <class V>
using BinaryRunsF32 = BinaryRuns<V, float>;
template <class V>
using BinaryRunsBf16 = BinaryRuns<V, uint16_t>;

template <class T, template <class> class Tiles, template <class> class Runs>
Napi::Value BinaryImpl(const Napi::CallbackInfo& info, const char* fn) {
  Args args(info, fn, 9);
  auto op = static_cast<BinaryOp>(args.Int(0, "op", 0, kBinaryOps - 1));
  Span<int32_t> shape = args.I32(1, "shape");
  Span<T> a = args.Elems<T>(2, "a");
  const int64_t a_off = args.Size(3, "aOffset");
  Span<int32_t> a_strides = args.I32(4, "aStrides");
  Span<T> b = args.Elems<T>(5, "b");
  const int64_t b_off = args.Size(6, "bOffset");
  Span<int32_t> b_strides = args.I32(7, "bStrides");
  Span<T> out = args.Elems<T>(8, "out");

  const Span<int32_t> strides[2] = {a_strides, b_strides};
  const char* const stride_names[2] = {"aStrides", "bStrides"};
  const int64_t offsets[2] = {a_off, b_off};
  const size_t lengths[2] = {a.size, b.size};
  const char* const names[2] = {"a", "b"};
  Layout<2> l;
  bool any = BuildLayout<2>(args, shape, strides, stride_names, offsets, lengths, names, &l);
  args.NeedLength("out", out.size, l.total, "the product of 'shape'");
  if (!any) return info.Env().Undefined();
  const size_t grain = op == BinaryOp::Pow ? kGrain / 16 : kGrain;
  if (NeedsTiles(l)) {
    const size_t per_task = static_cast<size_t>(l.shape[0] * kTile);
    ThreadPool::Instance().For(TileTasks(l), 1 + grain / per_task, 1, [&](size_t t0, size_t t1) {
      simd::Run<Tiles>(op, static_cast<const Layout<2>*>(&l), static_cast<const T*>(a.data),
                       static_cast<const T*>(b.data), a_off, b_off, out.data, t0, t1);
    });
    return info.Env().Undefined();
  }
  ThreadPool::Instance().For(l.total, grain, 16, [&](size_t begin, size_t end) {
    simd::Run<Runs>(op, static_cast<const Layout<2>*>(&l), static_cast<const T*>(a.data),
                    static_cast<const T*>(b.data), a_off, b_off, out.data, begin, end);
  });
  return info.Env().Undefined();
}

Napi::Value Binary(const Napi::CallbackInfo& info) {
  return BinaryImpl<float, BinaryTilesF32, BinaryRunsF32>(info, "binary");
}
Napi::Value BinaryBf16(const Napi::CallbackInfo& info) {
  return BinaryImpl<uint16_t, BinaryTilesBf16, BinaryRunsBf16>(info, "binaryBf16");
}

// Copies touch every byte once; only the strided gather benefits from the target ISA,
// so this needs no per-ISA instantiation.
template <class T>
void CopyRuns(const Layout<1>& l, const T* src, int64_t offset, T* out, size_t begin, size_t end) {
  const int64_t base[1] = {offset};
  const int64_t s = l.stride[0][0];
  ForEachRun<1>(l, base, begin, end, [&](size_t i, size_t n, const int64_t* off) {
    const T* p = src + off[0];
    T* o = out + i;
    if (s == 1) {
      std::memcpy(o, p, n * sizeof(T));
    } else if (s == 0) {
      for (size_t j = 0; j < n; j++) o[j] = *p;
    } else {
      for (size_t j = 0; j < n; j++) o[j] = p[static_cast<int64_t>(j) * s];
    }
  });
}

Napi::Value CopyStrided(const Napi::CallbackInfo& info) {
  Args args(info, "copyStrided", 5);
  Span<int32_t> shape = args.I32(0, "shape");
  Span<float> src = args.F32(1, "src");
  const int64_t offset = args.Size(2, "offset");
  Span<int32_t> strides = args.I32(3, "strides");
  Span<float> out = args.F32(4, "out");
  const char* const stride_names[1] = {"strides"};
  const int64_t offsets[1] = {offset};
  const size_t lengths[1] = {src.size};
  const char* const names[1] = {"src"};
  Layout<1> l;
  bool any = BuildLayout<1>(args, shape, &strides, stride_names, offsets, lengths, names, &l);
  args.NeedLength("out", out.size, l.total, "the product of 'shape'");
  if (!any) return info.Env().Undefined();
  if (NeedsTiles(l) && l.stride[0][1] == 1 && CurrentSimd() != SimdLevel::Scalar) {
    ThreadPool::Instance().For(TileTasks(l), 1 + kGrain / static_cast<size_t>(l.shape[0] * kTile), 1,
                               [&](size_t t0, size_t t1) { CopyTransposed(l, src.data, offset, out.data, t0, t1); });
    return info.Env().Undefined();
  }
  if (NeedsTiles(l)) {
    const int64_t base[1] = {offset};
    const float* s = src.data;
    float* o = out.data;
    auto copy = [&](size_t i, const int64_t* off) { o[i] = s[off[0]]; };
    ThreadPool::Instance().For(TileTasks(l), 1 + kGrain / static_cast<size_t>(l.shape[0] * kTile), 1,
                               [&](size_t t0, size_t t1) { ForEachTiled<1>(l, base, t0, t1, copy); });
    return info.Env().Undefined();
  }
  ThreadPool::Instance().For(l.total, kGrain, 16, [&](size_t begin, size_t end) {
    CopyRuns(l, src.data, offset, out.data, begin, end);
  });
  return info.Env().Undefined();
}

// copyStrided for 16-bit elements (float16 or bfloat16 bits): the same walk, moving bits.
Napi::Value CopyStrided16(const Napi::CallbackInfo& info) {
  Args args(info, "copyStrided16", 5);
  Span<int32_t> shape = args.I32(0, "shape");
  Span<uint16_t> src = args.U16(1, "src");
  const int64_t offset = args.Size(2, "offset");
  Span<int32_t> strides = args.I32(3, "strides");
  Span<uint16_t> out = args.U16(4, "out");
  const char* const stride_names[1] = {"strides"};
  const int64_t offsets[1] = {offset};
  const size_t lengths[1] = {src.size};
  const char* const names[1] = {"src"};
  Layout<1> l;
  bool any = BuildLayout<1>(args, shape, &strides, stride_names, offsets, lengths, names, &l);
  args.NeedLength("out", out.size, l.total, "the product of 'shape'");
  if (!any) return info.Env().Undefined();
  const uint16_t* s = src.data;
  uint16_t* o = out.data;
  if (NeedsTiles(l)) {
    const int64_t base[1] = {offset};
    auto copy = [&](size_t i, const int64_t* off) { o[i] = s[off[0]]; };
    ThreadPool::Instance().For(TileTasks(l), 1 + kGrain / static_cast<size_t>(l.shape[0] * kTile), 1,
                               [&](size_t t0, size_t t1) { ForEachTiled<1>(l, base, t0, t1, copy); });
    return info.Env().Undefined();
  }
  ThreadPool::Instance().For(l.total, kGrain, 32, [&](size_t begin, size_t end) {
    CopyRuns<uint16_t>(l, s, offset, o, begin, end);
  });
  return info.Env().Undefined();
}

}  // namespace

void InitBroadcast(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, Binary, "binary"));
  exports.Set("copyStrided", Napi::Function::New(env, CopyStrided, "copyStrided"));
  exports.Set("binaryBf16", Napi::Function::New(env, BinaryBf16, "binaryBf16"));
  exports.Set("copyStrided16", Napi::Function::New(env, CopyStrided16, "copyStrided16"));
}

}  // namespace ds
