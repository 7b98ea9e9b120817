// Row softmax, fused softmax + cross-entropy, and the sampler's exp/max row helpers (AVX2/FMA or
// portable; see simd.hh). Rows are split into tasks of four, each row computed by one task.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/pool.hh"
#include "kernels/cpu/kernels.hh"
#include "kernels/cpu/simd.hh"

namespace cl::kernels {

namespace {

// Path L of a row helper: 0 portable, 1 AVX2, 2 AVX-512 (the AVX2 bits; see simd.hh).
template <int L>
CL_INLINE float lmax(const float* x, int n) {
#ifdef CL_HAVE_X86
  if (L == 2) return vmaxAvx512(x, n);
#endif
  return vmax<L == 1>(x, n);
}
template <int L, bool kStore = true>
CL_INLINE float lexpSubSum(float* s, int n, float m) {
#ifdef CL_HAVE_X86
  if (L == 2) return vexpSubSumAvx512<kStore>(s, n, m);
#endif
  return vexpSubSum<L == 1, kStore>(s, n, m);
}
template <int L>
CL_INLINE void lscale(float* s, int n, float k) {
#ifdef CL_HAVE_X86
  if (L == 2) return vscaleAvx512(s, n, k);
#endif
  vscale<L == 1>(s, n, k);
}

// --- softmax / cross-entropy ----------------------------------------------------------------------------
template <int A>
CL_INLINE void ceRows(float* logits, float* losses, const uint32_t* targets, int r0, int r1, int V, float dscale) {
  for (int r = r0; r < r1; ++r) {
    float* z = logits + static_cast<size_t>(r) * V;
    const uint32_t t = targets[r];
    if (t == kIgnore) {
      losses[r] = 0.0f;
      if (dscale != 0.0f) std::memset(z, 0, sizeof(float) * V);
      continue;
    }
    const float m = lmax<A>(z, V);
    const float zt = z[t];
    if (dscale == 0.0f) {
      losses[r] = m + std::log(lexpSubSum<A, false>(z, V, m)) - zt;
      continue;
    }
    const float sum = lexpSubSum<A>(z, V, m);  // z = exp(z - m)
    losses[r] = m + std::log(sum) - zt;
    lscale<A>(z, V, dscale / sum);
    z[t] -= dscale;
  }
}
CL_AVX2 void ceRowsAvx2(float* logits, float* losses, const uint32_t* targets, int r0, int r1, int V, float dscale) {
  ceRows<1>(logits, losses, targets, r0, r1, V, dscale);
}
void ceRowsGeneric(float* logits, float* losses, const uint32_t* targets, int r0, int r1, int V, float dscale) {
  ceRows<0>(logits, losses, targets, r0, r1, V, dscale);
}
#ifdef CL_HAVE_X86
CL_AVX512 void ceRowsAvx512(float* logits, float* losses, const uint32_t* targets, int r0, int r1, int V, float dscale) {
  ceRows<2>(logits, losses, targets, r0, r1, V, dscale);
}
#else
void ceRowsAvx512(float* logits, float* losses, const uint32_t* targets, int r0, int r1, int V, float dscale) {
  ceRows<0>(logits, losses, targets, r0, r1, V, dscale);
}
#endif

template <int A>
CL_INLINE void softmaxRowsBody(float* x, int r0, int r1, int V) {
  for (int r = r0; r < r1; ++r) {
    float* z = x + static_cast<size_t>(r) * V;
    const float m = lmax<A>(z, V);
    const float k = 1.0f / lexpSubSum<A>(z, V, m);
    lscale<A>(z, V, k);
  }
}
CL_AVX2 void softmaxRowsAvx2(float* x, int r0, int r1, int V) { softmaxRowsBody<1>(x, r0, r1, V); }
void softmaxRowsGeneric(float* x, int r0, int r1, int V) { softmaxRowsBody<0>(x, r0, r1, V); }
#ifdef CL_HAVE_X86
CL_AVX512 void softmaxRowsAvx512(float* x, int r0, int r1, int V) { softmaxRowsBody<2>(x, r0, r1, V); }
#else
void softmaxRowsAvx512(float* x, int r0, int r1, int V) { softmaxRowsBody<0>(x, r0, r1, V); }
#endif

}  // namespace

void crossEntropy(Exec ex, float* logits, float* losses, const uint32_t* targets, int N, int V, float dscale) {
  auto f = ex.avx512() ? ceRowsAvx512 : ex.avx2() ? ceRowsAvx2 : ceRowsGeneric;
  parallelRun(ex.threads, (N + 3) / 4, [&](size_t t) {
    const int r0 = static_cast<int>(t) * 4;
    f(logits, losses, targets, r0, std::min(N, r0 + 4), V, dscale);
  });
}

namespace {
CL_INLINE void expShiftBody(float* out, const float* z, size_t n, float m, float scale) {
  for (size_t i = 0; i < n; ++i) out[i] = expApprox((z[i] - m) * scale);
}
#ifdef CL_HAVE_X86
CL_AVX2 void expShiftAvx2(float* out, const float* z, size_t n, float m, float scale) {
  const __m256 vm = _mm256_set1_ps(m), vs = _mm256_set1_ps(scale);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, exp256(_mm256_mul_ps(_mm256_sub_ps(_mm256_loadu_ps(z + i), vm), vs)));
  expShiftBody(out + i, z + i, n - i, m, scale);
}
// 16 lanes, then the AVX2 loop's 8 and its scalar tail: the same bits.
CL_AVX512 void expShiftAvx512(float* out, const float* z, size_t n, float m, float scale) {
  const __m512 vm = _mm512_set1_ps(m), vs = _mm512_set1_ps(scale);
  size_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, exp512(_mm512_mul_ps(_mm512_sub_ps(_mm512_loadu_ps(z + i), vm), vs)));
  expShiftAvx2(out + i, z + i, n - i, m, scale);
}
#else
void expShiftAvx2(float* out, const float* z, size_t n, float m, float scale) { expShiftBody(out, z, n, m, scale); }
void expShiftAvx512(float* out, const float* z, size_t n, float m, float scale) { expShiftBody(out, z, n, m, scale); }
#endif
void expShiftGeneric(float* out, const float* z, size_t n, float m, float scale) { expShiftBody(out, z, n, m, scale); }
}  // namespace

void expShiftRow(float* out, const float* z, size_t n, float m, float scale, Isa isa) {
  const Exec ex(1, isa);
  (ex.avx512() ? expShiftAvx512 : ex.avx2() ? expShiftAvx2 : expShiftGeneric)(out, z, n, m, scale);
}
float maxRow(const float* z, size_t n, Isa isa) {
#ifdef CL_HAVE_X86
  if (Exec(1, isa).avx512()) return vmaxAvx512(z, static_cast<int>(n));
  if (Exec(1, isa).avx2()) return vmaxAvx(z, static_cast<int>(n));
#endif
  return max8(z, static_cast<int>(n));
}

void softmaxRows(Exec ex, float* x, int N, int V) {
  auto f = ex.avx512() ? softmaxRowsAvx512 : ex.avx2() ? softmaxRowsAvx2 : softmaxRowsGeneric;
  parallelRun(ex.threads, (N + 3) / 4, [&](size_t t) {
    const int r0 = static_cast<int>(t) * 4;
    f(x, r0, std::min(N, r0 + 4), V);
  });
}

}  // namespace cl::kernels
