// Layernorm forward and backward (ε = 1e-5): one row function per direction, compiled for
// AVX2/FMA and for the portable baseline (see simd.hh); the weight and bias gradients are column
// sums split by column blocks, so every result is the same for any thread count.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/pool.hh"
#include "kernels/cpu/kernels.hh"
#include "kernels/cpu/simd.hh"

namespace cl::kernels {

namespace {

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

constexpr int kRowsPerTask = 16;



}  // namespace

void layernormForward(Exec ex, float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias, int N, int C) {
  auto f = ex.avx2() ? lnForwardRowsAvx2 : lnForwardRowsGeneric;
  parallelRun(ex.threads, (N + kRowsPerTask - 1) / kRowsPerTask, [&](size_t t) {
    const int r0 = static_cast<int>(t) * kRowsPerTask;
    f(out, mean, rstd, inp, weight, bias, r0, std::min(N, r0 + kRowsPerTask), C);
  });
}

void layernormBackward(Exec ex, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                       const float* mean, const float* rstd, int N, int C) {
  const bool avx = ex.avx2();
  auto rows = avx ? lnBackwardRowsAvx2 : lnBackwardRowsGeneric;
  auto cols = avx ? lnBackwardColsAvx2 : lnBackwardColsGeneric;
  const size_t rowTasks = (N + kRowsPerTask - 1) / kRowsPerTask, colTasks = (C + 63) / 64;
  parallelRun(ex.threads, rowTasks + colTasks, [&](size_t t) {
    if (t < rowTasks) {
      const int r0 = static_cast<int>(t) * kRowsPerTask;
      rows(dinp, dout, inp, weight, mean, rstd, r0, std::min(N, r0 + kRowsPerTask), C, scratch(C));
    } else {
      const int c0 = static_cast<int>(t - rowTasks) * 64;
      cols(dweight, dbias, dout, inp, mean, rstd, N, C, c0, std::min(C, c0 + 64));
    }
  });
}

}  // namespace cl::kernels
