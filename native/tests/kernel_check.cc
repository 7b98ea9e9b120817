// checkKernel: runs one fast kernel and its naive reference on the same random inputs and reports
// the largest difference, and a digest of the fast kernel's output bits (equal digests for two
// thread counts: the same bits). The kernel tests (*_test.cc) call it for many shapes.
#include <cstring>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "common/errors.hh"
#include "common/rng.hh"
#include "kernels/cpu/kernels.hh"
#include "kernel_check.hh"

#include <doctest/doctest.h>

namespace cl::tests {

using namespace cl::kernels;

namespace {

std::vector<float> randomVec(size_t n, SplitMix64& g, float scale = 1.0f) {
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>((g.uniform() * 2.0 - 1.0) * scale);
  return v;
}

void compare(CheckResult& r, const std::vector<float>& fast, const std::vector<float>& ref) {
  for (size_t i = 0; i < fast.size(); ++i) {
    const double e = std::fabs(static_cast<double>(fast[i]) - ref[i]) / (1.0 + std::fabs(static_cast<double>(ref[i])));
    if (!(e <= r.maxError)) r.maxError = std::isnan(e) ? INFINITY : std::max(r.maxError, e);
  }
  r.compared += fast.size();
  // FNV-1a over the fast output's bytes
  const auto* p = reinterpret_cast<const unsigned char*>(fast.data());
  for (size_t i = 0; i < fast.size() * sizeof(float); ++i) r.digest = (r.digest ^ p[i]) * 0x100000001b3ull;
}

int dim(const int* dims, int ndims, int i, const std::string& kernel) {
  if (i >= ndims || dims[i] <= 0) fail("E_BAD_ARGUMENT", "checkKernel " + kernel + ": missing or non-positive dimension " + std::to_string(i));
  return dims[i];
}

}  // namespace

CheckResult checkKernel(const std::string& kernel, const std::vector<int>& dimv, uint64_t seed, Exec threads) {
  const int* dims = dimv.data();
  const int ndims = static_cast<int>(dimv.size());
  SplitMix64 g(streamKey(seed, 0x4b45524eull /* "KERN" */, 0));
  CheckResult r;
  const std::string& k = kernel;
  if (k == "matmul_nt" || k == "matmul_nn" || k == "matmul_tn") {
    const int M = dim(dims, ndims, 0, kernel), N = dim(dims, ndims, 1, kernel), K = dim(dims, ndims, 2, kernel);
    const auto A = randomVec(static_cast<size_t>(M) * K, g), B = randomVec(static_cast<size_t>(K) * N, g);
    const auto bias = randomVec(N, g), C0 = randomVec(static_cast<size_t>(M) * N, g);
    for (int acc = 0; acc < 2; ++acc) {
      auto c1 = C0, c2 = C0;
      size_t rsA = K, csA = 1, rsB = N, csB = 1;     // nn: A (M,K), B (K,N)
      if (k == "matmul_nt") rsB = 1, csB = K;         // B stored (N,K)
      if (k == "matmul_tn") rsA = 1, csA = M;         // A stored (K,M)
      const float* bp = (k == "matmul_nt" && !acc) ? bias.data() : nullptr;
      gemm(threads, M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, c1.data(), bp, acc == 1);
      gemmNaive(M, N, K, A.data(), rsA, csA, B.data(), rsB, csB, c2.data(), bp, acc == 1);
      compare(r, c1, c2);
    }
  } else if (k == "weight_grad_t") {
    // matmulBackwardWeightT against the naive product and, bit for bit, against matmulBackwardWeight.
    const int BT = dim(dims, ndims, 0, kernel), IC = dim(dims, ndims, 1, kernel), OC = dim(dims, ndims, 2, kernel);
    const auto dout = randomVec(static_cast<size_t>(BT) * OC, g), inp = randomVec(static_cast<size_t>(BT) * IC, g);
    auto w1 = randomVec(static_cast<size_t>(OC) * IC, g), w2 = w1, w3 = w1;
    matmulBackwardWeightT(threads, w1.data(), dout.data(), inp.data(), BT, IC, OC);
    matmulBackwardWeight(threads, w3.data(), dout.data(), inp.data(), BT, IC, OC);
    gemmNaive(OC, IC, BT, dout.data(), 1, OC, inp.data(), IC, 1, w2.data(), nullptr, true);
    compare(r, w1, w2);
    if (std::memcmp(w1.data(), w3.data(), sizeof(float) * w1.size()) != 0) r.maxError = std::max(r.maxError, 1.0);
  } else if (k == "bias_backward") {
    const int BT = dim(dims, ndims, 0, kernel), OC = dim(dims, ndims, 1, kernel);
    const auto d = randomVec(static_cast<size_t>(BT) * OC, g);
    auto b1 = randomVec(OC, g), b2 = b1;
    biasBackward(threads, b1.data(), d.data(), BT, OC);
    biasBackwardNaive(b2.data(), d.data(), BT, OC);
    compare(r, b1, b2);
  } else if (k == "layernorm_forward" || k == "layernorm_backward") {
    const int N = dim(dims, ndims, 0, kernel), C = dim(dims, ndims, 1, kernel);
    auto x = randomVec(static_cast<size_t>(N) * C, g, 3.0f);
    for (int i = 0; i < N; ++i) x[static_cast<size_t>(i) * C] += 2.0f;  // rows with a non-zero mean
    const auto w = randomVec(C, g), b = randomVec(C, g);
    std::vector<float> o1(x.size()), o2(x.size()), m1(N), m2(N), s1(N), s2(N);
    layernormForward(threads, o1.data(), m1.data(), s1.data(), x.data(), w.data(), b.data(), N, C);
    layernormForwardNaive(o2.data(), m2.data(), s2.data(), x.data(), w.data(), b.data(), N, C);
    if (k == "layernorm_forward") {
      compare(r, o1, o2);
      compare(r, m1, m2);
      compare(r, s1, s2);
    } else {
      const auto dout = randomVec(x.size(), g);
      auto di1 = randomVec(x.size(), g), di2 = di1;
      auto dw1 = randomVec(C, g), dw2 = dw1, db1 = randomVec(C, g), db2 = db1;
      layernormBackward(threads, di1.data(), dw1.data(), db1.data(), dout.data(), x.data(), w.data(), m2.data(), s2.data(), N, C);
      layernormBackwardNaive(di2.data(), dw2.data(), db2.data(), dout.data(), x.data(), w.data(), m2.data(), s2.data(), N, C);
      compare(r, di1, di2);
      compare(r, dw1, dw2);
      compare(r, db1, db2);
    }
  } else if (k == "gelu_forward" || k == "gelu_backward") {
    const int n = dim(dims, ndims, 0, kernel);
    const auto x = randomVec(n, g, 6.0f), d = randomVec(n, g);
    std::vector<float> o1(n), o2(n);
    if (k == "gelu_forward") {
      geluForward(threads, o1.data(), x.data(), n);
      geluForwardNaive(o2.data(), x.data(), n);
    } else {
      geluBackward(threads, o1.data(), x.data(), d.data(), n);
      geluBackwardNaive(o2.data(), x.data(), d.data(), n);
    }
    compare(r, o1, o2);
    // An element's bits must not depend on its place in the array (decoding runs gelu over a
    // batch of rows whose size varies): the same values inside a longer array give the same out.
    const size_t longer = static_cast<size_t>(n) + 8 + (8 - n % 8) % 8 + 3;
    std::vector<float> xl(longer, 0.5f), dl(longer, 0.5f), ol(longer);
    std::copy(x.begin(), x.end(), xl.begin());
    std::copy(d.begin(), d.end(), dl.begin());
    if (k == "gelu_forward")
      geluForward(threads, ol.data(), xl.data(), longer);
    else
      geluBackward(threads, ol.data(), xl.data(), dl.data(), longer);
    if (std::memcmp(ol.data(), o1.data(), sizeof(float) * n) != 0) r.maxError = std::max(r.maxError, 1.0);
  } else if (k == "attention_forward" || k == "attention_backward") {
    const int B = dim(dims, ndims, 0, kernel), T = dim(dims, ndims, 1, kernel), C = dim(dims, ndims, 2, kernel), H = dim(dims, ndims, 3, kernel);
    const int window = ndims > 4 ? std::max(0, dims[4]) : 0;
    if (C % H != 0) fail("E_BAD_ARGUMENT", "checkKernel attention: C must be a multiple of H");
    const auto qkv = randomVec(static_cast<size_t>(B) * T * 3 * C, g, 1.5f);
    std::vector<float> o1(static_cast<size_t>(B) * T * C), o2(o1.size()), l1(static_cast<size_t>(B) * H * T), l2(l1.size());
    attentionForward(threads, o1.data(), l1.data(), qkv.data(), B, T, C, H, window);
    attentionForwardNaive(o2.data(), l2.data(), qkv.data(), B, T, C, H, window);
    if (k == "attention_forward") {
      compare(r, o1, o2);
      compare(r, l1, l2);
    } else {
      const auto dout = randomVec(o1.size(), g);
      std::vector<float> d1(qkv.size()), d2(qkv.size());
      attentionBackward(threads, d1.data(), dout.data(), qkv.data(), o1.data(), l1.data(), B, T, C, H, window);
      attentionBackwardNaive(d2.data(), dout.data(), qkv.data(), o2.data(), l2.data(), B, T, C, H, window);
      compare(r, d1, d2);
    }
  } else if (k == "attention_decode") {
    const int n = dim(dims, ndims, 0, kernel), T = dim(dims, ndims, 1, kernel), C = dim(dims, ndims, 2, kernel), H = dim(dims, ndims, 3, kernel);
    const int window = ndims > 4 ? std::max(0, dims[4]) : 0;
    if (C % H != 0) fail("E_BAD_ARGUMENT", "checkKernel attention: C must be a multiple of H");
    const auto qkv = randomVec(static_cast<size_t>(n) * 3 * C, g, 1.5f);
    std::vector<std::vector<float>> kc(n), vc(n);
    std::vector<const float*> kp(n), vp(n);
    std::vector<int> pos(n);
    for (int r = 0; r < n; ++r) {
      kc[r] = randomVec(static_cast<size_t>(T) * C, g, 1.5f);
      vc[r] = randomVec(static_cast<size_t>(T) * C, g);
      kp[r] = kc[r].data();
      vp[r] = vc[r].data();
      pos[r] = static_cast<int>(g.next() % T);
    }
    std::vector<float> o1(static_cast<size_t>(n) * C), o2(o1.size());
    // caches (C, T): transposed, ld = T
    attentionDecode(threads, o1.data(), qkv.data(), kp.data(), vp.data(), static_cast<size_t>(T), pos.data(), n, C, H, window);
    attentionDecodeNaive(o2.data(), qkv.data(), kp.data(), vp.data(), static_cast<size_t>(T), pos.data(), n, C, H, window);
    compare(r, o1, o2);
  } else if (k == "cross_entropy" || k == "softmax") {
    const int N = dim(dims, ndims, 0, kernel), V = dim(dims, ndims, 1, kernel);
    const auto z = randomVec(static_cast<size_t>(N) * V, g, 8.0f);
    auto z1 = z, z2 = z;
    if (k == "softmax") {
      softmaxRows(threads, z1.data(), N, V);
      softmaxRowsNaive(z2.data(), N, V);
      compare(r, z1, z2);
    } else {
      std::vector<uint32_t> t(N);
      for (int i = 0; i < N; ++i) t[i] = (i % 7 == 3) ? kIgnore : static_cast<uint32_t>(g.next() % V);
      std::vector<float> l1(N), l2(N);
      crossEntropy(threads, z1.data(), l1.data(), t.data(), N, V, 0.37f);
      crossEntropyNaive(z2.data(), l2.data(), t.data(), N, V, 0.37f);
      compare(r, l1, l2);
      compare(r, z1, z2);
    }
  } else {
    fail("E_BAD_ARGUMENT", "checkKernel: unknown kernel " + k);
  }
  return r;
}

void checkAllPaths(const std::string& kernel, const std::vector<int>& dims) {
  for (const Isa isa : {Isa::Generic, Isa::Avx2, Isa::Avx512}) {
    // Every path this CPU offers (one it lacks would silently run a narrower one: checked once).
    if (static_cast<int>(isa) > static_cast<int>(kernels::cpuIsa())) continue;
    CAPTURE(kernel);
    CAPTURE(dims.size() > 0 ? dims[0] : 0);
    CAPTURE(dims.size() > 1 ? dims[1] : 0);
    CAPTURE(dims.size() > 2 ? dims[2] : 0);
    CAPTURE(static_cast<int>(isa));
    const CheckResult one = checkKernel(kernel, dims, 7, Exec(1, isa));
    const CheckResult three = checkKernel(kernel, dims, 7, Exec(3, isa));
    CHECK(one.compared > 0);
    CHECK(one.maxError < 1e-4);
    CHECK(three.maxError < 1e-4);
    CHECK(one.digest == three.digest);  // bit-identical for any thread count
  }
}

}  // namespace cl::tests
