// bf16 GEMM. On AVX512_BF16 it is a blocked GotoBLAS-style kernel around vdpbf16ps: B is
// packed per (kKC x kNC) block and shared by the threads, each thread packs its own (kMC x kKC)
// block of A, and a kMR x kNR register tile accumulates in float32. Elsewhere the inputs are
// widened and handed to cblas_sgemm (OpenBLAS 0.3.21 as shipped by Debian has no sbgemm).
//
// NOTE: vdpbf16ps (Intel SDM; measured the same on AMD Zen 4) adds the odd pair's product to
// the accumulator and then the even pair's product, each rounded to nearest even in float32;
// the products are exact. It does not read MXCSR: bf16 subnormal inputs count as zero and
// subnormal float32 results become zero. Each C element sums its K blocks in a fixed order,
// whatever the thread count.
#include "gemm_bf16.h"

#include <cblas.h>
#include <immintrin.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#include "args.h"
#include "elem_io.h"
#include "cpu.h"
#include "simd.h"
#include "threadpool.h"

#define DS_BF16_FEATURES DS_AVX512_FEATURES ",avx512bf16"
// Out of line on purpose: the drivers that call these run on any CPU.
#define DS_BF16 __attribute__((target(DS_BF16_FEATURES)))

namespace ds {
namespace {

// Tile: 12 rows x 32 columns = 24 zmm accumulators, two for B and the A pairs broadcast
// straight from memory, leaving headroom in the 32 registers. A tile does 24 vdpbf16ps per
// 176 bytes of packed input, so both packed operands can stream from L2 (the kMC x kKC block
// of A is 288 KiB) and K blocks are long: C is read and written once per K block, and for
// GPT-2 shapes those passes over C cost more than L1-sized panels save (measured on Zen 4).
constexpr int kMR = 12;
constexpr int kNR = 32;
constexpr int64_t kKC = 1536;  // most depth per block; blocks are even, so no pair straddles two
constexpr int64_t kMC = 96;    // a multiple of kMR
constexpr int64_t kNC = 2048;  // most columns per block; blocks are multiples of kNR

// Grow-only 64-byte aligned scratch, one per thread: packing buffers are reused across calls.
class Scratch {
 public:
  ~Scratch() { std::free(data_); }
  uint32_t* Get(size_t n) {
    if (n > size_) {
      std::free(data_);
      size_ = (n + 15) & ~size_t{15};
      data_ = static_cast<uint32_t*>(std::aligned_alloc(64, size_ * sizeof(uint32_t)));
      if (!data_) throw std::bad_alloc();
    }
    return data_;
  }

 private:
  uint32_t* data_ = nullptr;
  size_t size_ = 0;
};

// An operand seen along K: element (idx, p) for a row/column idx of op(X) and a depth p. When
// pairs are adjacent (A as stored, or B^T), X(idx, p) = data[idx*ld + p]; otherwise
// X(idx, p) = data[p*ld + idx] and a pair spans two stored rows.
struct KOperand {
  const uint16_t* data;
  int64_t ld;
  bool pairs_adjacent;
};

// NOTE: GCC 12 reports the deliberately undefined pass-through operand inside the AVX-512
// unpack/shuffle intrinsics as uninitialized; nothing here reads an uninitialized value.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
// r[j] becomes column j of the 16x16 matrix of 32-bit elements whose rows were r[0..15].
DS_BF16 void Transpose16(__m512i* r) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4g + c], 128-bit lane L: column 4L + c of rows 4g .. 4g+3.
  __m512i u[16];
  for (int g = 0; g < 16; g += 4) {
    u[g] = _mm512_unpacklo_epi64(t[g], t[g + 2]);
    u[g + 1] = _mm512_unpackhi_epi64(t[g], t[g + 2]);
    u[g + 2] = _mm512_unpacklo_epi64(t[g + 1], t[g + 3]);
    u[g + 3] = _mm512_unpackhi_epi64(t[g + 1], t[g + 3]);
  }
  for (int c = 0; c < 4; c++) {
    const __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);  // lanes 0, 2
    const __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);  // lanes 1, 3
    const __m512i w0 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);
    const __m512i w1 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
    r[c] = _mm512_shuffle_i32x4(v0, w0, 0x88);
    r[8 + c] = _mm512_shuffle_i32x4(v0, w0, 0xdd);
    r[4 + c] = _mm512_shuffle_i32x4(v1, w1, 0x88);
    r[12 + c] = _mm512_shuffle_i32x4(v1, w1, 0xdd);
  }
}
#pragma GCC diagnostic pop

// Packs op(X)(idx0 + w, p0 + 2q .. 2q+1) for w < width and q < ceil(kc/2) into out[q*width + w],
// each pair one uint32 (low half the even depth), the layout vdpbf16ps multiplies. Slots past
// `count` and the missing partner of an odd last depth are zero, so padding adds exact zeros.
DS_BF16 void PackPanel(const KOperand& x, int64_t idx0, int64_t count, int64_t p0, int64_t kc, int width,
                       uint32_t* out) {
  const int64_t pairs = (kc + 1) / 2;
  const __m512i zero = _mm512_setzero_si512();
  if (x.pairs_adjacent) {
    // A pair is one uint32 of a stored row: transpose 16 rows x 16 pairs at a time. Masked
    // loads stop at depth kc, so the next K block's first value never leaks into an odd tail.
    for (int w0 = 0; w0 < width; w0 += 16) {
      const int rows = static_cast<int>(std::clamp<int64_t>(count - w0, 0, 16));
      const __mmask16 store = static_cast<__mmask16>((1u << std::min(16, width - w0)) - 1);
      for (int64_t q0 = 0; q0 < pairs; q0 += 16) {
        const int64_t depth = std::min<int64_t>(32, kc - 2 * q0);
        const __mmask32 load = static_cast<__mmask32>((uint64_t{1} << depth) - 1);
        __m512i r[16];
        for (int i = 0; i < 16; i++) {
          r[i] = i < rows ? _mm512_maskz_loadu_epi16(load, x.data + (idx0 + w0 + i) * x.ld + p0 + 2 * q0) : zero;
        }
        Transpose16(r);
        const int64_t nq = std::min<int64_t>(16, pairs - q0);
        for (int64_t q = 0; q < nq; q++) _mm512_mask_storeu_epi32(out + (q0 + q) * width + w0, store, r[q]);
      }
    }
    return;
  }
  // Pairs span rows 2q and 2q+1: interleave 16 columns of both rows with one vpermw.
  const __m512i interleave = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22,
                                              6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  for (int64_t q = 0; q < pairs; q++) {
    const uint16_t* r0 = x.data + (p0 + 2 * q) * x.ld + idx0;
    const uint16_t* r1 = 2 * q + 1 < kc ? r0 + x.ld : nullptr;
    for (int w0 = 0; w0 < width; w0 += 16) {
      const int64_t valid = std::clamp<int64_t>(count - w0, 0, 16);
      const __mmask16 load = static_cast<__mmask16>((1u << valid) - 1);
      const __m256i lo = _mm256_maskz_loadu_epi16(load, r0 + w0);
      const __m256i hi = r1 ? _mm256_maskz_loadu_epi16(load, r1 + w0) : _mm256_setzero_si256();
      const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
      const int slots = std::min(16, width - w0);
      _mm512_mask_storeu_epi32(out + q * width + w0, static_cast<__mmask16>((1u << slots) - 1),
                               _mm512_permutexvar_epi16(interleave, both));
    }
  }
}

// C[0:mr, 0:nr] = alpha * (A panel . B panel) + beta * C, beta 0 overwriting (NaN in C ignored).
// A bf16 C (TC = uint16_t) is only ever written whole, in one K block with beta 0: each float32
// result is rounded once as it is stored.
template <class TC>
DS_BF16 void MicroTile(int64_t pairs, const uint32_t* a, const uint32_t* b, TC* c, int64_t ldc, int mr, int nr,
                       float alpha, float beta) {
  __m512 acc[kMR][2];
#pragma GCC unroll 12
  for (int r = 0; r < kMR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t q = 0; q < pairs; q++) {
    const __m512bh b0 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + q * kNR));
    const __m512bh b1 = reinterpret_cast<__m512bh>(_mm512_load_si512(b + q * kNR + 16));
    const uint32_t* aq = a + q * kMR;
#pragma GCC unroll 12
    for (int r = 0; r < kMR; r++) {
      const __m512bh av = reinterpret_cast<__m512bh>(_mm512_set1_epi32(static_cast<int>(aq[r])));
      acc[r][0] = _mm512_dpbf16_ps(acc[r][0], av, b0);
      acc[r][1] = _mm512_dpbf16_ps(acc[r][1], av, b1);
    }
  }
  const __mmask16 m0 = nr >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? __mmask16{0xffff} : nr > 16 ? static_cast<__mmask16>((1u << (nr - 16)) - 1) : 0;
  const __m512 va = _mm512_set1_ps(alpha);
  const __m512 vb = _mm512_set1_ps(beta);
#pragma GCC unroll 12
  for (int r = 0; r < kMR; r++) {
    if (r >= mr) break;
    TC* cr = c + r * ldc;
    for (int h = 0; h < 2; h++) {
      const __mmask16 m = h ? m1 : m0;
      if (!m) continue;
      __m512 v = _mm512_mul_ps(va, acc[r][h]);
      if constexpr (std::is_same_v<TC, uint16_t>) {
        _mm256_mask_storeu_epi16(cr + 16 * h, m, simd::RoundBf16x16(v));
        continue;
      } else if (beta == 1.0f) {
        v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, cr + 16 * h));
      } else if (beta != 0.0f) {
        v = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cr + 16 * h), v);
      }
      _mm512_mask_storeu_ps(cr + 16 * h, m, v);
    }
  }
}

template <class TC>
struct Gemm {
  KOperand a, b;  // a: rows of op(A) along K; b: columns of op(B) along K
  int64_t m, n, k;
  float alpha, beta;
  TC* c;
  int64_t ldc;
};

// Depth per K block for a depth of k (blocks are even, and as equal as kKC allows).
int64_t KcStep(int64_t k) {
  const int64_t k_blocks = (k + kKC - 1) / kKC;
  return ((k + k_blocks - 1) / k_blocks + 1) & ~int64_t{1};
}

// One product. `threads` false keeps it on the calling thread (the batch is split instead).
template <class TC>
void RunBf16(const Gemm<TC>& g, bool threads) {
  thread_local Scratch b_scratch;
  ThreadPool& pool = ThreadPool::Instance();
  const int64_t m_blocks = (g.m + kMC - 1) / kMC;
  // Equal blocks: 3072 columns are two of 1536, not 2048 + 1024.
  const int64_t n_blocks = (g.n + kNC - 1) / kNC;
  const int64_t nc_step = ((g.n + n_blocks - 1) / n_blocks + kNR - 1) / kNR * kNR;
  const int64_t kc_step = KcStep(g.k);
  for (int64_t jc = 0; jc < g.n; jc += nc_step) {
    const int64_t nc = std::min(nc_step, g.n - jc);
    const int64_t panels = (nc + kNR - 1) / kNR;
    for (int64_t pc = 0; pc < g.k; pc += kc_step) {
      const int64_t kc = std::min(kc_step, g.k - pc);
      const int64_t pairs = (kc + 1) / 2;
      const float beta = pc == 0 ? g.beta : 1.0f;
      uint32_t* bp = b_scratch.Get(static_cast<size_t>(panels * pairs * kNR));
      auto pack_b = [&](size_t p0, size_t p1) {
        for (size_t p = p0; p < p1; p++) {
          const int64_t j0 = static_cast<int64_t>(p) * kNR;
          PackPanel(g.b, jc + j0, std::min<int64_t>(kNR, nc - j0), pc, kc, kNR, bp + p * pairs * kNR);
        }
      };
      // Items are (block of A rows, range of B panels); a thread packs each A block it meets
      // once. Splitting N as well keeps both threads busy when M has a single block.
      const int64_t want = threads ? 2 * pool.Size() : 1;
      const int64_t n_split = std::min<int64_t>(panels, std::max<int64_t>(1, (want + m_blocks - 1) / m_blocks));
      auto compute = [&](size_t i0, size_t i1) {
        thread_local Scratch a_scratch;
        uint32_t* ap = a_scratch.Get(static_cast<size_t>(kMC * pairs));
        int64_t packed = -1;
        for (size_t item = i0; item < i1; item++) {
          const int64_t ib = static_cast<int64_t>(item) / n_split;
          const int64_t js = static_cast<int64_t>(item) % n_split;
          const int64_t r0 = ib * kMC;
          const int64_t mc = std::min(kMC, g.m - r0);
          if (packed != ib) {
            for (int64_t t = 0; t * kMR < mc; t++) {
              PackPanel(g.a, r0 + t * kMR, std::min<int64_t>(kMR, mc - t * kMR), pc, kc, kMR, ap + t * pairs * kMR);
            }
            packed = ib;
          }
          const int64_t p_begin = panels * js / n_split;
          const int64_t p_end = panels * (js + 1) / n_split;
          for (int64_t p = p_begin; p < p_end; p++) {
            const int64_t j = jc + p * kNR;
            const int nr = static_cast<int>(std::min<int64_t>(kNR, g.n - j));
            for (int64_t t = 0; t * kMR < mc; t++) {
              const int64_t i = r0 + t * kMR;
              MicroTile(pairs, ap + t * pairs * kMR, bp + p * pairs * kNR, g.c + i * g.ldc + j, g.ldc,
                        static_cast<int>(std::min<int64_t>(kMR, g.m - i)), nr, g.alpha, beta);
            }
          }
        }
      };
      const size_t items = static_cast<size_t>(m_blocks * n_split);
      if (threads) {
        // A panel is kNR x kc values: hand the second thread a share only when there are several.
        pool.For(static_cast<size_t>(panels), 4, 1, pack_b);
        pool.For(items, 1, 1, compute);
      } else {
        pack_b(0, static_cast<size_t>(panels));
        compute(0, items);
      }
    }
  }
}

struct Operand {
  const char* name;
  const char* ld_name;
  const char* stride_name;
  size_t length;
  int64_t rows, cols;  // as stored, before transposition
  int64_t ld, stride;
};

// Every element any batch touches must lie inside the array. Returns how many elements the
// batches span (0 when nothing is read).
size_t CheckOperand(const Args& args, const Operand& op, int64_t batch) {
  if (op.rows == 0 || op.cols == 0 || batch == 0) return 0;
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
  return static_cast<size_t>(last) + 1;
}

std::vector<float> Widen(const uint16_t* x, size_t n) {
  std::vector<float> out(n);
  for (size_t i = 0; i < n; i++) {
    const uint32_t bits = static_cast<uint32_t>(x[i]) << 16;
    std::memcpy(&out[i], &bits, 4);
  }
  return out;
}

bool UseBf16Kernel() { return CurrentSimd() == SimdLevel::Avx512 && HasAvx512Bf16(); }

// out rows [0, m) of n float32 values (row stride n) rounded into c (row stride ldc).
template <class V>
struct RoundRowsKernel {
  static void Run(const float* src, int64_t m, int64_t n, uint16_t* c, int64_t ldc) {
    for (int64_t r = 0; r < m; r++) {
      const float* s = src + r * n;
      uint16_t* d = c + r * ldc;
      size_t j = 0;
      const size_t len = static_cast<size_t>(n);
      for (; j + V::N <= len; j += V::N) simd::Store(V::load(s + j), d + j);
      if (j < len) simd::StoreN(V::loadn(s + j, len - j, 0.0f), d + j, len - j);
    }
  }
};

// TC = float: sbgemm (with beta). TC = uint16_t: sbgemmToBf16, the same product with beta 0
// rounded to bf16: written straight from the registers when K fits one block, else summed
// into a float32 buffer first (the sums must stay float32 between K blocks) and rounded after.
template <class TC>
Napi::Value SbgemmImpl(const Napi::CallbackInfo& info, const char* fn) {
  constexpr bool kOut16 = std::is_same_v<TC, uint16_t>;
  const size_t at_c = kOut16 ? 12 : 13;  // sbgemmToBf16 has no beta
  Args args(info, fn, at_c + 4);
  const bool trans_a = args.Bool(0, "transA");
  const bool trans_b = args.Bool(1, "transB");
  const int64_t m = args.Int(2, "m", 0, INT_MAX);
  const int64_t n = args.Int(3, "n", 0, INT_MAX);
  const int64_t k = args.Int(4, "k", 0, INT_MAX);
  const float alpha = static_cast<float>(args.Number(5, "alpha"));
  Span<uint16_t> a = args.U16(6, "a");
  const int64_t lda = args.Int(7, "lda", 0, INT_MAX);
  const int64_t stride_a = args.Size(8, "strideA");
  Span<uint16_t> b = args.U16(9, "b");
  const int64_t ldb = args.Int(10, "ldb", 0, INT_MAX);
  const int64_t stride_b = args.Size(11, "strideB");
  const float beta = kOut16 ? 0.0f : static_cast<float>(args.Number(12, "beta"));
  Span<TC> c = args.Elems<TC>(at_c, "c");
  const int64_t ldc = args.Int(at_c + 1, "ldc", 0, INT_MAX);
  const int64_t stride_c = args.Size(at_c + 2, "strideC");
  const int64_t batch = args.Size(at_c + 3, "batch");

  const size_t span_a =
      CheckOperand(args, {"a", "lda", "strideA", a.size, trans_a ? k : m, trans_a ? m : k, lda, stride_a}, batch);
  const size_t span_b =
      CheckOperand(args, {"b", "ldb", "strideB", b.size, trans_b ? n : k, trans_b ? k : n, ldb, stride_b}, batch);
  CheckOperand(args, {"c", "ldc", "strideC", c.size, m, n, ldc, stride_c}, batch);
  if (m == 0 || n == 0 || batch == 0) return info.Env().Undefined();

  const bool bf16 = UseBf16Kernel();
  std::vector<float> wide_a, wide_b;
  if (!bf16 && k > 0) {
    wide_a = Widen(a.data, span_a);
    wide_b = Widen(b.data, span_b);
  }
  // C_i (float32, row stride ld) = alpha op(A_i) op(B_i) + beta_i C_i.
  auto product = [&](int64_t i, bool threads, float* ci, int64_t ld, float beta_i) {
    if (bf16) {
      const Gemm<float> g{{a.data + i * stride_a, lda, !trans_a}, {b.data + i * stride_b, ldb, trans_b}, m, n, k, alpha,
                          beta_i, ci, ld};
      RunBf16(g, threads);
    } else {
      cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                  static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), alpha, wide_a.data() + i * stride_a,
                  static_cast<int>(lda), wide_b.data() + i * stride_b, static_cast<int>(ldb), beta_i, ci,
                  static_cast<int>(ld));
    }
  };
  auto one = [&](int64_t i, bool threads) {
    TC* ci = c.data + i * stride_c;
    if (k == 0) {
      for (int64_t r = 0; r < m; r++) {
        TC* row = ci + r * ldc;
        for (int64_t j = 0; j < n; j++) row[j] = beta == 0.0f ? TC{0} : static_cast<TC>(beta * row[j]);
      }
    } else if constexpr (kOut16) {
      if (bf16 && k <= kKC) {
        const Gemm<uint16_t> g{{a.data + i * stride_a, lda, !trans_a}, {b.data + i * stride_b, ldb, trans_b}, m, n, k,
                               alpha, 0.0f, ci, ldc};
        RunBf16(g, threads);
      } else {
        thread_local std::vector<float> sums;
        sums.resize(static_cast<size_t>(m * n));
        product(i, threads, sums.data(), n, 0.0f);
        simd::Run<RoundRowsKernel>(static_cast<const float*>(sums.data()), m, n, ci, ldc);
      }
    } else {
      product(i, threads, ci, ldc, beta);
    }
  };

  // As in sgemm: a batch of small products (attention heads) splits over the pool by batch
  // item; batches whose C blocks overlap (strideC 0 accumulates) stay sequential.
  const double work = static_cast<double>(m) * n * k;
  ThreadPool& pool = ThreadPool::Instance();
  const bool disjoint_c = stride_c >= (m - 1) * ldc + n;
  if (batch > 1 && disjoint_c && work < 262144.0 && pool.Size() > 1) {
    size_t grain = static_cast<size_t>(1 + 65536.0 / (work + 1));
    pool.For(static_cast<size_t>(batch), grain, 1, [&](size_t b0, size_t b1) {
      for (size_t i = b0; i < b1; i++) one(static_cast<int64_t>(i), false);
    });
  } else {
    for (int64_t i = 0; i < batch; i++) one(i, true);
  }
  return info.Env().Undefined();
}

Napi::Value Sbgemm(const Napi::CallbackInfo& info) { return SbgemmImpl<float>(info, "sbgemm"); }
Napi::Value SbgemmToBf16(const Napi::CallbackInfo& info) { return SbgemmImpl<uint16_t>(info, "sbgemmToBf16"); }

Napi::Value SbgemmPath(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), UseBf16Kernel() ? "avx512_bf16" : "sgemm");
}

}  // namespace

void InitGemmBf16(Napi::Env env, Napi::Object exports) {
  exports.Set("sbgemm", Napi::Function::New(env, Sbgemm, "sbgemm"));
  exports.Set("sbgemmToBf16", Napi::Function::New(env, SbgemmToBf16, "sbgemmToBf16"));
  exports.Set("_sbgemmPath", Napi::Function::New(env, SbgemmPath, "_sbgemmPath"));
}

}  // namespace ds
