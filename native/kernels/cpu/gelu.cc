// gelu_new forward and backward, elementwise in chunks of 16384 values (AVX-512, AVX2/FMA or
// portable; see simd.hh; AVX-512 gives AVX2's bits).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/pool.hh"
#include "kernels/cpu/kernels.hh"
#include "kernels/cpu/simd.hh"

namespace cl::kernels {

namespace {

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

// AVX-512: 16 lanes of the AVX2 arithmetic (the same bits per element), the tail masked.
CL_AVX512 inline __m512 tanhGelu16(__m512 v) {
  const __m512 v3 = _mm512_mul_ps(_mm512_mul_ps(v, v), v);
  const __m512 u = _mm512_mul_ps(_mm512_set1_ps(kGeluC), _mm512_fmadd_ps(_mm512_set1_ps(0.044715f), v3, v));
  const __m512 e = exp512(_mm512_add_ps(u, u));
  return _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_div_ps(_mm512_set1_ps(2.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), e)));
}
CL_AVX512 inline __mmask16 tailMask16(size_t n) { return static_cast<__mmask16>((1u << n) - 1u); }
CL_AVX512 void geluFwdAvx512(float* out, const float* x, size_t n) {
  size_t i = 0;
  const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, tanhGelu16(v))));
  }
  if (i < n) {
    const __mmask16 mk = tailMask16(n - i);
    const __m512 v = _mm512_maskz_loadu_ps(mk, x + i);
    _mm512_mask_storeu_ps(out + i, mk, _mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_add_ps(one, tanhGelu16(v))));
  }
}
CL_AVX512 inline __m512 geluGrad16(__m512 v, __m512 gv, __m512 half, __m512 one, __m512 c, __m512 c3) {
  const __m512 th = tanhGelu16(v);
  const __m512 du = _mm512_fmadd_ps(c3, _mm512_mul_ps(v, v), c);
  const __m512 a = _mm512_mul_ps(half, _mm512_add_ps(one, th));
  const __m512 b = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(half, v), _mm512_fnmadd_ps(th, th, one)), du);
  return _mm512_mul_ps(_mm512_add_ps(a, b), gv);
}
CL_AVX512 void geluBwdAvx512(float* d, const float* x, const float* g, size_t n) {
  size_t i = 0;
  const __m512 half = _mm512_set1_ps(0.5f), one = _mm512_set1_ps(1.0f);
  const __m512 c = _mm512_set1_ps(kGeluC), c3 = _mm512_set1_ps(kGeluC * 3.0f * 0.044715f);
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(d + i, geluGrad16(_mm512_loadu_ps(x + i), _mm512_loadu_ps(g + i), half, one, c, c3));
  if (i < n) {
    const __mmask16 mk = tailMask16(n - i);
    _mm512_mask_storeu_ps(d + i, mk, geluGrad16(_mm512_maskz_loadu_ps(mk, x + i), _mm512_maskz_loadu_ps(mk, g + i), half, one, c, c3));
  }
}
#else
CL_AVX2 void geluBwdAvx2(float* d, const float* x, const float* g, size_t n) { geluBwd(d, x, g, n); }
void geluFwdAvx512(float* out, const float* x, size_t n) { geluFwd(out, x, n); }
void geluBwdAvx512(float* d, const float* x, const float* g, size_t n) { geluBwd(d, x, g, n); }
#endif
void geluBwdGeneric(float* d, const float* x, const float* g, size_t n) { geluBwd(d, x, g, n); }

}  // namespace

void geluForward(Exec ex, float* out, const float* inp, size_t n) {
  auto f = ex.avx512() ? geluFwdAvx512 : ex.avx2() ? geluFwdAvx2 : geluFwdGeneric;
  constexpr size_t chunk = 16384;
  parallelRun(ex.threads, (n + chunk - 1) / chunk, [&](size_t t) {
    const size_t i0 = t * chunk;
    f(out + i0, inp + i0, std::min(chunk, n - i0));
  });
}

void geluBackward(Exec ex, float* dinp, const float* inp, const float* dout, size_t n) {
  auto f = ex.avx512() ? geluBwdAvx512 : ex.avx2() ? geluBwdAvx2 : geluBwdGeneric;
  constexpr size_t chunk = 16384;
  parallelRun(ex.threads, (n + chunk - 1) / chunk, [&](size_t t) {
    const size_t i0 = t * chunk;
    f(dinp + i0, inp + i0, dout + i0, std::min(chunk, n - i0));
  });
}

}  // namespace cl::kernels
