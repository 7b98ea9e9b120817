// Causal (optionally local) attention of GPT-Neo: forward, backward and one decoding step with a
// KV cache. Each (sequence, head) — or each decoded row — is one task; AVX2/FMA or portable head
// functions (see simd.hh), plus row-layout AVX2 paths for head sizes that are multiples of 8.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/pool.hh"
#include "kernels/cpu/kernels.hh"
#include "kernels/cpu/simd.hh"

namespace cl::kernels {

namespace {

#ifdef CL_HAVE_X86
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

// --- AVX-512 twins (the AVX2 functions' bits: each key j, a lane, gets the same operations; the
// 8-key tails are the AVX2 code's) ---------------------------------------------------------------
// vscoresAvx over 64 keys at a time (eight FMA chains of 16 lanes), then 16, then vscoresAvx's tail.
CL_AVX512 void vscoresAvx512(float* s, const float* q, const float* kt, size_t ld, int hd, int n) {
  int j = 0;
  for (; j + 64 <= n; j += 64) {
    __m512 e0 = _mm512_setzero_ps(), e1 = _mm512_setzero_ps(), e2 = _mm512_setzero_ps(), e3 = _mm512_setzero_ps();
    __m512 o0 = _mm512_setzero_ps(), o1 = _mm512_setzero_ps(), o2 = _mm512_setzero_ps(), o3 = _mm512_setzero_ps();
    int d = 0;
    for (; d + 2 <= hd; d += 2) {
      const float* k0 = kt + d * ld + j;
      const float* k1 = k0 + ld;
      const __m512 qe = _mm512_set1_ps(q[d]), qo = _mm512_set1_ps(q[d + 1]);
      e0 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k0), e0);
      e1 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k0 + 16), e1);
      e2 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k0 + 32), e2);
      e3 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k0 + 48), e3);
      o0 = _mm512_fmadd_ps(qo, _mm512_loadu_ps(k1), o0);
      o1 = _mm512_fmadd_ps(qo, _mm512_loadu_ps(k1 + 16), o1);
      o2 = _mm512_fmadd_ps(qo, _mm512_loadu_ps(k1 + 32), o2);
      o3 = _mm512_fmadd_ps(qo, _mm512_loadu_ps(k1 + 48), o3);
    }
    if (d < hd) {
      const float* k0 = kt + d * ld + j;
      const __m512 qe = _mm512_set1_ps(q[d]);
      e0 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k0), e0);
      e1 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k0 + 16), e1);
      e2 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k0 + 32), e2);
      e3 = _mm512_fmadd_ps(qe, _mm512_loadu_ps(k0 + 48), e3);
    }
    _mm512_storeu_ps(s + j, _mm512_add_ps(e0, o0));
    _mm512_storeu_ps(s + j + 16, _mm512_add_ps(e1, o1));
    _mm512_storeu_ps(s + j + 32, _mm512_add_ps(e2, o2));
    _mm512_storeu_ps(s + j + 48, _mm512_add_ps(e3, o3));
  }
  for (; j + 16 <= n; j += 16) {
    __m512 e = _mm512_setzero_ps(), o = _mm512_setzero_ps();
    int d = 0;
    for (; d + 2 <= hd; d += 2) {
      e = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_loadu_ps(kt + d * ld + j), e);
      o = _mm512_fmadd_ps(_mm512_set1_ps(q[d + 1]), _mm512_loadu_ps(kt + (d + 1) * ld + j), o);
    }
    if (d < hd) e = _mm512_fmadd_ps(_mm512_set1_ps(q[d]), _mm512_loadu_ps(kt + d * ld + j), e);
    _mm512_storeu_ps(s + j, _mm512_add_ps(e, o));
  }
  if (j < n) vscoresAvx(s + j, q, kt + j, ld, hd, n - j);
}
// vsoftmaxGradAvx, 16 lanes while they fit; the rest (one 8-lane step and the scalar tail, at the
// same positions as there) by vsoftmaxGradAvx itself.
CL_AVX512 void vsoftmaxGradAvx512(float* p, float* dp, int n, float l, float D) {
  const __m512 vl = _mm512_set1_ps(l), vD = _mm512_set1_ps(D);
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(p + j), vl));
    _mm512_storeu_ps(p + j, e);
    _mm512_storeu_ps(dp + j, _mm512_mul_ps(e, _mm512_sub_ps(_mm512_loadu_ps(dp + j), vD)));
  }
  if (j < n) vsoftmaxGradAvx(p + j, dp + j, n - j, l, D);
}
// attnBwdChannelAvx: the dot product folded into its 8-lane accumulator in its order (low half,
// then high half), the dk/dv updates 16 wide; the last 0..15 keys by the AVX2 code's steps.
CL_AVX512 float attnBwdChannelAvx512(const float* dp, const float* p, const float* kt, float* dk, float* dv, float qd, float gd, int n) {
  const __m512 vq = _mm512_set1_ps(qd), vg = _mm512_set1_ps(gd);
  __m256 acc = _mm256_setzero_ps();
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 x = _mm512_loadu_ps(dp + j), k = _mm512_loadu_ps(kt + j);
    acc = _mm256_fmadd_ps(_mm512_castps512_ps256(x), _mm512_castps512_ps256(k), acc);
    acc = _mm256_fmadd_ps(_mm512_extractf32x8_ps(x, 1), _mm512_extractf32x8_ps(k, 1), acc);
    _mm512_storeu_ps(dk + j, _mm512_add_ps(_mm512_loadu_ps(dk + j), _mm512_mul_ps(x, vq)));
    _mm512_storeu_ps(dv + j, _mm512_add_ps(_mm512_loadu_ps(dv + j), _mm512_mul_ps(_mm512_loadu_ps(p + j), vg)));
  }
  const __m256 vq8 = _mm256_set1_ps(qd), vg8 = _mm256_set1_ps(gd);
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_loadu_ps(dp + j);
    acc = _mm256_fmadd_ps(x, _mm256_loadu_ps(kt + j), acc);
    _mm256_storeu_ps(dk + j, _mm256_add_ps(_mm256_loadu_ps(dk + j), _mm256_mul_ps(x, vq8)));
    _mm256_storeu_ps(dv + j, _mm256_add_ps(_mm256_loadu_ps(dv + j), _mm256_mul_ps(_mm256_loadu_ps(p + j), vg8)));
  }
  if (j < n) {
    const __m256i mk = tailMask(n - j);
    const __m256 x = _mm256_maskload_ps(dp + j, mk);
    acc = _mm256_fmadd_ps(x, _mm256_maskload_ps(kt + j, mk), acc);
    _mm256_maskstore_ps(dk + j, mk, _mm256_add_ps(_mm256_maskload_ps(dk + j, mk), _mm256_mul_ps(x, vq8)));
    _mm256_maskstore_ps(dv + j, mk, _mm256_add_ps(_mm256_maskload_ps(dv + j, mk), _mm256_mul_ps(_mm256_maskload_ps(p + j, mk), vg8)));
  }
  return hsum256(acc);
}
#endif


// Path L: 0 portable, 1 AVX2, 2 AVX-512 (AVX2's bits).
template <int L>
CL_INLINE void vscores(float* s, const float* q, const float* kt, size_t ld, int hd, int n) {
#ifdef CL_HAVE_X86
  if (L == 2) return vscoresAvx512(s, q, kt, ld, hd, n);
  if (L == 1) return vscoresAvx(s, q, kt, ld, hd, n);
#endif
  for (int j = 0; j < n; ++j) s[j] = 0.0f;
  for (int d = 0; d < hd; ++d) {
    const float qd = q[d];
    const float* kr = kt + d * ld;
    for (int j = 0; j < n; ++j) s[j] += qd * kr[j];
  }
}

template <int L>
CL_INLINE void vsoftmaxGrad(float* p, float* dp, int n, float l, float D) {
#ifdef CL_HAVE_X86
  if (L == 2) return vsoftmaxGradAvx512(p, dp, n, l, D);
  if (L == 1) return vsoftmaxGradAvx(p, dp, n, l, D);
#endif
  for (int j = 0; j < n; ++j) {
    p[j] = expApprox(p[j] - l);
    dp[j] = p[j] * (dp[j] - D);
  }
}

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
template <int L>
CL_INLINE void attnFwdHead(float* out, float* lse, const float* qkv, int b, int h, int T, int C, int H, int window, float* kt, float* vt,
                           float* s) {
  const int hd = C / H;
  const size_t C3 = 3 * static_cast<size_t>(C);
  const float* base = qkv + static_cast<size_t>(b) * T * C3;
  // V in row layout (vt holds (T, hd)), see attnMixRowsAvx: x86 only, where that kernel exists.
#ifdef CL_HAVE_X86
  const bool rows = L > 0 && hd % 8 == 0;
#else
  const bool rows = false;
#endif
  constexpr bool A = L > 0;
  transposeKV(kt, vt, base, h, hd, T, C, rows);
  for (int i = 0; i < T; ++i) {
    const float* q = base + i * C3 + h * hd;
    const int lo = window > 0 ? std::max(0, i - window + 1) : 0;
    const int n = i - lo + 1;
    vscores<L>(s, q, kt + lo, static_cast<size_t>(T), hd, n);
#ifdef CL_HAVE_X86
    const float m = L == 2 ? vmaxAvx512(s, n) : vmax<A>(s, n);
    const float sum = L == 2 ? vexpSubSumAvx512<true>(s, n, m) : vexpSubSum<A>(s, n, m);
#else
    const float m = vmax<A>(s, n);
    const float sum = vexpSubSum<A>(s, n, m);
#endif
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
  attnFwdHead<1>(out, lse, qkv, b, h, T, C, H, window, kt, vt, s);
}
#ifdef CL_HAVE_X86
CL_AVX512 void attnFwdHeadAvx512(float* out, float* lse, const float* qkv, int b, int h, int T, int C, int H, int window, float* kt, float* vt,
                                 float* s) {
  attnFwdHead<2>(out, lse, qkv, b, h, T, C, H, window, kt, vt, s);
}
#else
void attnFwdHeadAvx512(float* out, float* lse, const float* qkv, int b, int h, int T, int C, int H, int window, float* kt, float* vt, float* s) {
  attnFwdHead<0>(out, lse, qkv, b, h, T, C, H, window, kt, vt, s);
}
#endif
void attnFwdHeadGeneric(float* out, float* lse, const float* qkv, int b, int h, int T, int C, int H, int window, float* kt, float* vt,
                        float* s) {
  attnFwdHead<0>(out, lse, qkv, b, h, T, C, H, window, kt, vt, s);
}

// Scratch: kt, vt, dkt, dvt (hd × T each), p, dp (T each).
template <int L>
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
    vscores<L>(p, q, kt + lo, static_cast<size_t>(T), hd, n);
    vscores<L>(dp, g, vt + lo, static_cast<size_t>(T), hd, n);
    float D = 0.0f;
    for (int d = 0; d < hd; ++d) D += g[d] * o[d];
    vsoftmaxGrad<L>(p, dp, n, l, D);  // p = softmax row, dp = d(score)
    float* dq = dbase + i * C3 + h * hd;
    for (int d = 0; d < hd; ++d) {
      const float qd = q[d], gd = g[d];
      float* dk = dkt + static_cast<size_t>(d) * T + lo;
      float* dv = dvt + static_cast<size_t>(d) * T + lo;
#ifdef CL_HAVE_X86
      if (L == 2) {
        dq[d] = attnBwdChannelAvx512(dp, p, kt + static_cast<size_t>(d) * T + lo, dk, dv, qd, gd, n);
        continue;
      }
      if (L == 1) {
        dq[d] = attnBwdChannelAvx(dp, p, kt + static_cast<size_t>(d) * T + lo, dk, dv, qd, gd, n);
        continue;
      }
#endif
      dq[d] = vdot<false>(dp, kt + static_cast<size_t>(d) * T + lo, n);
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
  attnBwdHead<1>(dqkv, dout, qkv, out, lse, b, h, T, C, H, window, kt, vt, dkt, dvt, p, dp);
}
#ifdef CL_HAVE_X86
CL_AVX512 void attnBwdHeadAvx512(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T, int C,
                                 int H, int window, float* kt, float* vt, float* dkt, float* dvt, float* p, float* dp) {
  attnBwdHead<2>(dqkv, dout, qkv, out, lse, b, h, T, C, H, window, kt, vt, dkt, dvt, p, dp);
}
#else
void attnBwdHeadAvx512(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T, int C, int H,
                       int window, float* kt, float* vt, float* dkt, float* dvt, float* p, float* dp) {
  attnBwdHead<0>(dqkv, dout, qkv, out, lse, b, h, T, C, H, window, kt, vt, dkt, dvt, p, dp);
}
#endif
void attnBwdHeadGeneric(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T, int C, int H,
                        int window, float* kt, float* vt, float* dkt, float* dvt, float* p, float* dp) {
  attnBwdHead<0>(dqkv, dout, qkv, out, lse, b, h, T, C, H, window, kt, vt, dkt, dvt, p, dp);
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
template <int L>
CL_INLINE void attnBwdHeadRows(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T,
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
      vscores<L>(p, q, kt + lo, static_cast<size_t>(T), hd, n);
      vscores<L>(dp, g, vt + lo, static_cast<size_t>(T), hd, n);
      vsoftmaxGrad<L>(p, dp, n, lrow[i], D[i]);  // p = softmax row, dp = d(score)
      const size_t r = static_cast<size_t>(lo - j0) * hd;
      attnBwdRowsAvx(dbase + i * C3 + h * hd, dp, p, kr + static_cast<size_t>(lo) * hd, dkr + r, dvr + r, q, g, hd, n);
    }
    for (int j = j0; j < j1; ++j) {
      copyRows8(dbase + j * C3 + C + h * hd, dkr + static_cast<size_t>(j - j0) * hd, hd);
      copyRows8(dbase + j * C3 + 2 * C + h * hd, dvr + static_cast<size_t>(j - j0) * hd, hd);
    }
  }
}
CL_AVX2 void attnBwdHeadRowsAvx2(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T,
                                 int C, int H, int window, float* sc) {
  attnBwdHeadRows<1>(dqkv, dout, qkv, out, lse, b, h, T, C, H, window, sc);
}
CL_AVX512 void attnBwdHeadRowsAvx512(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int b, int h, int T,
                                     int C, int H, int window, float* sc) {
  attnBwdHeadRows<2>(dqkv, dout, qkv, out, lse, b, h, T, C, H, window, sc);
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
// attnDecodeHeadAvx2 with 16 keys per step (scores, max and exp 16 wide; the sum and the HD
// output sums folded into their 8-lane accumulators low half first, as the AVX2 loop adds them),
// then that function's 8-key step and masked tail: the same bits.
template <int HD>
CL_AVX512 void attnDecodeHeadAvx512(float* o, const float* q, const float* kt, const float* vt, size_t ld, int n, float* s) {
  __m512 qz[HD];
  __m256 qd[HD];
  for (int d = 0; d < HD; ++d) {
    qz[d] = _mm512_set1_ps(q[d]);
    qd[d] = _mm256_broadcast_ss(q + d);
  }
  __m512 mz = _mm512_set1_ps(-INFINITY);
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    __m512 a = _mm512_setzero_ps();
    for (int d = 0; d < HD; ++d) a = _mm512_fmadd_ps(qz[d], _mm512_loadu_ps(kt + d * ld + j), a);
    _mm512_storeu_ps(s + j, a);
    mz = _mm512_max_ps(mz, a);
  }
  __m256 mx = _mm256_max_ps(_mm512_castps512_ps256(mz), _mm512_extractf32x8_ps(mz, 1));
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
  const __m512 vmz = _mm512_set1_ps(m);
  const __m256 vm = _mm256_set1_ps(m);
  __m256 acc[HD];
  for (int d = 0; d < HD; ++d) acc[d] = _mm256_setzero_ps();
  __m256 sum = _mm256_setzero_ps();
  j = 0;
  for (; j + 16 <= n; j += 16) {
    const __m512 e = exp512(_mm512_sub_ps(_mm512_loadu_ps(s + j), vmz));
    const __m256 elo = _mm512_castps512_ps256(e), ehi = _mm512_extractf32x8_ps(e, 1);
    sum = _mm256_add_ps(sum, elo);
    sum = _mm256_add_ps(sum, ehi);
    for (int d = 0; d < HD; ++d) {
      const __m512 v = _mm512_loadu_ps(vt + d * ld + j);
      acc[d] = _mm256_fmadd_ps(elo, _mm512_castps512_ps256(v), acc[d]);
      acc[d] = _mm256_fmadd_ps(ehi, _mm512_extractf32x8_ps(v, 1), acc[d]);
    }
  }
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
template <bool kWide>
CL_AVX2 void attnDecodeRowAvx2T(float* out, const float* qkv, const float* kc, const float* vc, size_t ld, int pos, int r, int C, int H,
                                int window, float* s) {
#ifdef CL_HAVE_X86
  const int hd = C / H;
  using Head = void (*)(float*, const float*, const float*, const float*, size_t, int, float*);
  const Head f = kWide ? (hd == 1 ? attnDecodeHeadAvx512<1> : hd == 2 ? attnDecodeHeadAvx512<2> : hd == 4 ? attnDecodeHeadAvx512<4> : hd == 8 ? attnDecodeHeadAvx512<8> : nullptr)
                       : (hd == 1 ? attnDecodeHeadAvx2<1> : hd == 2 ? attnDecodeHeadAvx2<2> : hd == 4 ? attnDecodeHeadAvx2<4> : hd == 8 ? attnDecodeHeadAvx2<8> : nullptr);
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
CL_AVX2 void attnDecodeRowAvx2(float* out, const float* qkv, const float* kc, const float* vc, size_t ld, int pos, int r, int C, int H,
                               int window, float* s) {
  attnDecodeRowAvx2T<false>(out, qkv, kc, vc, ld, pos, r, C, H, window, s);
}
// AVX-512 for head sizes 1, 2, 4, 8 (the two-pass head above); other sizes run the AVX2 row.
CL_AVX2 void attnDecodeRowAvx512(float* out, const float* qkv, const float* kc, const float* vc, size_t ld, int pos, int r, int C, int H,
                                 int window, float* s) {
  attnDecodeRowAvx2T<true>(out, qkv, kc, vc, ld, pos, r, C, H, window, s);
}
void attnDecodeRowGeneric(float* out, const float* qkv, const float* kc, const float* vc, size_t ld, int pos, int r, int C, int H, int window,
                          float* s) {
  attnDecodeRow<false>(out, qkv, kc, vc, ld, pos, r, C, H, window, s);
}

}  // namespace

void attentionForward(Exec ex, float* out, float* lse, const float* qkv, int B, int T, int C, int H, int window) {
  auto f = ex.avx512() ? attnFwdHeadAvx512 : ex.avx2() ? attnFwdHeadAvx2 : attnFwdHeadGeneric;
  const int hd = C / H;
  parallelRun(ex.threads, static_cast<size_t>(B) * H, [&](size_t t) {
    float* s = scratch(static_cast<size_t>(2 * hd + 1) * T);
    f(out, lse, qkv, static_cast<int>(t / H), static_cast<int>(t % H), T, C, H, window, s, s + static_cast<size_t>(hd) * T,
      s + static_cast<size_t>(2 * hd) * T);
  });
}

void attentionDecode(Exec ex, float* out, const float* qkv, const float* const* kcache, const float* const* vcache, size_t ld, const int* pos,
                     int n, int C, int H, int window) {
  auto f = ex.avx512() ? attnDecodeRowAvx512 : ex.avx2() ? attnDecodeRowAvx2 : attnDecodeRowGeneric;
  parallelRun(ex.threads, static_cast<size_t>(n), [&](size_t r) {
    f(out, qkv, kcache[r], vcache[r], ld, pos[r], static_cast<int>(r), C, H, window, scratch(static_cast<size_t>(pos[r]) + 8));
  });
}

void attentionBackward(Exec ex, float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int B, int T, int C,
                       int H, int window) {
  auto f = ex.avx512() ? attnBwdHeadAvx512 : ex.avx2() ? attnBwdHeadAvx2 : attnBwdHeadGeneric;
  const int hd = C / H;
#ifdef CL_HAVE_X86
  if (ex.avx2() && hd % 8 == 0) {
    const int kb = attnKeyBlock(hd);
    parallelRun(ex.threads, static_cast<size_t>(B) * H, [&](size_t t) {
      float* s = scratch(static_cast<size_t>(3 * hd + 1) * T + static_cast<size_t>(2 * kb) * (hd + 1));
      (ex.avx512() ? attnBwdHeadRowsAvx512 : attnBwdHeadRowsAvx2)(dqkv, dout, qkv, out, lse, static_cast<int>(t / H), static_cast<int>(t % H), T, C,
                                                                  H, window, s);
    });
    return;
  }
#endif
  parallelRun(ex.threads, static_cast<size_t>(B) * H, [&](size_t t) {
    float* s = scratch(static_cast<size_t>(4 * hd + 2) * T);
    const size_t z = static_cast<size_t>(hd) * T;
    f(dqkv, dout, qkv, out, lse, static_cast<int>(t / H), static_cast<int>(t % H), T, C, H, window, s, s + z, s + 2 * z, s + 3 * z, s + 4 * z,
      s + 4 * z + T);
  });
}

}  // namespace cl::kernels
