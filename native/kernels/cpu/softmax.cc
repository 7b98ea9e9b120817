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

// --- softmax / cross-entropy ----------------------------------------------------------------------------
template <bool A>
CL_INLINE void ceRows(float* logits, float* losses, const uint32_t* targets, int r0, int r1, int V, float dscale) {
  for (int r = r0; r < r1; ++r) {
    float* z = logits + static_cast<size_t>(r) * V;
    const uint32_t t = targets[r];
    if (t == kIgnore) {
      losses[r] = 0.0f;
      if (dscale != 0.0f) std::memset(z, 0, sizeof(float) * V);
      continue;
    }
    const float m = vmax<A>(z, V);
    const float zt = z[t];
    if (dscale == 0.0f) {
      losses[r] = m + std::log(vexpSubSum<A, false>(z, V, m)) - zt;
      continue;
    }
    const float sum = vexpSubSum<A>(z, V, m);  // z = exp(z - m)
    losses[r] = m + std::log(sum) - zt;
    vscale<A>(z, V, dscale / sum);
    z[t] -= dscale;
  }
}
CL_AVX2 void ceRowsAvx2(float* logits, float* losses, const uint32_t* targets, int r0, int r1, int V, float dscale) {
  ceRows<true>(logits, losses, targets, r0, r1, V, dscale);
}
void ceRowsGeneric(float* logits, float* losses, const uint32_t* targets, int r0, int r1, int V, float dscale) {
  ceRows<false>(logits, losses, targets, r0, r1, V, dscale);
}

template <bool A>
CL_INLINE void softmaxRowsBody(float* x, int r0, int r1, int V) {
  for (int r = r0; r < r1; ++r) {
    float* z = x + static_cast<size_t>(r) * V;
    const float m = vmax<A>(z, V);
    const float k = 1.0f / vexpSubSum<A>(z, V, m);
    vscale<A>(z, V, k);
  }
}
CL_AVX2 void softmaxRowsAvx2(float* x, int r0, int r1, int V) { softmaxRowsBody<true>(x, r0, r1, V); }
void softmaxRowsGeneric(float* x, int r0, int r1, int V) { softmaxRowsBody<false>(x, r0, r1, V); }

}  // namespace

void crossEntropy(Exec ex, float* logits, float* losses, const uint32_t* targets, int N, int V, float dscale) {
  auto f = ex.avx2() ? ceRowsAvx2 : ceRowsGeneric;
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
#else
void expShiftAvx2(float* out, const float* z, size_t n, float m, float scale) { expShiftBody(out, z, n, m, scale); }
#endif
void expShiftGeneric(float* out, const float* z, size_t n, float m, float scale) { expShiftBody(out, z, n, m, scale); }
}  // namespace

void expShiftRow(float* out, const float* z, size_t n, float m, float scale, Isa isa) {
  (Exec(1, isa).avx2() ? expShiftAvx2 : expShiftGeneric)(out, z, n, m, scale);
}
float maxRow(const float* z, size_t n, Isa isa) {
#ifdef CL_HAVE_X86
  if (Exec(1, isa).avx2()) return vmaxAvx(z, static_cast<int>(n));
#endif
  return max8(z, static_cast<int>(n));
}

void softmaxRows(Exec ex, float* x, int N, int V) {
  auto f = ex.avx2() ? softmaxRowsAvx2 : softmaxRowsGeneric;
  parallelRun(ex.threads, (N + 3) / 4, [&](size_t t) {
    const int r0 = static_cast<int>(t) * 4;
    f(x, r0, std::min(N, r0 + 4), V);
  });
}

}  // namespace cl::kernels
