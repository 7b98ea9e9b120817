// Fast CPU kernels other than matmul: layernorm, gelu_new, attention, softmax and fused
// softmax–cross-entropy. Each is a row (or head) function written once as an always-inline body
// and compiled twice — for AVX2/FMA and for the portable baseline — so GCC vectorises it for the
// machine; the driver picks one at runtime. Reductions use 8 independent lanes (vectorisable
// without reassociation) combined in a fixed order, so results never depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/kernels.hh"
#include "kernels/cpu/pool.hh"

#define CL_INLINE inline __attribute__((always_inline))
#if defined(__x86_64__) || defined(__i386__)
#define CL_AVX2 __attribute__((target("avx2,fma")))
#else
#define CL_AVX2
#endif

namespace cl::kernels {

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
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CL_HAVE_X86 1
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
CL_AVX2 float vmaxAvx(const float* x, int n) {
  __m256 m = _mm256_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 8 <= n; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
  float r = hmax256(m);
  for (; j < n; ++j) r = r > x[j] ? r : x[j];
  return r;
}
// s[j] = exp(s[j] - m) (when store), returns Σ.
template <bool kStore>
CL_AVX2 float vexpSubSumAvx(float* s, int n, float m) {
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
CL_AVX2 void vscaleAvx(float* s, int n, float k) {
  const __m256 vk = _mm256_set1_ps(k);
  int j = 0;
  for (; j + 8 <= n; j += 8) _mm256_storeu_ps(s + j, _mm256_mul_ps(_mm256_loadu_ps(s + j), vk));
  for (; j < n; ++j) s[j] *= k;
}
CL_AVX2 float vdotAvx(const float* x, const float* y, int n) {
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), acc);
  if (j < n) {
    const __m256i mk = tailMask(n - j);
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(x + j, mk), _mm256_maskload_ps(y + j, mk), acc);
  }
  return hsum256(acc);
}
// Attention backward, one channel d of a query row, in one pass over its keys: returns
// Σ_j dp[j]·kt[j] (dq[d], as vdotAvx sums it) while dk[j] += dp[j]·qd and dv[j] += p[j]·gd
// (multiply, then add: the rounding of the plain loop).
CL_AVX2 float attnBwdChannelAvx(const float* dp, const float* p, const float* kt, float* dk, float* dv, float qd, float gd, int n) {
  const __m256 vq = _mm256_set1_ps(qd), vg = _mm256_set1_ps(gd);
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_loadu_ps(dp + j);
    acc = _mm256_fmadd_ps(x, _mm256_loadu_ps(kt + j), acc);
    _mm256_storeu_ps(dk + j, _mm256_add_ps(_mm256_loadu_ps(dk + j), _mm256_mul_ps(x, vq)));
    _mm256_storeu_ps(dv + j, _mm256_add_ps(_mm256_loadu_ps(dv + j), _mm256_mul_ps(_mm256_loadu_ps(p + j), vg)));
  }
  if (j < n) {
    const __m256i mk = tailMask(n - j);
    const __m256 x = _mm256_maskload_ps(dp + j, mk);
    acc = _mm256_fmadd_ps(x, _mm256_maskload_ps(kt + j, mk), acc);
    _mm256_maskstore_ps(dk + j, mk, _mm256_add_ps(_mm256_maskload_ps(dk + j, mk), _mm256_mul_ps(x, vq)));
    _mm256_maskstore_ps(dv + j, mk, _mm256_add_ps(_mm256_maskload_ps(dv + j, mk), _mm256_mul_ps(_mm256_maskload_ps(p + j, mk), vg)));
  }
  return hsum256(acc);
}
// Row-layout attention paths, for a head size hd that is a multiple of 8 (16 in the default
// experiment model, 48 and 64 in larger ones): a head's vectors are then whole ymm registers, and
// the mixing products run along the key rows with no horizontal sums (the per-channel path pays
// one per output channel and row). Measured here (8 sequences × 128 positions, hd 16, one thread,
// best of 400): forward 1.04 → 0.79 ms, backward 2.83 → 1.86 ms (with attnBwdHeadRowsAvx2).
//
// o[0..hd) = inv · Σ_{j<n} s[j] · vr[j*hd ..] (vr row-major (n, hd)): four partial sums over
// j mod 4, combined in a fixed order.
CL_AVX2 void attnMixRowsAvx(float* o, const float* s, const float* vr, int hd, int n, float inv) {
  const __m256 vi = _mm256_set1_ps(inv);
  for (int c = 0; c < hd; c += 8) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    const float* v = vr + c;
    const size_t st = static_cast<size_t>(hd);
    int j = 0;
    for (; j + 4 <= n; j += 4, v += 4 * st) {
      a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s + j), _mm256_loadu_ps(v), a0);
      a1 = _mm256_fmadd_ps(_mm256_broadcast_ss(s + j + 1), _mm256_loadu_ps(v + st), a1);
      a2 = _mm256_fmadd_ps(_mm256_broadcast_ss(s + j + 2), _mm256_loadu_ps(v + 2 * st), a2);
      a3 = _mm256_fmadd_ps(_mm256_broadcast_ss(s + j + 3), _mm256_loadu_ps(v + 3 * st), a3);
    }
    for (; j < n; ++j, v += st) a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(s + j), _mm256_loadu_ps(v), a0);
    _mm256_storeu_ps(o + c, _mm256_mul_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), vi));
  }
}
// Attention backward of one query row over n keys, row layout: dq[0..hd) += Σ_j dp[j]·kr[j] (four
// partial sums over j mod 4, fixed order), dkr[j] += dp[j]·q and dvr[j] += p[j]·g (multiply, then add).
CL_AVX2 void attnBwdRowsAvx(float* dq, const float* dp, const float* p, const float* kr, float* dkr, float* dvr, const float* q, const float* g,
                            int hd, int n) {
  const size_t st = static_cast<size_t>(hd);
  for (int c = 0; c < hd; c += 8) {
    const __m256 vq = _mm256_loadu_ps(q + c), vg = _mm256_loadu_ps(g + c);
    // Named accumulators, unrolled by four (an indexed array of them went through the stack).
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
#define CL_BWD_KEY(j, acc)                                                                                        \
  do {                                                                                                     \
    const size_t o = (j) * st + c;                                                                         \
    const __m256 x = _mm256_broadcast_ss(dp + (j));                                                        \
    acc = _mm256_fmadd_ps(x, _mm256_loadu_ps(kr + o), acc);                                                \
    _mm256_storeu_ps(dkr + o, _mm256_add_ps(_mm256_loadu_ps(dkr + o), _mm256_mul_ps(x, vq)));              \
    _mm256_storeu_ps(dvr + o, _mm256_add_ps(_mm256_loadu_ps(dvr + o), _mm256_mul_ps(_mm256_broadcast_ss(p + (j)), vg))); \
  } while (0)
    int j = 0;
    for (; j + 4 <= n; j += 4) {
      CL_BWD_KEY(j, a0);
      CL_BWD_KEY(j + 1, a1);
      CL_BWD_KEY(j + 2, a2);
      CL_BWD_KEY(j + 3, a3);
    }
    if (j < n) CL_BWD_KEY(j, a0);
    if (j + 1 < n) CL_BWD_KEY(j + 1, a1);
    if (j + 2 < n) CL_BWD_KEY(j + 2, a2);
#undef CL_BWD_KEY
    _mm256_storeu_ps(dq + c, _mm256_add_ps(_mm256_loadu_ps(dq + c), _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3))));
  }
}
// Attention backward row: p[j] = exp(p[j] - l); dp[j] = p[j] * (dp[j] - D).
CL_AVX2 void vsoftmaxGradAvx(float* p, float* dp, int n, float l, float D) {
  const __m256 vl = _mm256_set1_ps(l), vD = _mm256_set1_ps(D);
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(p + j), vl));
    _mm256_storeu_ps(p + j, e);
    _mm256_storeu_ps(dp + j, _mm256_mul_ps(e, _mm256_sub_ps(_mm256_loadu_ps(dp + j), vD)));
  }
  for (; j < n; ++j) {
    p[j] = expApprox(p[j] - l);
    dp[j] = p[j] * (dp[j] - D);
  }
}
// s[j] = Σ_d q[d] · kt[d*ld + j] for j < n, as two partial sums (even and odd channels) added at
// the end. Thirty-two keys at a time keep eight independent FMA chains in flight (it was sixteen
// keys, two chains, each hd FMAs long: latency-bound, and a third of attention's profile).
CL_AVX2 void vscoresAvx(float* s, const float* q, const float* kt, size_t ld, int hd, int n) {
  int j = 0;
  for (; j + 32 <= n; j += 32) {
    __m256 e0 = _mm256_setzero_ps(), e1 = _mm256_setzero_ps(), e2 = _mm256_setzero_ps(), e3 = _mm256_setzero_ps();
    __m256 o0 = _mm256_setzero_ps(), o1 = _mm256_setzero_ps(), o2 = _mm256_setzero_ps(), o3 = _mm256_setzero_ps();
    int d = 0;
    for (; d + 2 <= hd; d += 2) {
      const float* k0 = kt + d * ld + j;
      const float* k1 = k0 + ld;
      const __m256 qe = _mm256_broadcast_ss(q + d), qo = _mm256_broadcast_ss(q + d + 1);
      e0 = _mm256_fmadd_ps(qe, _mm256_loadu_ps(k0), e0);
      e1 = _mm256_fmadd_ps(qe, _mm256_loadu_ps(k0 + 8), e1);
      e2 = _mm256_fmadd_ps(qe, _mm256_loadu_ps(k0 + 16), e2);
      e3 = _mm256_fmadd_ps(qe, _mm256_loadu_ps(k0 + 24), e3);
      o0 = _mm256_fmadd_ps(qo, _mm256_loadu_ps(k1), o0);
      o1 = _mm256_fmadd_ps(qo, _mm256_loadu_ps(k1 + 8), o1);
      o2 = _mm256_fmadd_ps(qo, _mm256_loadu_ps(k1 + 16), o2);
      o3 = _mm256_fmadd_ps(qo, _mm256_loadu_ps(k1 + 24), o3);
    }
    if (d < hd) {
      const float* k0 = kt + d * ld + j;
      const __m256 qe = _mm256_broadcast_ss(q + d);
      e0 = _mm256_fmadd_ps(qe, _mm256_loadu_ps(k0), e0);
      e1 = _mm256_fmadd_ps(qe, _mm256_loadu_ps(k0 + 8), e1);
      e2 = _mm256_fmadd_ps(qe, _mm256_loadu_ps(k0 + 16), e2);
      e3 = _mm256_fmadd_ps(qe, _mm256_loadu_ps(k0 + 24), e3);
    }
    _mm256_storeu_ps(s + j, _mm256_add_ps(e0, o0));
    _mm256_storeu_ps(s + j + 8, _mm256_add_ps(e1, o1));
    _mm256_storeu_ps(s + j + 16, _mm256_add_ps(e2, o2));
    _mm256_storeu_ps(s + j + 24, _mm256_add_ps(e3, o3));
  }
  // The last 1..31 keys, eight at a time (the same two partial sums).
  for (; j < n; j += 8) {
    const __m256i mk = tailMask(n - j);
    __m256 e = _mm256_setzero_ps(), o = _mm256_setzero_ps();
    int d = 0;
    for (; d + 2 <= hd; d += 2) {
      e = _mm256_fmadd_ps(_mm256_broadcast_ss(q + d), _mm256_maskload_ps(kt + d * ld + j, mk), e);
      o = _mm256_fmadd_ps(_mm256_broadcast_ss(q + d + 1), _mm256_maskload_ps(kt + (d + 1) * ld + j, mk), o);
    }
    if (d < hd) e = _mm256_fmadd_ps(_mm256_broadcast_ss(q + d), _mm256_maskload_ps(kt + d * ld + j, mk), e);
    _mm256_maskstore_ps(s + j, mk, _mm256_add_ps(e, o));
  }
}
#endif

template <bool A>
CL_INLINE void vscores(float* s, const float* q, const float* kt, size_t ld, int hd, int n) {
#ifdef CL_HAVE_X86
  if (A) return vscoresAvx(s, q, kt, ld, hd, n);
#endif
  for (int j = 0; j < n; ++j) s[j] = 0.0f;
  for (int d = 0; d < hd; ++d) {
    const float qd = q[d];
    const float* kr = kt + d * ld;
    for (int j = 0; j < n; ++j) s[j] += qd * kr[j];
  }
}

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
template <bool A>
CL_INLINE void vsoftmaxGrad(float* p, float* dp, int n, float l, float D) {
#ifdef CL_HAVE_X86
  if (A) return vsoftmaxGradAvx(p, dp, n, l, D);
#endif
  for (int j = 0; j < n; ++j) {
    p[j] = expApprox(p[j] - l);
    dp[j] = p[j] * (dp[j] - D);
  }
}

// --- layernorm -----------------------------------------------------------------------------------
CL_INLINE void lnForwardRows(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int r0, int r1, int C) {
  for (int r = r0; r < r1; ++r) {
    const float* x = inp + static_cast<size_t>(r) * C;
    float* o = out + static_cast<size_t>(r) * C;
    const float m = sum8(x, C) / C;
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int j = 0;
    for (; j + 8 <= C; j += 8)
      for (int l = 0; l < 8; ++l) acc[l] += (x[j + l] - m) * (x[j + l] - m);
    for (int l = 0; j < C; ++j, ++l) acc[l] += (x[j] - m) * (x[j] - m);
    const float v = combine8(acc) / C;
    const float s = 1.0f / std::sqrt(v + kEps);
    for (int i = 0; i < C; ++i) o[i] = (x[i] - m) * s * w[i] + b[i];
    mean[r] = m;
    rstd[r] = s;
  }
}
CL_AVX2 void lnForwardRowsAvx2(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int r0, int r1, int C) {
  lnForwardRows(out, mean, rstd, inp, w, b, r0, r1, C);
}
void lnForwardRowsGeneric(float* out, float* mean, float* rstd, const float* inp, const float* w, const float* b, int r0, int r1, int C) {
  lnForwardRows(out, mean, rstd, inp, w, b, r0, r1, C);
}

// dinp rows; needs C floats of scratch.
CL_INLINE void lnBackwardRows(float* dinp, const float* dout, const float* inp, const float* w, const float* mean, const float* rstd, int r0,
                              int r1, int C, float* dnorm) {
  for (int r = r0; r < r1; ++r) {
    const float* x = inp + static_cast<size_t>(r) * C;
    const float* g = dout + static_cast<size_t>(r) * C;
    float* d = dinp + static_cast<size_t>(r) * C;
    const float m = mean[r], s = rstd[r];
    float a1[8] = {0, 0, 0, 0, 0, 0, 0, 0}, a2[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < C; ++i) dnorm[i] = w[i] * g[i];
    int j = 0;
    for (; j + 8 <= C; j += 8)
      for (int l = 0; l < 8; ++l) {
        a1[l] += dnorm[j + l];
        a2[l] += dnorm[j + l] * (x[j + l] - m) * s;
      }
    for (int l = 0; j < C; ++j, ++l) {
      a1[l] += dnorm[j];
      a2[l] += dnorm[j] * (x[j] - m) * s;
    }
    const float mean1 = combine8(a1) / C, mean2 = combine8(a2) / C;
    for (int i = 0; i < C; ++i) d[i] += (dnorm[i] - mean1 - (x[i] - m) * s * mean2) * s;
  }
}
CL_AVX2 void lnBackwardRowsAvx2(float* dinp, const float* dout, const float* inp, const float* w, const float* mean, const float* rstd, int r0,
                                int r1, int C, float* dnorm) {
  lnBackwardRows(dinp, dout, inp, w, mean, rstd, r0, r1, C, dnorm);
}
void lnBackwardRowsGeneric(float* dinp, const float* dout, const float* inp, const float* w, const float* mean, const float* rstd, int r0,
                           int r1, int C, float* dnorm) {
  lnBackwardRows(dinp, dout, inp, w, mean, rstd, r0, r1, C, dnorm);
}

// dweight, dbias for columns [c0, c1), summing rows in order.
CL_INLINE void lnBackwardCols(float* dw, float* db, const float* dout, const float* inp, const float* mean, const float* rstd, int N, int C,
                              int c0, int c1) {
  float aw[64], ab[64];
  const int w = c1 - c0;
  for (int i = 0; i < w; ++i) aw[i] = ab[i] = 0.0f;
  for (int r = 0; r < N; ++r) {
    const float* x = inp + static_cast<size_t>(r) * C + c0;
    const float* g = dout + static_cast<size_t>(r) * C + c0;
    const float m = mean[r], s = rstd[r];
    for (int i = 0; i < w; ++i) {
      aw[i] += g[i] * ((x[i] - m) * s);
      ab[i] += g[i];
    }
  }
  for (int i = 0; i < w; ++i) {
    dw[c0 + i] += aw[i];
    db[c0 + i] += ab[i];
  }
}
CL_AVX2 void lnBackwardColsAvx2(float* dw, float* db, const float* dout, const float* inp, const float* mean, const float* rstd, int N, int C,
                                int c0, int c1) {
  lnBackwardCols(dw, db, dout, inp, mean, rstd, N, C, c0, c1);
}
void lnBackwardColsGeneric(float* dw, float* db, const float* dout, const float* inp, const float* mean, const float* rstd, int N, int C,
                           int c0, int c1) {
  lnBackwardCols(dw, db, dout, inp, mean, rstd, N, C, c0, c1);
}

// --- bias backward ---------------------------------------------------------------------------------
CL_INLINE void biasCols(float* db, const float* dout, int BT, int OC, int c0, int c1) {
  float acc[64];
  const int w = c1 - c0;
  for (int i = 0; i < w; ++i) acc[i] = 0.0f;
  for (int r = 0; r < BT; ++r) {
    const float* g = dout + static_cast<size_t>(r) * OC + c0;
    for (int i = 0; i < w; ++i) acc[i] += g[i];
  }
  for (int i = 0; i < w; ++i) db[c0 + i] += acc[i];
}
CL_AVX2 void biasColsAvx2(float* db, const float* dout, int BT, int OC, int c0, int c1) { biasCols(db, dout, BT, OC, c0, c1); }
void biasColsGeneric(float* db, const float* dout, int BT, int OC, int c0, int c1) { biasCols(db, dout, BT, OC, c0, c1); }

// --- gelu ----------------------------------------------------------------------------------------------
CL_INLINE void geluFwd(float* out, const float* x, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = kGeluC * (v + 0.044715f * v * v * v);
    const float th = 1.0f - 2.0f / (1.0f + expApprox(2.0f * u));
    out[i] = 0.5f * v * (1.0f + th);
  }
}
#ifdef CL_HAVE_X86
// tanh(u) = 1 - 2 / (1 + exp(2u)), as the portable body, vectorised.
CL_AVX2 inline __m256 tanhGelu(__m256 v) {
  const __m256 v3 = _mm256_mul_ps(_mm256_mul_ps(v, v), v);
  const __m256 u = _mm256_mul_ps(_mm256_set1_ps(kGeluC), _mm256_fmadd_ps(_mm256_set1_ps(0.044715f), v3, v));
  const __m256 e = exp256(_mm256_add_ps(u, u));
  return _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), e)));
}
// The last partial vector goes through the same vector arithmetic (masked), not the portable
// loop: an element's result must not depend on where it falls in the array (decoding runs gelu
// over n rows × I, and n varies with how the lanes batch their sequences).
CL_AVX2 void geluFwdAvx2(float* out, const float* x, size_t n) {
  size_t i = 0;
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, tanhGelu(v))));
  }
  if (i < n) {
    const __m256i mk = tailMask(static_cast<int>(n - i));
    const __m256 v = _mm256_maskload_ps(x + i, mk);
    _mm256_maskstore_ps(out + i, mk, _mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_add_ps(one, tanhGelu(v))));
  }
}
#else
CL_AVX2 void geluFwdAvx2(float* out, const float* x, size_t n) { geluFwd(out, x, n); }
#endif
void geluFwdGeneric(float* out, const float* x, size_t n) { geluFwd(out, x, n); }

CL_INLINE void geluBwd(float* d, const float* x, const float* g, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float u = kGeluC * (v + 0.044715f * v * v * v);
    const float th = 1.0f - 2.0f / (1.0f + expApprox(2.0f * u));
    const float du = kGeluC * (1.0f + 3.0f * 0.044715f * v * v);
    d[i] = (0.5f * (1.0f + th) + 0.5f * v * (1.0f - th * th) * du) * g[i];
  }
}
#ifdef CL_HAVE_X86
CL_AVX2 inline __m256 geluGrad8(__m256 v, __m256 gv, __m256 half, __m256 one, __m256 c, __m256 c3) {
  const __m256 th = tanhGelu(v);
  const __m256 du = _mm256_fmadd_ps(c3, _mm256_mul_ps(v, v), c);
  const __m256 a = _mm256_mul_ps(half, _mm256_add_ps(one, th));
  const __m256 b = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(half, v), _mm256_fnmadd_ps(th, th, one)), du);
  return _mm256_mul_ps(_mm256_add_ps(a, b), gv);
}
CL_AVX2 void geluBwdAvx2(float* d, const float* x, const float* g, size_t n) {
  size_t i = 0;
  const __m256 half = _mm256_set1_ps(0.5f), one = _mm256_set1_ps(1.0f);
  const __m256 c = _mm256_set1_ps(kGeluC), c3 = _mm256_set1_ps(kGeluC * 3.0f * 0.044715f);
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, geluGrad8(_mm256_loadu_ps(x + i), _mm256_loadu_ps(g + i), half, one, c, c3));
  if (i < n) {  // as in geluFwdAvx2: the same arithmetic for the last partial vector
    const __m256i mk = tailMask(static_cast<int>(n - i));
    _mm256_maskstore_ps(d + i, mk, geluGrad8(_mm256_maskload_ps(x + i, mk), _mm256_maskload_ps(g + i, mk), half, one, c, c3));
  }
}
#else
CL_AVX2 void geluBwdAvx2(float* d, const float* x, const float* g, size_t n) { geluBwd(d, x, g, n); }
#endif
void geluBwdGeneric(float* d, const float* x, const float* g, size_t n) { geluBwd(d, x, g, n); }

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

// --- attention -------------------------------------------------------------------------------------------
// dst[0..n) = src[0..n) for n a multiple of 8, in inline 32-byte moves: the attention's head rows
// are 8-64 floats, and a memcpy call per row cost more than the copy (5% of a small model's step).
inline void copyRows8(float* dst, const float* src, int n) {
  for (int i = 0; i < n; i += 8) __builtin_memcpy(dst + i, src + i, 32);
}

// Head h's keys and values of one sequence (base: its (T, 3C) qkv rows), transposed to (hd, T):
// each channel contiguous along positions, as the row kernels read them.
// With vRows, the values are copied in row layout instead, (T, hd).
inline void transposeKV(float* kt, float* vt, const float* base, int h, int hd, int T, int C, bool vRows = false) {
  const size_t C3 = 3 * static_cast<size_t>(C);
  for (int j = 0; j < T; ++j) {
    const float* k = base + j * C3 + C + h * hd;
    const float* v = base + j * C3 + 2 * C + h * hd;
    for (int d = 0; d < hd; ++d) kt[static_cast<size_t>(d) * T + j] = k[d];
    if (vRows)
      copyRows8(vt + static_cast<size_t>(j) * hd, v, hd);
    else
      for (int d = 0; d < hd; ++d) vt[static_cast<size_t>(d) * T + j] = v[d];
  }
}

// One (b, h) pair. Scratch: kt, vt (hd × T, transposed keys/values), s (T).
template <bool A>
CL_INLINE void attnFwdHead(float* out, float* lse, const float* qkv, int b, int h, int T, int C, int H, int window, float* kt, float* vt,
                           float* s) {
  const int hd = C / H;
  const size_t C3 = 3 * static_cast<size_t>(C);
  const float* base = qkv + static_cast<size_t>(b) * T * C3;
  // V in row layout (vt holds (T, hd)), see attnMixRowsAvx: x86 only, where that kernel exists.
#ifdef CL_HAVE_X86
  const bool rows = A && hd % 8 == 0;
#else
  const bool rows = false;
#endif
  transposeKV(kt, vt, base, h, hd, T, C, rows);
  for (int i = 0; i < T; ++i) {
    const float* q = base + i * C3 + h * hd;
    const int lo = window > 0 ? std::max(0, i - window + 1) : 0;
    const int n = i - lo + 1;
    vscores<A>(s, q, kt + lo, static_cast<size_t>(T), hd, n);
    const float m = vmax<A>(s, n);
    const float sum = vexpSubSum<A>(s, n, m);
    const float inv = 1.0f / sum;
    float* o = out + (static_cast<size_t>(b) * T + i) * C + h * hd;
    if (rows) {
#ifdef CL_HAVE_X86
      attnMixRowsAvx(o, s, vt + static_cast<size_t>(lo) * hd, hd, n, inv);
#endif
    } else {
      for (int d = 0; d < hd; ++d) o[d] = vdot<A>(s, vt + static_cast<size_t>(d) * T + lo, n) * inv;
    }
    lse[(static_cast<size_t>(b) * H + h) * T + i] = m + std::log(sum);
  }
}
CL_AVX2 void attnFwdHeadAvx2(float* out, float* lse, const float* qkv, int b, int h, int T, int C, int H, int window, float* kt, float* vt,
                             float* s) {
  attnFwdHead<true>(out, lse, qkv, b, h, T, C, H, window, kt, vt, s);
}
void attnFwdHeadGeneric(float* out, float* lse, const float* qkv, int b, int h, int T, int C, int H, int window, float* kt, float* vt,
                        float* s) {
  attnFwdHead<false>(out, lse, qkv, b, h, T, C, H, window, kt, vt, s);
}

// Scratch: kt, vt, dkt, dvt (hd × T each), p, dp (T each).
template <bool A>
CL_INLINE void attnBwdHead(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T, int C,
                           int H, int window, float* kt, float* vt, float* dkt, float* dvt, float* p, float* dp) {
  const int hd = C / H;
  const size_t C3 = 3 * static_cast<size_t>(C);
  const float* base = qkv + static_cast<size_t>(b) * T * C3;
  float* dbase = dqkv + static_cast<size_t>(b) * T * C3;
  transposeKV(kt, vt, base, h, hd, T, C);
  std::memset(dkt, 0, sizeof(float) * hd * T);
  std::memset(dvt, 0, sizeof(float) * hd * T);
  for (int i = 0; i < T; ++i) {
    const float* q = base + i * C3 + h * hd;
    const float* g = dout + (static_cast<size_t>(b) * T + i) * C + h * hd;
    const float* o = out + (static_cast<size_t>(b) * T + i) * C + h * hd;
    const float l = lse[(static_cast<size_t>(b) * H + h) * T + i];
    const int lo = window > 0 ? std::max(0, i - window + 1) : 0;
    const int n = i - lo + 1;
    vscores<A>(p, q, kt + lo, static_cast<size_t>(T), hd, n);
    vscores<A>(dp, g, vt + lo, static_cast<size_t>(T), hd, n);
    float D = 0.0f;
    for (int d = 0; d < hd; ++d) D += g[d] * o[d];
    vsoftmaxGrad<A>(p, dp, n, l, D);  // p = softmax row, dp = d(score)
    float* dq = dbase + i * C3 + h * hd;
    for (int d = 0; d < hd; ++d) {
      const float qd = q[d], gd = g[d];
      float* dk = dkt + static_cast<size_t>(d) * T + lo;
      float* dv = dvt + static_cast<size_t>(d) * T + lo;
#ifdef CL_HAVE_X86
      if (A) {
        dq[d] = attnBwdChannelAvx(dp, p, kt + static_cast<size_t>(d) * T + lo, dk, dv, qd, gd, n);
        continue;
      }
#endif
      dq[d] = vdot<A>(dp, kt + static_cast<size_t>(d) * T + lo, n);
      for (int j = 0; j < n; ++j) {
        dk[j] += dp[j] * qd;
        dv[j] += p[j] * gd;
      }
    }
  }
  for (int j = 0; j < T; ++j) {
    float* dk = dbase + j * C3 + C + h * hd;
    float* dv = dbase + j * C3 + 2 * C + h * hd;
    for (int d = 0; d < hd; ++d) {
      dk[d] = dkt[static_cast<size_t>(d) * T + j];
      dv[d] = dvt[static_cast<size_t>(d) * T + j];
    }
  }
}
CL_AVX2 void attnBwdHeadAvx2(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T, int C,
                             int H, int window, float* kt, float* vt, float* dkt, float* dvt, float* p, float* dp) {
  attnBwdHead<true>(dqkv, dout, qkv, out, lse, b, h, T, C, H, window, kt, vt, dkt, dvt, p, dp);
}
void attnBwdHeadGeneric(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T, int C, int H,
                        int window, float* kt, float* vt, float* dkt, float* dvt, float* p, float* dp) {
  attnBwdHead<false>(dqkv, dout, qkv, out, lse, b, h, T, C, H, window, kt, vt, dkt, dvt, p, dp);
}

#ifdef CL_HAVE_X86
// Key-block size of attnBwdHeadRowsAvx2: a block's key, value and gradient rows (5 × kb × hd
// floats) stay within L1.
inline int attnKeyBlock(int hd) { return hd <= 16 ? 64 : hd <= 32 ? 32 : 16; }

// Attention backward of one (b, h) for hd a multiple of 8, in flash-attention's loop order: key
// blocks outside, query rows inside, so a block's keys, values and their gradients stay in L1
// while every query row that sees them passes (row by row over all keys, a head's working set,
// 5 × T × hd floats, spilled to L2 and the pass was bound by it). dq accumulates block by block,
// in block order; dk, dv rows are final when their block ends. Scratch: kt, vt (hd × T), kr
// (T × hd), D (T), dkr, dvr (kb × hd), p, dp (kb).
CL_AVX2 void attnBwdHeadRowsAvx2(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T,
                                 int C, int H, int window, float* sc) {
  const int hd = C / H, kb = attnKeyBlock(hd);
  const size_t C3 = 3 * static_cast<size_t>(C), z = static_cast<size_t>(hd) * T;
  const float* base = qkv + static_cast<size_t>(b) * T * C3;
  float* dbase = dqkv + static_cast<size_t>(b) * T * C3;
  const float* lrow = lse + (static_cast<size_t>(b) * H + h) * T;
  float *kt = sc, *vt = sc + z, *kr = sc + 2 * z, *D = sc + 3 * z, *dkr = D + T, *dvr = dkr + static_cast<size_t>(kb) * hd;
  float *p = dvr + static_cast<size_t>(kb) * hd, *dp = p + kb;
  transposeKV(kt, vt, base, h, hd, T, C);
  for (int i = 0; i < T; ++i) {
    copyRows8(kr + static_cast<size_t>(i) * hd, base + i * C3 + C + h * hd, hd);
    const float* g = dout + (static_cast<size_t>(b) * T + i) * C + h * hd;
    const float* o = out + (static_cast<size_t>(b) * T + i) * C + h * hd;
    float d = 0.0f;
    for (int c = 0; c < hd; ++c) d += g[c] * o[c];
    D[i] = d;
    std::memset(dbase + i * C3 + h * hd, 0, sizeof(float) * hd);
  }
  for (int j0 = 0; j0 < T; j0 += kb) {
    const int j1 = std::min(T, j0 + kb);
    std::memset(dkr, 0, sizeof(float) * kb * hd);
    std::memset(dvr, 0, sizeof(float) * kb * hd);
    // Query i sees key j iff j <= i and (window == 0 or j > i - window), i.e. i < j + window.
    const int iEnd = window > 0 ? std::min(T, j1 - 1 + window) : T;
    for (int i = j0; i < iEnd; ++i) {
      const int lo = std::max(j0, window > 0 ? std::max(0, i - window + 1) : 0), hi = std::min(j1, i + 1);
      const int n = hi - lo;
      if (n <= 0) continue;
      const float* q = base + i * C3 + h * hd;
      const float* g = dout + (static_cast<size_t>(b) * T + i) * C + h * hd;
      vscoresAvx(p, q, kt + lo, static_cast<size_t>(T), hd, n);
      vscoresAvx(dp, g, vt + lo, static_cast<size_t>(T), hd, n);
      vsoftmaxGradAvx(p, dp, n, lrow[i], D[i]);  // p = softmax row, dp = d(score)
      const size_t r = static_cast<size_t>(lo - j0) * hd;
      attnBwdRowsAvx(dbase + i * C3 + h * hd, dp, p, kr + static_cast<size_t>(lo) * hd, dkr + r, dvr + r, q, g, hd, n);
    }
    for (int j = j0; j < j1; ++j) {
      copyRows8(dbase + j * C3 + C + h * hd, dkr + static_cast<size_t>(j - j0) * hd, hd);
      copyRows8(dbase + j * C3 + 2 * C + h * hd, dvr + static_cast<size_t>(j - j0) * hd, hd);
    }
  }
}
#endif

// Head h's cached keys and values for decoding (2·hd rows of n floats from position lo): fetched
// while the previous head computes. A lane decodes several sequences, so they come from L2/L3;
// measured on sampling 64 × 256 tokens (S), six alternating pairs of runs: best call +5% to +22%.
inline void prefetchDecodeHead(const float* kc, const float* vc, size_t ld, int h, int hd, int lo, int n) {
  for (int d = 0; d < hd; ++d) {
    const size_t off = (static_cast<size_t>(h) * hd + d) * ld + lo;
    for (int j = 0; j < n; j += 16) {
      __builtin_prefetch(kc + off + j);
      __builtin_prefetch(vc + off + j);
    }
  }
}

// All heads of decode row r; kc, vc (C, ld) transposed caches. Scratch s: pos + 1 floats.
template <bool A>
CL_INLINE void attnDecodeRow(float* out, const float* qkv, const float* kc, const float* vc, size_t ld, int pos, int r, int C, int H, int window,
                             float* s) {
  const int hd = C / H;
  const int lo = window > 0 ? std::max(0, pos - window + 1) : 0;
  const int n = pos - lo + 1;
  for (int h = 0; h < H; ++h) {
    if (h + 1 < H) prefetchDecodeHead(kc, vc, ld, h + 1, hd, lo, n);
    const float* q = qkv + static_cast<size_t>(r) * 3 * C + h * hd;
    const float* kt = kc + static_cast<size_t>(h) * hd * ld + lo;
    const float* vt = vc + static_cast<size_t>(h) * hd * ld + lo;
    vscores<A>(s, q, kt, ld, hd, n);
    const float m = vmax<A>(s, n);
    const float inv = 1.0f / vexpSubSum<A>(s, n, m);
    float* o = out + static_cast<size_t>(r) * C + h * hd;
    for (int e = 0; e < hd; ++e) o[e] = vdot<A>(s, vt + static_cast<size_t>(e) * ld, n) * inv;
  }
}
#ifdef CL_HAVE_X86
// Decoding one head with HD ≤ 8 in two passes instead of 3 + HD: scores and their max, then the
// weights exp(s - m), their sum and the HD output sums together. The same operations as the loop
// above (vscores, vmax, vexpSubSum, vdot) except that a score sums its HD products in channel
// order where vscoresAvx keeps even and odd channels apart: results agree to rounding, and each
// path is deterministic on its own (a model decodes with one of them throughout).
template <int HD>
CL_AVX2 void attnDecodeHeadAvx2(float* o, const float* q, const float* kt, const float* vt, size_t ld, int n, float* s) {
  __m256 qd[HD];
  for (int d = 0; d < HD; ++d) qd[d] = _mm256_broadcast_ss(q + d);
  __m256 mx = _mm256_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256 a = _mm256_setzero_ps();
    for (int d = 0; d < HD; ++d) a = _mm256_fmadd_ps(qd[d], _mm256_loadu_ps(kt + d * ld + j), a);
    _mm256_storeu_ps(s + j, a);
    mx = _mm256_max_ps(mx, a);
  }
  float m = hmax256(mx);
  if (j < n) {
    const __m256i mk = tailMask(n - j);
    __m256 a = _mm256_setzero_ps();
    for (int d = 0; d < HD; ++d) a = _mm256_fmadd_ps(qd[d], _mm256_maskload_ps(kt + d * ld + j, mk), a);
    _mm256_maskstore_ps(s + j, mk, a);
    for (int t = j; t < n; ++t) m = m > s[t] ? m : s[t];
  }
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc[HD];
  for (int d = 0; d < HD; ++d) acc[d] = _mm256_setzero_ps();
  __m256 sum = _mm256_setzero_ps();
  j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), vm));
    sum = _mm256_add_ps(sum, e);
    for (int d = 0; d < HD; ++d) acc[d] = _mm256_fmadd_ps(e, _mm256_loadu_ps(vt + d * ld + j), acc[d]);
  }
  if (j < n) {
    const __m256i mk = tailMask(n - j);
    const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(s + j, mk), vm)), _mm256_castsi256_ps(mk));
    sum = _mm256_add_ps(sum, e);
    for (int d = 0; d < HD; ++d) acc[d] = _mm256_fmadd_ps(e, _mm256_maskload_ps(vt + d * ld + j, mk), acc[d]);
  }
  const float inv = 1.0f / hsum256(sum);
  for (int d = 0; d < HD; ++d) o[d] = hsum256(acc[d]) * inv;
}
#endif
CL_AVX2 void attnDecodeRowAvx2(float* out, const float* qkv, const float* kc, const float* vc, size_t ld, int pos, int r, int C, int H,
                               int window, float* s) {
#ifdef CL_HAVE_X86
  const int hd = C / H;
  using Head = void (*)(float*, const float*, const float*, const float*, size_t, int, float*);
  const Head f = hd == 1 ? attnDecodeHeadAvx2<1> : hd == 2 ? attnDecodeHeadAvx2<2> : hd == 4 ? attnDecodeHeadAvx2<4> : hd == 8 ? attnDecodeHeadAvx2<8> : nullptr;
  if (f) {
    const int lo = window > 0 ? std::max(0, pos - window + 1) : 0, n = pos - lo + 1;
    for (int h = 0; h < H; ++h) {
      if (h + 1 < H) prefetchDecodeHead(kc, vc, ld, h + 1, hd, lo, n);
      f(out + static_cast<size_t>(r) * C + h * hd, qkv + static_cast<size_t>(r) * 3 * C + h * hd, kc + static_cast<size_t>(h) * hd * ld + lo,
        vc + static_cast<size_t>(h) * hd * ld + lo, ld, n, s);
    }
    return;
  }
#endif
  attnDecodeRow<true>(out, qkv, kc, vc, ld, pos, r, C, H, window, s);
}
void attnDecodeRowGeneric(float* out, const float* qkv, const float* kc, const float* vc, size_t ld, int pos, int r, int C, int H, int window,
                          float* s) {
  attnDecodeRow<false>(out, qkv, kc, vc, ld, pos, r, C, H, window, s);
}

thread_local std::vector<float> tlsScratch;
float* scratch(size_t n) {
  if (tlsScratch.size() < n) tlsScratch.resize(n);
  return tlsScratch.data();
}

constexpr int kRowsPerTask = 16;

}  // namespace

void layernormForward(int threads, float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias, int N, int C) {
  auto f = usingAvx2() ? lnForwardRowsAvx2 : lnForwardRowsGeneric;
  parallelRun(threads, (N + kRowsPerTask - 1) / kRowsPerTask, [&](size_t t) {
    const int r0 = static_cast<int>(t) * kRowsPerTask;
    f(out, mean, rstd, inp, weight, bias, r0, std::min(N, r0 + kRowsPerTask), C);
  });
}

void layernormBackward(int threads, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                       const float* mean, const float* rstd, int N, int C) {
  const bool avx = usingAvx2();
  auto rows = avx ? lnBackwardRowsAvx2 : lnBackwardRowsGeneric;
  auto cols = avx ? lnBackwardColsAvx2 : lnBackwardColsGeneric;
  const size_t rowTasks = (N + kRowsPerTask - 1) / kRowsPerTask, colTasks = (C + 63) / 64;
  parallelRun(threads, rowTasks + colTasks, [&](size_t t) {
    if (t < rowTasks) {
      const int r0 = static_cast<int>(t) * kRowsPerTask;
      rows(dinp, dout, inp, weight, mean, rstd, r0, std::min(N, r0 + kRowsPerTask), C, scratch(C));
    } else {
      const int c0 = static_cast<int>(t - rowTasks) * 64;
      cols(dweight, dbias, dout, inp, mean, rstd, N, C, c0, std::min(C, c0 + 64));
    }
  });
}

void biasBackward(int threads, float* dbias, const float* dout, int BT, int OC) {
  auto f = usingAvx2() ? biasColsAvx2 : biasColsGeneric;
  parallelRun(threads, (OC + 63) / 64, [&](size_t t) {
    const int c0 = static_cast<int>(t) * 64;
    f(dbias, dout, BT, OC, c0, std::min(OC, c0 + 64));
  });
}

void geluForward(int threads, float* out, const float* inp, size_t n) {
  auto f = usingAvx2() ? geluFwdAvx2 : geluFwdGeneric;
  constexpr size_t chunk = 16384;
  parallelRun(threads, (n + chunk - 1) / chunk, [&](size_t t) {
    const size_t i0 = t * chunk;
    f(out + i0, inp + i0, std::min(chunk, n - i0));
  });
}

void geluBackward(int threads, float* dinp, const float* inp, const float* dout, size_t n) {
  auto f = usingAvx2() ? geluBwdAvx2 : geluBwdGeneric;
  constexpr size_t chunk = 16384;
  parallelRun(threads, (n + chunk - 1) / chunk, [&](size_t t) {
    const size_t i0 = t * chunk;
    f(dinp + i0, inp + i0, dout + i0, std::min(chunk, n - i0));
  });
}

void crossEntropy(int threads, float* logits, float* losses, const uint32_t* targets, int N, int V, float dscale) {
  auto f = usingAvx2() ? ceRowsAvx2 : ceRowsGeneric;
  parallelRun(threads, (N + 3) / 4, [&](size_t t) {
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

void expShiftRow(float* out, const float* z, size_t n, float m, float scale) {
  (usingAvx2() ? expShiftAvx2 : expShiftGeneric)(out, z, n, m, scale);
}
float maxRow(const float* z, size_t n) {
#ifdef CL_HAVE_X86
  if (usingAvx2()) return vmaxAvx(z, static_cast<int>(n));
#endif
  return max8(z, static_cast<int>(n));
}

void softmaxRows(int threads, float* x, int N, int V) {
  auto f = usingAvx2() ? softmaxRowsAvx2 : softmaxRowsGeneric;
  parallelRun(threads, (N + 3) / 4, [&](size_t t) {
    const int r0 = static_cast<int>(t) * 4;
    f(x, r0, std::min(N, r0 + 4), V);
  });
}

void attentionForward(int threads, float* out, float* lse, const float* qkv, int B, int T, int C, int H, int window) {
  auto f = usingAvx2() ? attnFwdHeadAvx2 : attnFwdHeadGeneric;
  const int hd = C / H;
  parallelRun(threads, static_cast<size_t>(B) * H, [&](size_t t) {
    float* s = scratch(static_cast<size_t>(2 * hd + 1) * T);
    f(out, lse, qkv, static_cast<int>(t / H), static_cast<int>(t % H), T, C, H, window, s, s + static_cast<size_t>(hd) * T,
      s + static_cast<size_t>(2 * hd) * T);
  });
}

void attentionDecode(int threads, float* out, const float* qkv, const float* const* kcache, const float* const* vcache, size_t ld, const int* pos,
                     int n, int C, int H, int window) {
  auto f = usingAvx2() ? attnDecodeRowAvx2 : attnDecodeRowGeneric;
  parallelRun(threads, static_cast<size_t>(n), [&](size_t r) {
    f(out, qkv, kcache[r], vcache[r], ld, pos[r], static_cast<int>(r), C, H, window, scratch(static_cast<size_t>(pos[r]) + 8));
  });
}

void attentionBackward(int threads, float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int B, int T, int C,
                       int H, int window) {
  auto f = usingAvx2() ? attnBwdHeadAvx2 : attnBwdHeadGeneric;
  const int hd = C / H;
#ifdef CL_HAVE_X86
  if (usingAvx2() && hd % 8 == 0) {
    const int kb = attnKeyBlock(hd);
    parallelRun(threads, static_cast<size_t>(B) * H, [&](size_t t) {
      float* s = scratch(static_cast<size_t>(3 * hd + 1) * T + static_cast<size_t>(2 * kb) * (hd + 1));
      attnBwdHeadRowsAvx2(dqkv, dout, qkv, out, lse, static_cast<int>(t / H), static_cast<int>(t % H), T, C, H, window, s);
    });
    return;
  }
#endif
  parallelRun(threads, static_cast<size_t>(B) * H, [&](size_t t) {
    float* s = scratch(static_cast<size_t>(4 * hd + 2) * T);
    const size_t z = static_cast<size_t>(hd) * T;
    f(dqkv, dout, qkv, out, lse, static_cast<int>(t / H), static_cast<int>(t % H), T, C, H, window, s, s + z, s + 2 * z, s + 3 * z, s + 4 * z,
      s + 4 * z + T);
  });
}

}  // namespace cl::kernels
