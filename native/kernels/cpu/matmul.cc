// Blocked matmul (GotoBLAS/BLIS structure): C is cut into NC-column panels and the inner
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
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "kernels/cpu/kernels.hh"
#include "kernels/cpu/pool.hh"

namespace cl::kernels {

namespace {

constexpr int MR = 6, NR = 16;
constexpr int KC = 256, MC = 96, NC = 1024;

std::atomic<int> gIsa{0};

bool cpuHasAvx2() {
#if defined(__x86_64__) || defined(__i386__)
  static const bool has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return has;
#else
  return false;
#endif
}

struct AlignedFree {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float, AlignedFree>;
Buffer allocate(size_t n) {
  void* p = std::aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
  if (!p) throw std::bad_alloc();
  return Buffer(static_cast<float*>(p));
}

// Packs op(B)[k0..k0+kc, j0..j0+nc) sliver s (columns j0+s*NR ..) as kc rows of NR floats.
void packBSliver(float* dst, const float* B, size_t rsB, size_t csB, int k0, int kc, int j0, int nc, int s) {
  const int jb = j0 + s * NR;
  const int w = std::min(NR, j0 + nc - jb);
  for (int k = 0; k < kc; ++k) {
    const float* src = B + static_cast<size_t>(k0 + k) * rsB + static_cast<size_t>(jb) * csB;
    float* d = dst + static_cast<size_t>(k) * NR;
    if (csB == 1) {
      std::memcpy(d, src, sizeof(float) * w);
    } else {
      for (int j = 0; j < w; ++j) d[j] = src[static_cast<size_t>(j) * csB];
    }
    for (int j = w; j < NR; ++j) d[j] = 0.0f;
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

// c (MR×NR, row stride ldc) += a-sliver · b-sliver over kc.
void microGeneric(int kc, const float* a, const float* b, float* c, size_t ldc) {
  float acc[MR][NR] = {};
  for (int k = 0; k < kc; ++k) {
    for (int i = 0; i < MR; ++i) {
      const float ai = a[k * MR + i];
      for (int j = 0; j < NR; ++j) acc[i][j] += ai * b[k * NR + j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i * ldc + j] += acc[i][j];
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx2,fma"))) void microAvx2(int kc, const float* a, const float* b, float* c, size_t ldc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    __m256 x = _mm256_broadcast_ss(a + 0);
    c00 = _mm256_fmadd_ps(x, b0, c00);
    c01 = _mm256_fmadd_ps(x, b1, c01);
    x = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(x, b0, c10);
    c11 = _mm256_fmadd_ps(x, b1, c11);
    x = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(x, b0, c20);
    c21 = _mm256_fmadd_ps(x, b1, c21);
    x = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(x, b0, c30);
    c31 = _mm256_fmadd_ps(x, b1, c31);
    x = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(x, b0, c40);
    c41 = _mm256_fmadd_ps(x, b1, c41);
    x = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(x, b0, c50);
    c51 = _mm256_fmadd_ps(x, b1, c51);
    a += MR;
    b += NR;
  }
#define CL_ADD_ROW(r, lo, hi)                                                   \
  _mm256_storeu_ps(c + r * ldc, _mm256_add_ps(_mm256_loadu_ps(c + r * ldc), lo)); \
  _mm256_storeu_ps(c + r * ldc + 8, _mm256_add_ps(_mm256_loadu_ps(c + r * ldc + 8), hi));
  CL_ADD_ROW(0, c00, c01)
  CL_ADD_ROW(1, c10, c11)
  CL_ADD_ROW(2, c20, c21)
  CL_ADD_ROW(3, c30, c31)
  CL_ADD_ROW(4, c40, c41)
  CL_ADD_ROW(5, c50, c51)
#undef CL_ADD_ROW
}
#endif

using Micro = void (*)(int, const float*, const float*, float*, size_t);

Micro micro() {
#if defined(__x86_64__) || defined(__i386__)
  if (usingAvx2()) return microAvx2;
#endif
  return microGeneric;
}

thread_local Buffer tlsA, tlsB;
float* threadPackA() {
  if (!tlsA) tlsA = allocate(static_cast<size_t>(MC) * KC);
  return tlsA.get();
}
float* threadPackB() {
  if (!tlsB) tlsB = allocate(static_cast<size_t>(KC) * NC);
  return tlsB.get();
}

}  // namespace

void setIsa(Isa isa) { gIsa.store(static_cast<int>(isa)); }
bool usingAvx2() { return gIsa.load(std::memory_order_relaxed) == 0 && cpuHasAvx2(); }

void gemm(int threads, int M, int N, int K, const float* A, size_t rsA, size_t csA, const float* B, size_t rsB, size_t csB, float* C,
          const float* bias, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (!accumulate) {
    for (int i = 0; i < M; ++i) {
      float* c = C + static_cast<size_t>(i) * N;
      if (bias)
        std::memcpy(c, bias, sizeof(float) * N);
      else
        std::memset(c, 0, sizeof(float) * N);
    }
  }
  if (K <= 0) return;
  const Micro kernel = micro();
  float* bp = threadPackB();
  const int rowBlocks = (M + MC - 1) / MC;
  for (int j0 = 0; j0 < N; j0 += NC) {
    const int nc = std::min(NC, N - j0);
    const int slivers = (nc + NR - 1) / NR;
    // Column groups: split the panel when there are too few row blocks to keep threads busy.
    const int groupSlivers = rowBlocks >= 2 * threads ? slivers : std::max(1, std::min(slivers, 4));
    const int groups = (slivers + groupSlivers - 1) / groupSlivers;
    for (int k0 = 0; k0 < K; k0 += KC) {
      const int kc = std::min(KC, K - k0);
      const size_t packTasks = static_cast<size_t>((slivers + 3) / 4);
      parallelRun(threads, packTasks, [&](size_t t) {
        const int s1 = std::min<int>(slivers, static_cast<int>(t) * 4 + 4);
        for (int s = static_cast<int>(t) * 4; s < s1; ++s) packBSliver(bp + static_cast<size_t>(s) * kc * NR, B, rsB, csB, k0, kc, j0, nc, s);
      });
      parallelRun(threads, static_cast<size_t>(rowBlocks) * groups, [&](size_t t) {
        const int rb = static_cast<int>(t / groups), g = static_cast<int>(t % groups);
        const int i0 = rb * MC, mc = std::min(MC, M - i0);
        float* ap = threadPackA();
        packA(ap, A, rsA, csA, i0, mc, k0, kc);
        alignas(64) float tile[MR * NR];
        const int s0 = g * groupSlivers, s1 = std::min(slivers, s0 + groupSlivers);
        for (int s = s0; s < s1; ++s) {
          const int jb = j0 + s * NR, w = std::min(NR, N - jb);
          const float* b = bp + static_cast<size_t>(s) * kc * NR;
          for (int r = 0; r * MR < mc; ++r) {
            const int ib = i0 + r * MR, h = std::min(MR, M - ib);
            const float* a = ap + static_cast<size_t>(r) * MR * kc;
            float* c = C + static_cast<size_t>(ib) * N + jb;
            if (h == MR && w == NR) {
              kernel(kc, a, b, c, static_cast<size_t>(N));
            } else {
              std::memset(tile, 0, sizeof(tile));
              kernel(kc, a, b, tile, NR);
              for (int i = 0; i < h; ++i)
                for (int j = 0; j < w; ++j) c[static_cast<size_t>(i) * N + j] += tile[i * NR + j];
            }
          }
        }
      });
    }
  }
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

}  // namespace cl::kernels
