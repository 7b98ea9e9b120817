// Naive reference kernels: the textbook loops, double accumulation, std::exp/std::tanh. They define
// what the fast kernels must compute; the tests compare the two (kernels.hh).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/kernels.hh"

namespace cl::kernels {

void biasBackwardNaive(float* dbias, const float* dout, int BT, int OC) {
  for (int o = 0; o < OC; ++o) {
    double s = 0;
    for (int r = 0; r < BT; ++r) s += dout[static_cast<size_t>(r) * OC + o];
    dbias[o] += static_cast<float>(s);
  }
}

void layernormForwardNaive(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias, int N, int C) {
  for (int r = 0; r < N; ++r) {
    const float* x = inp + static_cast<size_t>(r) * C;
    double m = 0;
    for (int i = 0; i < C; ++i) m += x[i];
    m /= C;
    double v = 0;
    for (int i = 0; i < C; ++i) v += (x[i] - m) * (x[i] - m);
    v /= C;
    const double s = 1.0 / std::sqrt(v + 1e-5);
    for (int i = 0; i < C; ++i) out[static_cast<size_t>(r) * C + i] = static_cast<float>((x[i] - m) * s * weight[i] + bias[i]);
    mean[r] = static_cast<float>(m);
    rstd[r] = static_cast<float>(s);
  }
}

void layernormBackwardNaive(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                            const float* mean, const float* rstd, int N, int C) {
  std::vector<double> dw(C, 0.0), db(C, 0.0);
  for (int r = 0; r < N; ++r) {
    const float* x = inp + static_cast<size_t>(r) * C;
    const float* g = dout + static_cast<size_t>(r) * C;
    const double m = mean[r], s = rstd[r];
    double a = 0, b = 0;
    for (int i = 0; i < C; ++i) {
      const double norm = (x[i] - m) * s, dn = static_cast<double>(weight[i]) * g[i];
      a += dn;
      b += dn * norm;
      dw[i] += g[i] * norm;
      db[i] += g[i];
    }
    a /= C;
    b /= C;
    for (int i = 0; i < C; ++i) {
      const double norm = (x[i] - m) * s, dn = static_cast<double>(weight[i]) * g[i];
      dinp[static_cast<size_t>(r) * C + i] += static_cast<float>((dn - a - norm * b) * s);
    }
  }
  for (int i = 0; i < C; ++i) {
    dweight[i] += static_cast<float>(dw[i]);
    dbias[i] += static_cast<float>(db[i]);
  }
}

void geluForwardNaive(float* out, const float* inp, size_t n) {
  const double c = std::sqrt(2.0 / M_PI);
  for (size_t i = 0; i < n; ++i) {
    const double x = inp[i];
    out[i] = static_cast<float>(0.5 * x * (1.0 + std::tanh(c * (x + 0.044715 * x * x * x))));
  }
}

void geluBackwardNaive(float* dinp, const float* inp, const float* dout, size_t n) {
  const double c = std::sqrt(2.0 / M_PI);
  for (size_t i = 0; i < n; ++i) {
    const double x = inp[i];
    const double th = std::tanh(c * (x + 0.044715 * x * x * x));
    const double d = 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * c * (1.0 + 3.0 * 0.044715 * x * x);
    dinp[i] = static_cast<float>(d * dout[i]);
  }
}

namespace {
inline bool visible(int i, int j, int window) { return j <= i && (window == 0 || j > i - window); }
}  // namespace

void attentionForwardNaive(float* out, float* lse, const float* qkv, int B, int T, int C, int H, int window) {
  const int hd = C / H;
  const size_t C3 = 3 * static_cast<size_t>(C);
  std::vector<double> s(T);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < T; ++i) {
        const float* q = qkv + (static_cast<size_t>(b) * T + i) * C3 + h * hd;
        double m = -INFINITY;
        for (int j = 0; j < T; ++j) {
          if (!visible(i, j, window)) continue;
          const float* k = qkv + (static_cast<size_t>(b) * T + j) * C3 + C + h * hd;
          double d = 0;
          for (int e = 0; e < hd; ++e) d += static_cast<double>(q[e]) * k[e];
          s[j] = d;
          m = std::max(m, d);
        }
        double sum = 0;
        for (int j = 0; j < T; ++j)
          if (visible(i, j, window)) sum += std::exp(s[j] - m);
        for (int e = 0; e < hd; ++e) {
          double o = 0;
          for (int j = 0; j < T; ++j)
            if (visible(i, j, window)) o += std::exp(s[j] - m) / sum * qkv[(static_cast<size_t>(b) * T + j) * C3 + 2 * C + h * hd + e];
          out[(static_cast<size_t>(b) * T + i) * C + h * hd + e] = static_cast<float>(o);
        }
        lse[(static_cast<size_t>(b) * H + h) * T + i] = static_cast<float>(m + std::log(sum));
      }
}

void attentionBackwardNaive(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int B, int T, int C, int H,
                            int window) {
  (void)out;
  (void)lse;
  const int hd = C / H;
  const size_t C3 = 3 * static_cast<size_t>(C);
  std::vector<double> grad(static_cast<size_t>(B) * T * C3, 0.0);
  std::vector<double> s(T), p(T), dp(T);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < T; ++i) {
        const size_t qi = (static_cast<size_t>(b) * T + i) * C3 + h * hd;
        const float* g = dout + (static_cast<size_t>(b) * T + i) * C + h * hd;
        double m = -INFINITY;
        for (int j = 0; j < T; ++j) {
          if (!visible(i, j, window)) continue;
          double d = 0;
          for (int e = 0; e < hd; ++e) d += static_cast<double>(qkv[qi + e]) * qkv[(static_cast<size_t>(b) * T + j) * C3 + C + h * hd + e];
          s[j] = d;
          m = std::max(m, d);
        }
        double sum = 0;
        for (int j = 0; j < T; ++j)
          if (visible(i, j, window)) sum += std::exp(s[j] - m);
        // p = softmax; dp_j = g·v_j; dscore_j = p_j (dp_j - Σ_k p_k dp_k)
        double D = 0;
        for (int j = 0; j < T; ++j) {
          if (!visible(i, j, window)) continue;
          p[j] = std::exp(s[j] - m) / sum;
          double d = 0;
          for (int e = 0; e < hd; ++e) d += static_cast<double>(g[e]) * qkv[(static_cast<size_t>(b) * T + j) * C3 + 2 * C + h * hd + e];
          dp[j] = d;
          D += p[j] * d;
        }
        for (int j = 0; j < T; ++j) {
          if (!visible(i, j, window)) continue;
          const double ds = p[j] * (dp[j] - D);
          const size_t kj = (static_cast<size_t>(b) * T + j) * C3 + C + h * hd;
          for (int e = 0; e < hd; ++e) {
            grad[qi + e] += ds * qkv[kj + e];
            grad[kj + e] += ds * qkv[qi + e];
            grad[kj + C + e] += p[j] * g[e];
          }
        }
      }
  for (size_t i = 0; i < grad.size(); ++i) dqkv[i] = static_cast<float>(grad[i]);
}

void attentionDecodeNaive(float* out, const float* qkv, const float* const* kcache, const float* const* vcache, size_t ld, const int* pos, int n, int C,
                          int H, int window) {
  const int hd = C / H;
  for (int r = 0; r < n; ++r)
    for (int h = 0; h < H; ++h) {
      const float* q = qkv + static_cast<size_t>(r) * 3 * C + h * hd;
      const int i = pos[r];
      std::vector<double> s(i + 1, 0.0);
      double m = -INFINITY;
      for (int j = 0; j <= i; ++j) {
        if (!visible(i, j, window)) continue;
        double d = 0;
        for (int e = 0; e < hd; ++e) d += static_cast<double>(q[e]) * kcache[r][static_cast<size_t>(h * hd + e) * ld + j];
        s[j] = d;
        m = std::max(m, d);
      }
      double sum = 0;
      for (int j = 0; j <= i; ++j)
        if (visible(i, j, window)) sum += std::exp(s[j] - m);
      for (int e = 0; e < hd; ++e) {
        double o = 0;
        for (int j = 0; j <= i; ++j)
          if (visible(i, j, window)) o += std::exp(s[j] - m) / sum * vcache[r][static_cast<size_t>(h * hd + e) * ld + j];
        out[static_cast<size_t>(r) * C + h * hd + e] = static_cast<float>(o);
      }
    }
}

void crossEntropyNaive(float* logits, float* losses, const uint32_t* targets, int N, int V, float dscale) {
  for (int r = 0; r < N; ++r) {
    float* z = logits + static_cast<size_t>(r) * V;
    if (targets[r] == kIgnore) {
      losses[r] = 0;
      if (dscale != 0.0f) std::fill(z, z + V, 0.0f);
      continue;
    }
    double m = -INFINITY;
    for (int i = 0; i < V; ++i) m = std::max(m, static_cast<double>(z[i]));
    double sum = 0;
    for (int i = 0; i < V; ++i) sum += std::exp(z[i] - m);
    losses[r] = static_cast<float>(m + std::log(sum) - z[targets[r]]);
    if (dscale != 0.0f) {
      for (int i = 0; i < V; ++i) {
        const double p = std::exp(z[i] - m) / sum;
        z[i] = static_cast<float>(dscale * (p - (static_cast<uint32_t>(i) == targets[r] ? 1.0 : 0.0)));
      }
    }
  }
}

void softmaxRowsNaive(float* x, int N, int V) {
  for (int r = 0; r < N; ++r) {
    float* z = x + static_cast<size_t>(r) * V;
    double m = -INFINITY;
    for (int i = 0; i < V; ++i) m = std::max(m, static_cast<double>(z[i]));
    double sum = 0;
    for (int i = 0; i < V; ++i) sum += std::exp(z[i] - m);
    for (int i = 0; i < V; ++i) z[i] = static_cast<float>(std::exp(z[i] - m) / sum);
  }
}

}  // namespace cl::kernels
