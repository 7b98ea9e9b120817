// Blocked matmul (GotoBLAS/BLIS structure): all of op(B) is packed once into NR-wide slivers; C is cut into (row block × column group) tiles and the inner
// dimension into KC-deep slices; each slice of op(B) is packed into NR-wide slivers (zero-padded),
// each MC-row block of op(A) into MR-tall slivers, and an MR×NR register-blocked micro-kernel
// (AVX2/FMA: 6×16 in 12 ymm accumulators; portable: the same loop in plain C++) adds their product
// into C. Strided packing lets one routine serve A·Bᵀ (forward), A·B (input gradient) and Aᵀ·B
// (weight gradient).
//
// Threads: the packing of a B slice is split by slivers, the products by (row block, column
// group) tiles. Every C element receives its KC slices in order 0, 1, 2, … and each slice is summed
// by the same micro-kernel in the same order, whoever runs it — so any thread count gives
// identical bits. Edge tiles are computed in full on zero-padded packs and only their valid part is
// added to C, so they round exactly as interior tiles do.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/kernels.hh"
#include "common/pool.hh"

namespace cl::kernels {

namespace {

constexpr int MR = 6, NR = 16;
constexpr int KC = 256, MC = 96;


struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, AlignedFree>;
Buffer allocate(size_t n) {
  void* p = std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
  if (!p) throw std::bad_alloc();
  return Buffer(static_cast<float*>(p));
}

// Packs all of op(B) column sliver s (columns s*NR .. s*NR+NR, zero-padded) as K rows of NR floats:
// the KC slice starting at k0 is then the contiguous block dst + k0*NR.
void packBSliver(float* dst, const float* B, size_t rsB, size_t csB, int K, int N, int s) {
  const int jb = s * NR;
  const int w = std::min(NR, N - jb);
  if (csB == 1) {
    for (int k = 0; k < K; ++k) {
      const float* src = B + static_cast<size_t>(k) * rsB + jb;
      float* d = dst + static_cast<size_t>(k) * NR;
      if (w == NR) {
        __builtin_memcpy(d, src, sizeof(float) * NR);  // inline moves, not a call per 64-byte row
      } else {
        std::memcpy(d, src, sizeof(float) * w);
        for (int j = w; j < NR; ++j) d[j] = 0.0f;
      }
    }
  } else {
    // Column j of op(B) is read along k (contiguous when rsB == 1, the transposed-weight case).
    for (int j = 0; j < w; ++j) {
      const float* src = B + static_cast<size_t>(jb + j) * csB;
      for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * NR + j] = src[static_cast<size_t>(k) * rsB];
    }
    for (int j = w; j < NR; ++j)
      for (int k = 0; k < K; ++k) dst[static_cast<size_t>(k) * NR + j] = 0.0f;
  }
}

// Packs op(A)[i0..i0+mc, k0..k0+kc) as MR-tall slivers: sliver r holds kc columns of MR floats.
void packA(float* dst, const float* A, size_t rsA, size_t csA, int i0, int mc, int k0, int kc) {
  for (int r = 0; r * MR < mc; ++r) {
    float* d = dst + static_cast<size_t>(r) * MR * kc;
    const int ib = i0 + r * MR;
    const int h = std::min(MR, i0 + mc - ib);
    if (csA == 1) {
      for (int k = 0; k < kc; ++k) {
        for (int i = 0; i < h; ++i) d[k * MR + i] = A[static_cast<size_t>(ib + i) * rsA + k0 + k];
        for (int i = h; i < MR; ++i) d[k * MR + i] = 0.0f;
      }
    } else {
      for (int k = 0; k < kc; ++k) {
        const float* src = A + static_cast<size_t>(k0 + k) * csA + static_cast<size_t>(ib) * rsA;
        for (int i = 0; i < h; ++i) d[k * MR + i] = src[static_cast<size_t>(i) * rsA];
        for (int i = h; i < MR; ++i) d[k * MR + i] = 0.0f;
      }
    }
  }
}
// packA for a transposed A (rsA == 1: op(A)'s column k is contiguous along i, as dout is in the
// weight gradient): each of the kc source rows is read once, whole, and dealt out to the slivers
// (sliver by sliver it would stride through memory kc times per sliver: measured 14% of training).
void packAT(float* dst, const float* A, size_t csA, int i0, int mc, int k0, int kc) {
  const int slivers = (mc + MR - 1) / MR, full = mc / MR;
  for (int k = 0; k < kc; ++k) {
    const float* src = A + static_cast<size_t>(k0 + k) * csA + i0;
    float* d = dst + static_cast<size_t>(k) * MR;
    for (int r = 0; r < full; ++r, src += MR, d += static_cast<size_t>(MR) * kc)
      for (int i = 0; i < MR; ++i) d[i] = src[i];
    if (full < slivers) {
      const int h = mc - full * MR;
      for (int i = 0; i < h; ++i) d[i] = src[i];
      for (int i = h; i < MR; ++i) d[i] = 0.0f;
    }
  }
}

// Store modes of a micro-kernel's MR×NR result acc: kAdd: c += acc; kBias: c = bias[j] + acc;
// kSet: c = acc. The first KC slice of a product uses kBias/kSet (so C is never initialised in a
// separate pass), later slices kAdd: C = (init + slice0) + slice1 + … as before.
enum Mode : int { kAdd = 0, kBias = 1, kSet = 2 };

// c (MR×NR, row stride ldc) (+)= a-sliver · b-sliver over kc. Element (i,k) of the a-sliver is
// a[k*acs + i] (acs = MR: packed; a larger acs: read in place from a transposed A) or, in the
// *Rows kernels, a[i*lda + k] (read in place from a row-major A).
template <bool kRows>
void microGenericBody(int kc, const float* a, size_t as, const float* b, size_t bs, float* c, size_t ldc, int mode, const float* bias) {
  float acc[MR][NR] = {};
  for (int k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i) {
      const float ai = kRows ? a[i * as + k] : a[k * as + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[k * bs + j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] = mode == kAdd ? c[i * ldc + j] + acc[i][j] : mode == kBias ? bias[j] + acc[i][j] : acc[i][j];
}
void microGeneric(int kc, const float* a, size_t acs, const float* b, float* c, size_t ldc, int mode, const float* bias) {
  microGenericBody<false>(kc, a, acs, b, NR, c, ldc, mode, bias);
}
void microGenericRows(int kc, const float* a, size_t lda, const float* b, float* c, size_t ldc, int mode, const float* bias) {
  microGenericBody<true>(kc, a, lda, b, NR, c, ldc, mode, bias);
}
// B read in place: row k of the b-sliver is b + k*bs (16 floats, any alignment).
void microGenericB(int kc, const float* a, size_t acs, const float* b, size_t bs, float* c, size_t ldc, int mode, const float* bias) {
  microGenericBody<false>(kc, a, acs, b, bs, c, ldc, mode, bias);
}

#if defined(__x86_64__) || defined(__i386__)
template <bool kRows, bool kBInPlace = false>
__attribute__((target("avx2,fma"))) inline void microAvx2Body(int kc, const float* a, size_t as, const float* b, float* c, size_t ldc, int mode,
                                                                const float* bias, size_t bs = NR) {
  // kRows: rows i of the sliver start at a + i*as and run along k; else element (i,k) is a[k*as + i].
  const float* a1 = a + as;
  const float* a2 = a + 2 * as;
  const float* a3 = a + 3 * as;
  const float* a4 = a + 4 * as;
  const float* a5 = a + 5 * as;
  // The C tile's lines are fetched (for writing) while the products run: a tile of a wide output
  // (the lm_head's logits, rows tens of KB apart) otherwise misses at the stores of every row.
  // Measured (lm_head of 14,116 and 50,257 words, K = 64): 114-124 → 143-146 and ~102 → 136 GFLOP/s;
  // square products unchanged.
  for (int i = 0; i < MR; ++i) {
    __builtin_prefetch(c + i * ldc, 1);
    __builtin_prefetch(c + i * ldc + NR - 1, 1);
  }
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    const __m256 b0 = kBInPlace ? _mm256_loadu_ps(b) : _mm256_load_ps(b), b1 = kBInPlace ? _mm256_loadu_ps(b + 8) : _mm256_load_ps(b + 8);
    __m256 x = _mm256_broadcast_ss(kRows ? a + k : a + 0);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(kRows ? a1 + k : a + 1);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(kRows ? a2 + k : a + 2);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(kRows ? a3 + k : a + 3);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(kRows ? a4 + k : a + 4);
    c40 = _mm256_fmadd_ps(x, b0, c40);
    c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(kRows ? a5 + k : a + 5);
    c50 = _mm256_fmadd_ps(x, b0, c50);
    c51 = _mm256_fmadd_ps(x, b1, c51);
    if (!kRows) a += as;
    b += kBInPlace ? bs : NR;
  }
  __m256 i0 = _mm256_setzero_ps(), i1 = _mm256_setzero_ps();
  if (mode == kSet) {
    i0 = i1 = _mm256_setzero_ps();
  } else if (mode == kBias) {
    i0 = _mm256_loadu_ps(bias);
    i1 = _mm256_loadu_ps(bias + 8);
  }
#define CL_ADD_ROW(r, lo, hi)                                                                       \
  if (mode == kAdd) {                                                                               \
    i0 = _mm256_loadu_ps(c + r * ldc);                                                              \
    i1 = _mm256_loadu_ps(c + r * ldc + 8);                                                          \
  }                                                                                                 \
  _mm256_storeu_ps(c + r * ldc, mode == kSet ? lo : _mm256_add_ps(i0, lo));                         \
  _mm256_storeu_ps(c + r * ldc + 8, mode == kSet ? hi : _mm256_add_ps(i1, hi));
  CL_ADD_ROW(0, c00, c01)
  CL_ADD_ROW(1, c10, c11)
  CL_ADD_ROW(2, c20, c21)
  CL_ADD_ROW(3, c30, c31)
  CL_ADD_ROW(4, c40, c41)
  CL_ADD_ROW(5, c50, c51)
#undef CL_ADD_ROW
}
__attribute__((target("avx2,fma"))) void microAvx2(int kc, const float* a, size_t acs, const float* b, float* c, size_t ldc, int mode,
                                                   const float* bias) {
  microAvx2Body<false>(kc, a, acs, b, c, ldc, mode, bias);
}
__attribute__((target("avx2,fma"))) void microAvx2Rows(int kc, const float* a, size_t lda, const float* b, float* c, size_t ldc, int mode,
                                                       const float* bias) {
  microAvx2Body<true>(kc, a, lda, b, c, ldc, mode, bias);
}
__attribute__((target("avx2,fma"))) void microAvx2B(int kc, const float* a, size_t acs, const float* b, size_t bs, float* c, size_t ldc, int mode,
                                                    const float* bias) {
  microAvx2Body<false, true>(kc, a, acs, b, c, ldc, mode, bias, bs);
}

// AVX-512: a 6×32 register tile (12 zmm accumulators) over two adjacent NR-wide slivers of op(B),
// b (columns 0..15) and b + boff (columns 16..31), row k of each at +k*bs. Each C element gets the
// same chain of FMAs from zero in the same k order as microAvx2Body's, and the same store, so the
// bits are identical to running microAvx2 on each sliver; only the tile is twice as wide (on CPUs
// with two 512-bit FMA units, a 6×16 zmm tile's 6 accumulators could not hide the FMA latency).
template <bool kRows, bool kBInPlace>
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) inline void microAvx512PairBody(
    int kc, const float* a, size_t as, const float* b, size_t boff, size_t bs, float* c, size_t ldc, int mode, const float* bias) {
  const float* a1 = a + as;
  const float* a2 = a + 2 * as;
  const float* a3 = a + 3 * as;
  const float* a4 = a + 4 * as;
  const float* a5 = a + 5 * as;
  for (int i = 0; i < MR; ++i) {
    __builtin_prefetch(c + i * ldc, 1);
    __builtin_prefetch(c + i * ldc + 2 * NR - 1, 1);
  }
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  const float* bb = b + boff;
  for (int k = 0; k < kc; ++k) {
    const __m512 b0 = kBInPlace ? _mm512_loadu_ps(b) : _mm512_load_ps(b), b1 = kBInPlace ? _mm512_loadu_ps(bb) : _mm512_load_ps(bb);
    __m512 x = _mm512_set1_ps(kRows ? a[k] : a[0]);
    c00 = _mm512_fmadd_ps(x, b0, c00);
    c01 = _mm512_fmadd_ps(x, b1, c01);
    x = _mm512_set1_ps(kRows ? a1[k] : a[1]);
    c10 = _mm512_fmadd_ps(x, b0, c10);
    c11 = _mm512_fmadd_ps(x, b1, c11);
    x = _mm512_set1_ps(kRows ? a2[k] : a[2]);
    c20 = _mm512_fmadd_ps(x, b0, c20);
    c21 = _mm512_fmadd_ps(x, b1, c21);
    x = _mm512_set1_ps(kRows ? a3[k] : a[3]);
    c30 = _mm512_fmadd_ps(x, b0, c30);
    c31 = _mm512_fmadd_ps(x, b1, c31);
    x = _mm512_set1_ps(kRows ? a4[k] : a[4]);
    c40 = _mm512_fmadd_ps(x, b0, c40);
    c41 = _mm512_fmadd_ps(x, b1, c41);
    x = _mm512_set1_ps(kRows ? a5[k] : a[5]);
    c50 = _mm512_fmadd_ps(x, b0, c50);
    c51 = _mm512_fmadd_ps(x, b1, c51);
    if (!kRows) a += as;
    b += bs;
    bb += bs;
  }
  __m512 i0 = _mm512_setzero_ps(), i1 = _mm512_setzero_ps();
  if (mode == kBias) {
    i0 = _mm512_loadu_ps(bias);
    i1 = _mm512_loadu_ps(bias + NR);
  }
#define CL_ADD_ROW(r, lo, hi)                                                                       \
  if (mode == kAdd) {                                                                               \
    i0 = _mm512_loadu_ps(c + r * ldc);                                                              \
    i1 = _mm512_loadu_ps(c + r * ldc + NR);                                                         \
  }                                                                                                 \
  _mm512_storeu_ps(c + r * ldc, mode == kSet ? lo : _mm512_add_ps(i0, lo));                         \
  _mm512_storeu_ps(c + r * ldc + NR, mode == kSet ? hi : _mm512_add_ps(i1, hi));
  CL_ADD_ROW(0, c00, c01)
  CL_ADD_ROW(1, c10, c11)
  CL_ADD_ROW(2, c20, c21)
  CL_ADD_ROW(3, c30, c31)
  CL_ADD_ROW(4, c40, c41)
  CL_ADD_ROW(5, c50, c51)
#undef CL_ADD_ROW
}
// Packed A (element (i,k) at a[k*acs + i]), packed B (slivers `boff` apart).
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void microAvx512Pair(int kc, const float* a, size_t acs, const float* b,
                                                                                              size_t boff, float* c, size_t ldc, int mode,
                                                                                              const float* bias) {
  microAvx512PairBody<false, false>(kc, a, acs, b, boff, NR, c, ldc, mode, bias);
}
// A read in place by rows (row i at a + i*lda), packed B.
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void microAvx512PairRows(int kc, const float* a, size_t lda, const float* b,
                                                                                                  size_t boff, float* c, size_t ldc, int mode,
                                                                                                  const float* bias) {
  microAvx512PairBody<true, false>(kc, a, lda, b, boff, NR, c, ldc, mode, bias);
}
// Packed A, B read in place: 32 contiguous columns per row, rows bs apart.
__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma"))) void microAvx512PairB(int kc, const float* a, size_t acs, const float* b,
                                                                                               size_t bs, float* c, size_t ldc, int mode,
                                                                                               const float* bias) {
  microAvx512PairBody<false, true>(kc, a, acs, b, NR, bs, c, ldc, mode, bias);
}
#endif

using Micro = void (*)(int, const float*, size_t, const float*, float*, size_t, int, const float*);

Micro micro(bool avx2) {
#if defined(__x86_64__) || defined(__i386__)
  if (avx2) return microAvx2;
#endif
  return microGeneric;
}
using MicroB = void (*)(int, const float*, size_t, const float*, size_t, float*, size_t, int, const float*);
MicroB microB(bool avx2) {
#if defined(__x86_64__) || defined(__i386__)
  if (avx2) return microAvx2B;
#endif
  return microGenericB;
}
Micro microRows(bool avx2) {
#if defined(__x86_64__) || defined(__i386__)
  if (avx2) return microAvx2Rows;
#endif
  return microGenericRows;
}

thread_local Buffer tlsA, tlsB;
thread_local size_t tlsBSize = 0;
float* threadPackA() {
  if (!tlsA) tlsA = allocate(static_cast<size_t>(MC) * KC);
  return tlsA.get();
}
// The calling thread's buffer for all of packed op(B) (workers only read it).
float* callerPackB(size_t n) {
  if (tlsBSize < n) {
    tlsB = allocate(n);
    tlsBSize = n;
  }
  return tlsB.get();
}

}  // namespace

bool cpuHasAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

bool cpuHasAvx512() {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports also checks that the OS saves the zmm state (XCR0), as GCC's does.
  static const bool has = cpuHasAvx2() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return has;
#else
  return false;
#endif
}

Isa cpuIsa() {
  // COLLAPSE_MAX_ISA=avx2|generic caps it (benchmarks measure what AVX-512 adds; the AVX-512 and
  // AVX2 paths give the same bits, so only the speed changes).
  static const Isa best = [] {
    Isa isa = cpuHasAvx512() ? Isa::Avx512 : cpuHasAvx2() ? Isa::Avx2 : Isa::Generic;
    if (const char* cap = std::getenv("COLLAPSE_MAX_ISA")) {
      if (std::strcmp(cap, "generic") == 0) isa = Isa::Generic;
      else if (std::strcmp(cap, "avx2") == 0 && isa == Isa::Avx512) isa = Isa::Avx2;
    }
    return isa;
  }();
  return best;
}

const char* isaName(Isa isa) {
  switch (isa == Isa::Auto ? cpuIsa() : isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "generic";
  }
}

namespace {

// Tiles of (row block) × (column group), each run through all KC slices by one task: no barrier
// per slice. Row blocks are MR multiples of about equal size (at most MC); column groups are
// narrowed (down to minGroup slivers) when there are too few tiles to keep the threads busy.
// Tasks are numbered group-major: consecutive tasks share a column group, whose B slivers stay in
// cache (a 50k-word lm_head packs to 51 MB: row-major order streamed it from memory per row block).
// The blocking depends on the shape only; each C element gets init + slice 0 + slice 1 + … from
// the same micro-kernel whatever the blocking or the threads, so the bits never change (nor do
// they depend on the other rows of A: a row's result is the same in any batch).
struct Blocking {
  int slivers, rowBlocks, rowsPer, groupSlivers, groups;
  Blocking(int M, int N, int minGroup, int maxRows = MC) : slivers((N + NR - 1) / NR), rowBlocks((M + maxRows - 1) / maxRows) {
    groupSlivers = std::min(slivers, 256 / NR);
    while (groupSlivers > minGroup && static_cast<long>(rowBlocks) * ((slivers + groupSlivers - 1) / groupSlivers) < 8) groupSlivers /= 2;
    groups = (slivers + groupSlivers - 1) / groupSlivers;
    // Fewer than 4 tiles (a block's weight gradient, M = N = 64, made one task, so a second
    // thread sat idle): shorter row blocks, down to one micro-tile each.
    const int tiles = (M + MR - 1) / MR;
    while (rowBlocks < tiles && static_cast<long>(rowBlocks) * groups < 4) ++rowBlocks;
    rowsPer = ((M + rowBlocks - 1) / rowBlocks + MR - 1) / MR * MR;
    rowBlocks = (M + rowsPer - 1) / rowsPer;
  }
  size_t tasks() const { return static_cast<size_t>(rowBlocks) * groups; }
  // Task t's rows [i0, i0 + mc) (mc <= 0: none) and slivers [s0, s1).
  void task(size_t t, int M, int& i0, int& mc, int& s0, int& s1) const {
    const int g = static_cast<int>(t / rowBlocks), rb = static_cast<int>(t % rowBlocks);
    i0 = rb * rowsPer;
    mc = std::min(rowsPer, M - i0);
    s0 = g * groupSlivers;
    s1 = std::min(slivers, s0 + groupSlivers);
  }
};

// Packs all of op(B) (K×N) into `bp` as NR-wide slivers, two per task.
void packAll(int threads, float* bp, const float* B, size_t rsB, size_t csB, int K, int N) {
  const int slivers = (N + NR - 1) / NR;
  const size_t sliverSize = static_cast<size_t>(K) * NR;
  parallelRun(threads, static_cast<size_t>((slivers + 1) / 2), [&](size_t t) {
    const int s1 = std::min<int>(slivers, static_cast<int>(t) * 2 + 2);
    for (int s = static_cast<int>(t) * 2; s < s1; ++s) packBSliver(bp + static_cast<size_t>(s) * sliverSize, B, rsB, csB, K, N, s);
  });
}

// C (M×N) (+)= op(A) · packed op(B) (see gemm).
void gemmCore(Exec ex, int M, int N, int K, const float* A, size_t rsA, size_t csA, const float* bp, float* C, const float* bias,
              bool accumulate) {
  const int threads = ex.threads;
  const Micro kernel = micro(ex.avx2()), kernelRows = microRows(ex.avx2());
  const bool wide = ex.avx512();
  (void)wide;
  const int firstMode = accumulate ? kAdd : bias ? kBias : kSet;
  // A row-major A (csA == 1) is read in place, six row streams, rather than packed: packing cost
  // up to half the time of the narrow products (N = hidden: the input gradients, the lm_head's
  // dlnf) and saved nothing measurable on square ones (measured here: 69 → 100 GFLOP/s for
  // 256×64×14116, 108 → 167 for 1024×64×256, 512³ unchanged). Same operations in the same order:
  // the same bits either way. A transposed A (the weight gradients) is still packed: read in
  // place it strides through memory by whole rows and ran slower.
  const bool inPlace = csA == 1;
  const size_t sliverSize = static_cast<size_t>(K) * NR;
  // In place, A needs no pack buffer: taller row blocks read each B sliver fewer times (the
  // lm_head's dlnf streams all of the packed vocabulary once per row block).
  const Blocking bl(M, N, 4, inPlace ? 2 * MC : MC);
  parallelRun(threads, bl.tasks(), [&](size_t t) {
    int i0, mc, s0, s1;
    bl.task(t, M, i0, mc, s0, s1);
    if (mc <= 0) return;
    float* ap = threadPackA();
    alignas(64) float tile[MR * NR];
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = std::min(KC, K - k0);
      const int mode = k0 == 0 ? firstMode : kAdd;
      if (inPlace) {
        // Only a last, partial sliver is packed (zero-padded to MR rows).
        const int full = (M - i0) / MR * MR;
        if (full < mc) packA(ap, A, rsA, csA, i0 + full, mc - full, k0, kc);
      } else if (rsA == 1 && csA != 1) {
        packAT(ap, A, csA, i0, mc, k0, kc);
      } else {
        packA(ap, A, rsA, csA, i0, mc, k0, kc);
      }
      // One MR×NR tile: sliver s, row tile r.
      auto tileOne = [&](int s, int r) {
        const int jb = s * NR, w = std::min(NR, N - jb);
        const float* b = bp + static_cast<size_t>(s) * sliverSize + static_cast<size_t>(k0) * NR;
        const float* bj = bias ? bias + jb : nullptr;
        const int ib = i0 + r * MR, h = std::min(MR, M - ib);
        float* c = C + static_cast<size_t>(ib) * N + jb;
        // The sliver's kernel and where it reads A: in place, or from the pack.
        Micro f = kernel;
        const float* a;
        size_t as = MR;
        if (!inPlace) {
          a = ap + static_cast<size_t>(r) * MR * kc;
        } else if (h < MR) {
          a = ap;
        } else if (csA == 1) {
          f = kernelRows;
          a = A + static_cast<size_t>(ib) * rsA + k0;
          as = rsA;
        } else {
          a = A + static_cast<size_t>(k0) * csA + ib;
          as = csA;
        }
        if (h == MR && w == NR) {
          f(kc, a, as, b, c, static_cast<size_t>(N), mode, bj);
        } else {
          f(kc, a, as, b, tile, NR, kSet, nullptr);
          for (int i = 0; i < h; ++i)
            for (int j = 0; j < w; ++j) {
              float& x = c[static_cast<size_t>(i) * N + j];
              x = mode == kAdd ? x + tile[i * NR + j] : mode == kBias ? bj[j] + tile[i * NR + j] : tile[i * NR + j];
            }
        }
      };
      for (int s = s0; s < s1; ++s) {
#if defined(__x86_64__) || defined(__i386__)
        // AVX-512: two full slivers at once, full row tiles through the 6×32 kernel (same bits).
        if (wide && s + 1 < s1 && (s + 2) * NR <= N) {
          const int jb = s * NR;
          const float* b = bp + static_cast<size_t>(s) * sliverSize + static_cast<size_t>(k0) * NR;
          const float* bj = bias ? bias + jb : nullptr;
          for (int r = 0; r * MR < mc; ++r) {
            const int ib = i0 + r * MR, h = std::min(MR, M - ib);
            float* c = C + static_cast<size_t>(ib) * N + jb;
            if (h < MR || (inPlace && csA != 1)) {
              tileOne(s, r);
              tileOne(s + 1, r);
            } else if (inPlace) {
              microAvx512PairRows(kc, A + static_cast<size_t>(ib) * rsA + k0, rsA, b, sliverSize, c, static_cast<size_t>(N), mode, bj);
            } else {
              microAvx512Pair(kc, ap + static_cast<size_t>(r) * MR * kc, MR, b, sliverSize, c, static_cast<size_t>(N), mode, bj);
            }
          }
          ++s;
          continue;
        }
#endif
        for (int r = 0; r * MR < mc; ++r) tileOne(s, r);
      }
    }
  });
}

// C rows get init (bias, zero or kept) when K is 0.
void gemmEmptyK(int M, int N, float* C, const float* bias, bool accumulate) {
  if (accumulate) return;
  for (int i = 0; i < M; ++i) {
    float* c = C + static_cast<size_t>(i) * N;
    if (bias)
      std::memcpy(c, bias, sizeof(float) * N);
    else
      std::memset(c, 0, sizeof(float) * N);
  }
}

}  // namespace

void gemm(Exec ex, int M, int N, int K, const float* A, size_t rsA, size_t csA, const float* B, size_t rsB, size_t csB, float* C,
          const float* bias, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return gemmEmptyK(M, N, C, bias, accumulate);
  // 1. Pack all of op(B), sliver by sliver (one barrier). 2. The tiles.
  float* bp = callerPackB(static_cast<size_t>((N + NR - 1) / NR) * K * NR);
  packAll(ex.threads, bp, B, rsB, csB, K, N);
  gemmCore(ex, M, N, K, A, rsA, csA, bp, C, bias, accumulate);
}

void PackedB::pack(int threads, int K, int N, const float* B, size_t rsB, size_t csB) {
  k_ = K;
  n_ = N;
  if (K <= 0 || N <= 0) return;
  const size_t n = static_cast<size_t>((N + NR - 1) / NR) * K * NR;
  if (n > capacity_) {
    data_.reset();
    capacity_ = 0;
    void* p = std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
    if (!p) throw std::bad_alloc();
    data_.reset(static_cast<float*>(p));
    capacity_ = n;
  }
  packAll(threads, data_.get(), B, rsB, csB, K, N);
}

void gemmPacked(Exec ex, int M, const float* A, size_t rsA, size_t csA, const PackedB& B, float* C, const float* bias, bool accumulate) {
  if (M <= 0 || B.n() <= 0) return;
  if (B.k() <= 0) return gemmEmptyK(M, B.n(), C, bias, accumulate);
  gemmCore(ex, M, B.n(), B.k(), A, rsA, csA, B.data(), C, bias, accumulate);
}

void matmulBackwardWeightT(Exec ex, float* dweight, const float* dout, const float* inp, int BT, int IC, int OC) {
  // dweightᵀ (IC,OC) += inpᵀ · dout: M = IC rows from the transposed inp (packed, small), N = OC
  // columns of dout read in place (no packing of the wide operand), added transposed into dweight.
  const int M = IC, N = OC, K = BT;
  if (M <= 0 || N <= 0 || K <= 0) return;
  const Micro packed = micro(ex.avx2());
  const MicroB inPlace = microB(ex.avx2());
  const bool wide = ex.avx512();
  (void)wide;
  const Blocking bl(M, N, 1);
  parallelRun(ex.threads, bl.tasks(), [&](size_t t) {
    int i0, mc, s0, s1;
    bl.task(t, M, i0, mc, s0, s1);
    if (mc <= 0) return;
    float* ap = threadPackA();
    alignas(64) float tile[MR * NR];
    alignas(64) float edge[KC * NR];  // a last, partial column sliver, zero-padded
    alignas(64) float tile2[MR * 2 * NR];
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = std::min(KC, K - k0);
      packAT(ap, inp, static_cast<size_t>(IC), i0, mc, k0, kc);
      for (int s = s0; s < s1; ++s) {
        const int jb = s * NR, w = std::min(NR, N - jb);
        const float* b = dout + static_cast<size_t>(k0) * OC + jb;
#if defined(__x86_64__) || defined(__i386__)
        // AVX-512: two full slivers at once through the 6×32 kernel (same bits as one by one).
        if (wide && s + 1 < s1 && (s + 2) * NR <= N) {
          const int tiles = (mc + MR - 1) / MR;
          const float* next = s + 2 < s1 ? b + 2 * NR : nullptr;
          const int per = next ? (kc + tiles - 1) / tiles : 0;
          for (int r = 0; r * MR < mc; ++r) {
            const int ib = i0 + r * MR, h = std::min(MR, M - ib);
            for (int k = r * per, k1 = std::min(kc, k + per); k < k1; ++k) {
              const float* row = next + static_cast<size_t>(k) * OC;
              __builtin_prefetch(row);
              __builtin_prefetch(row + NR);
              __builtin_prefetch(row + 2 * NR - 1);
            }
            microAvx512PairB(kc, ap + static_cast<size_t>(r) * MR * kc, MR, b, static_cast<size_t>(OC), tile2, 2 * NR, kSet, nullptr);
            for (int j = 0; j < 2 * NR; ++j) {
              float* d = dweight + static_cast<size_t>(jb + j) * IC + ib;
              for (int i = 0; i < h; ++i) d[i] += tile2[i * 2 * NR + j];
            }
          }
          ++s;
          continue;
        }
#endif
        if (w < NR)
          for (int k = 0; k < kc; ++k) {
            for (int j = 0; j < w; ++j) edge[k * NR + j] = b[static_cast<size_t>(k) * OC + j];
            for (int j = w; j < NR; ++j) edge[k * NR + j] = 0.0f;
          }
        // dout is read in place down columns a vocabulary row apart (tens of KB: a page or more per
        // row, beyond the hardware prefetchers' reach): the next sliver's kc rows are prefetched a
        // share per row tile while this sliver's tiles run (lm_head dW, measured: ~+10%).
        const int tiles = (mc + MR - 1) / MR;
        const float* next = s + 1 < s1 ? b + NR : nullptr;
        const int per = next ? (kc + tiles - 1) / tiles : 0;
        for (int r = 0; r * MR < mc; ++r) {
          const int ib = i0 + r * MR, h = std::min(MR, M - ib);
          const float* a = ap + static_cast<size_t>(r) * MR * kc;
          for (int k = r * per, k1 = std::min(kc, k + per); k < k1; ++k) {
            const float* row = next + static_cast<size_t>(k) * OC;
            __builtin_prefetch(row);
            __builtin_prefetch(row + NR - 1);
          }
          if (w < NR)
            packed(kc, a, MR, edge, tile, NR, kSet, nullptr);
          else
            inPlace(kc, a, MR, b, static_cast<size_t>(OC), tile, NR, kSet, nullptr);
          for (int j = 0; j < w; ++j) {
            float* d = dweight + static_cast<size_t>(jb + j) * IC + ib;
            for (int i = 0; i < h; ++i) d[i] += tile[i * NR + j];
          }
        }
      }
    }
  });
}

void gemmNaive(int M, int N, int K, const float* A, size_t rsA, size_t csA, const float* B, size_t rsB, size_t csB, float* C,
               const float* bias, bool accumulate) {
  for (int i = 0; i < M; ++i) {
    for (int j = 0; j < N; ++j) {
      double s = accumulate ? C[static_cast<size_t>(i) * N + j] : (bias ? bias[j] : 0.0);
      for (int k = 0; k < K; ++k) s += static_cast<double>(A[i * rsA + k * csA]) * B[k * rsB + j * csB];
      C[static_cast<size_t>(i) * N + j] = static_cast<float>(s);
    }
  }
}

double timeMatmul(int M, int N, int K, int threads, int reps, Isa isa) {
  std::vector<float> A(static_cast<size_t>(M) * K, 0.5f), B(static_cast<size_t>(N) * K, 0.25f), C(static_cast<size_t>(M) * N);
  double best = 1e30;
  for (int r = 0; r < std::max(1, reps); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    gemm(Exec(threads, isa), M, N, K, A.data(), K, 1, B.data(), 1, K, C.data(), nullptr, false);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace cl::kernels
