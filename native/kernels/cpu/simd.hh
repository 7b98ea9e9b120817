// Shared row helpers of the CPU kernels (layernorm.cc, gelu.cc, bias.cc, softmax.cc, attention.cc):
// a fast exp, 8-lane sums, maxima and dot products, portable (A = false) and AVX2/FMA (A = true).
// Each kernel is a row (or head) function written once as an always-inline body and compiled
// twice — for AVX2/FMA and for the portable baseline — so GCC vectorises it for the machine; the
// driver picks one per call (Exec::avx2()). Reductions use 8 independent lanes (vectorisable
// without reassociation) combined in a fixed order, so results never depend on the thread count.
// Everything here but scratch() has internal linkage: each kernel file gets its own copy.
#pragma once
#include <cmath>
#include <cstddef>
#include <vector>

#define CL_INLINE inline __attribute__((always_inline))
#if defined(__x86_64__) || defined(__i386__)
#define CL_AVX2 __attribute__((target("avx2,fma")))
#include <immintrin.h>
#define CL_HAVE_X86 1
#else
#define CL_AVX2
#endif

namespace cl::kernels {

// The calling thread's scratch buffer of at least n floats (shared by all kernels of a thread).
inline float* scratch(size_t n) {
  static thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return buffer.data();
}

namespace {

constexpr float kEps = 1e-5f;
constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)

// exp(x) for x in about [-87, 88] with ~2 ulp error (Cephes expf), branch-free so loops over it
// vectorise. Values below -87 give ~1e-38 instead of 0 (harmless where it is used).
CL_INLINE float expApprox(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float t = x * 1.44269504088896341f + 12582912.0f;  // round(x / ln2) via the 1.5·2^23 trick
  const float n = t - 12582912.0f;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  const int e = static_cast<int>(n) + 127;
  uint32_t bits = static_cast<uint32_t>(e) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return y * scale;
}

CL_INLINE float combine8(const float* a) { return ((a[0] + a[4]) + (a[1] + a[5])) + ((a[2] + a[6]) + (a[3] + a[7])); }

CL_INLINE float sum8(const float* x, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) acc[l] += x[j + l];
  for (int l = 0; j < n; ++j, ++l) acc[l] += x[j];
  return combine8(acc);
}

CL_INLINE float dot8(const float* x, const float* y, int n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) acc[l] += x[j + l] * y[j + l];
  for (int l = 0; j < n; ++j, ++l) acc[l] += x[j] * y[j];
  return combine8(acc);
}

CL_INLINE float max8(const float* x, int n) {
  float acc[8];
  for (int l = 0; l < 8; ++l) acc[l] = -INFINITY;
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) acc[l] = acc[l] > x[j + l] ? acc[l] : x[j + l];
  for (int l = 0; j < n; ++j, ++l) acc[l] = acc[l] > x[j] ? acc[l] : x[j];
  float m = acc[0];
  for (int l = 1; l < 8; ++l) m = m > acc[l] ? m : acc[l];
  return m;
}

// --- row helpers, portable (A = false) and AVX2/FMA (A = true) -------------------------------------
// The AVX2 ones use explicit intrinsics (GCC does not vectorise expApprox's loops by itself): 8
// lanes, combined in combine8's order, so a result depends only on the data, never on threads.
#ifdef CL_HAVE_X86
CL_AVX2 inline __m256 exp256(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
  const __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(12582912.0f));
  const __m256 n = _mm256_sub_ps(t, _mm256_set1_ps(12582912.0f));
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.9875691500e-4f);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
  const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}
CL_AVX2 inline float hsum256(__m256 v) {
  alignas(32) float a[8];
  _mm256_store_ps(a, v);
  return combine8(a);
}
CL_AVX2 inline float hmax256(__m256 v) {
  alignas(32) float a[8];
  _mm256_store_ps(a, v);
  float m = a[0];
  for (int l = 1; l < 8; ++l) m = m > a[l] ? m : a[l];
  return m;
}
// Lanes j >= n of the last partial vector: a mask of the first n lanes.
CL_AVX2 inline __m256i tailMask(int n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
CL_AVX2 inline float vmaxAvx(const float* x, int n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
  float r = hmax256(m);
  for (; j < n; ++j) r = r > x[j] ? r : x[j];
  return r;
}
// s[j] = exp(s[j] - m) (when store), returns Σ.
template <bool kStore>
CL_AVX2 inline float vexpSubSumAvx(float* s, int n, float m) {
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
    if (kStore) _mm256_storeu_ps(s + j, e);
    acc = _mm256_add_ps(acc, e);
  }
  if (j < n) {
    const __m256i mk = tailMask(n - j);
    const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(s + j, mk), vm)), _mm256_castsi256_ps(mk));
    if (kStore) _mm256_maskstore_ps(s + j, mk, e);
    acc = _mm256_add_ps(acc, e);
  }
  return hsum256(acc);
}
CL_AVX2 inline void vscaleAvx(float* s, int n, float k) {
  const __m256 vk = _mm256_set1_ps(k);
  int j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), vk));
  for (; j < n; ++j) s[j] *= k;
}
CL_AVX2 inline float vdotAvx(const float* x, const float* y, int n) {
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), acc);
  if (j < n) {
    const __m256i mk = tailMask(n - j);
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(x + j, mk), _mm256_maskload_ps(y + j, mk), acc);
  }
  return hsum256(acc);
}

// --- AVX-512 twins of the AVX2 row helpers: the same bits ------------------------------------------
// Each lane runs exp256's operations; sums are folded into an 8-lane accumulator in the AVX2
// order (elements j+l, then j+8+l, into lane l), and the tail is the AVX2 code's, so a row's
// result is exactly the AVX2 helper's. Only the exp work and the loads run 16 lanes wide.
#define CL_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
CL_AVX512 inline __m512 exp512(__m512 x) {
  x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
  const __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), _mm512_set1_ps(12582912.0f));
  const __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(12582912.0f));
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23);
  return _mm512_mul_ps(y, _mm512_castsi512_ps(e));
}
CL_AVX512 inline float vmaxAvx512(const float* x, int n) {
  __m512 m = _mm512_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 16 <= n; j += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + j));
  __m256 m8 = _mm256_max_ps(_mm512_castps512_ps256(m), _mm512_extractf32x8_ps(m, 1));
  for (; j + 8 <= n; j += 8) m8 = _mm256_max_ps(m8, _mm256_loadu_ps(x + j));
  float r = hmax256(m8);
  for (; j < n; ++j) r = r > x[j] ? r : x[j];
  return r;
}
template <bool kStore>
CL_AVX512 inline float vexpSubSumAvx512(float* s, int n, float m) {
  const __m512 vm = _mm512_set1_ps(m);
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + j), vm));
    if (kStore) _mm512_storeu_ps(s + j, e);
    acc = _mm256_add_ps(acc, _mm512_castps512_ps256(e));
    acc = _mm256_add_ps(acc, _mm512_extractf32x8_ps(e, 1));
  }
  const __m256 vm8 = _mm256_set1_ps(m);
  if (j + 8 <= n) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm8));
    if (kStore) _mm256_storeu_ps(s + j, e);
    acc = _mm256_add_ps(acc, e);
    j += 8;
  }
  if (j < n) {
    const __m256i mk = tailMask(n - j);
    const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(s + j, mk), vm8)), _mm256_castsi256_ps(mk));
    if (kStore) _mm256_maskstore_ps(s + j, mk, e);
    acc = _mm256_add_ps(acc, e);
  }
  return hsum256(acc);
}
CL_AVX512 inline void vscaleAvx512(float* s, int n, float k) {
  const __m512 vk = _mm512_set1_ps(k);
  int j = 0;
  for (; j + 16 <= n; j += 16) _mm512_storeu_ps(s + j, _mm512_mul_ps(_mm512_loadu_ps(s + j), vk));
  for (; j < n; ++j) s[j] *= k;
}
#endif

template <bool A>
CL_INLINE float vmax(const float* x, int n) {
#ifdef CL_HAVE_X86
  if (A) return vmaxAvx(x, n);
#endif
  return max8(x, n);
}
template <bool A, bool kStore = true>
CL_INLINE float vexpSubSum(float* s, int n, float m) {
#ifdef CL_HAVE_X86
  if (A) return vexpSubSumAvx<kStore>(s, n, m);
#endif
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= n; j += 8)
    for (int l = 0; l < 8; ++l) {
      const float e = expApprox(s[j + l] - m);
      if (kStore) s[j + l] = e;
      acc[l] += e;
    }
  for (int l = 0; j < n; ++j, ++l) {
    const float e = expApprox(s[j] - m);
    if (kStore) s[j] = e;
    acc[l] += e;
  }
  return combine8(acc);
}
template <bool A>
CL_INLINE void vscale(float* s, int n, float k) {
#ifdef CL_HAVE_X86
  if (A) return vscaleAvx(s, n, k);
#endif
  for (int j = 0; j < n; ++j) s[j] *= k;
}
template <bool A>
CL_INLINE float vdot(const float* x, const float* y, int n) {
#ifdef CL_HAVE_X86
  if (A) return vdotAvx(x, y, n);
#endif
  return dot8(x, y, n);
}

}  // namespace
}  // namespace cl::kernels
