// The AVX-512 paths against the AVX2 paths: every AVX-512 body promises the AVX2 body's bits (same
// operations per element in the same order, 16 lanes per instruction instead of 8), so a model's
// results do not depend on which of the two the CPU offers. (Each path is also checked against the
// naive kernels by checkAllPaths in the per-kernel tests.) On a CPU without AVX-512 the comparison
// cannot run: the test says so and checks only the path resolution.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "kernel_check.hh"
#include "kernels/cpu/kernels.hh"

namespace k = cl::kernels;

TEST_CASE("a requested path falls back to the widest the CPU has") {
  const k::Isa best = k::cpuIsa();
  CHECK(k::Exec(1).level() == best);
  CHECK(k::Exec(1, k::Isa::Generic).level() == k::Isa::Generic);
  CHECK(!k::Exec(1, k::Isa::Generic).avx2());
  CHECK(static_cast<int>(k::Exec(1, k::Isa::Avx512).level()) <= static_cast<int>(best));
  // (cpuIsa() may be capped by COLLAPSE_MAX_ISA below what the CPU has.)
  CHECK(k::Exec(1, k::Isa::Avx512).avx512() == (best == k::Isa::Avx512));
  CHECK(k::Exec(1, k::Isa::Avx2).avx2() == (static_cast<int>(best) >= static_cast<int>(k::Isa::Avx2)));
  if (best == k::Isa::Avx512) CHECK(k::cpuHasAvx512());
  if (k::cpuHasAvx512()) CHECK(k::cpuHasAvx2());
  CHECK(!k::Exec(1, k::Isa::Avx2).avx512());
  CHECK(std::string(k::isaName(k::Isa::Auto)) == k::isaName(best));
}

TEST_CASE("the AVX-512 kernels give the AVX2 kernels' bits") {
  if (k::cpuIsa() != k::Isa::Avx512) {
    WARN_MESSAGE(false, "no AVX-512 here (or COLLAPSE_MAX_ISA caps it): AVX-512 vs AVX2 not compared");
    return;
  }
  const std::vector<std::pair<std::string, std::vector<int>>> cases = {
      {"matmul_nt", {6, 32, 16}},     {"matmul_nt", {37, 70, 300}},   {"matmul_nt", {97, 1030, 260}},  {"matmul_nt", {400, 40, 70}},
      {"matmul_nt", {5, 1001, 64}},   {"matmul_nt", {193, 97, 513}},  {"matmul_nn", {37, 70, 300}},    {"matmul_nn", {400, 64, 70}},
      {"matmul_tn", {100, 33, 17}},   {"matmul_tn", {64, 256, 300}},  {"weight_grad_t", {300, 64, 1001}}, {"weight_grad_t", {37, 13, 70}},
      {"weight_grad_t", {70, 6, 64}}, {"cross_entropy", {9, 1001}},   {"cross_entropy", {4, 8}},       {"cross_entropy", {5, 37}},
      {"softmax", {9, 1001}},         {"softmax", {3, 15}},           {"softmax", {2, 64}},
      {"gelu_forward", {1}},          {"gelu_forward", {15}},         {"gelu_forward", {40000}},       {"gelu_backward", {17}},
      {"gelu_backward", {33000}},
      // attention (B,T,C,H,window): head sizes 4 (per-channel path), 8 and 16 (row path), rows of
      // 1..150 keys (the 64- and 16-key AVX-512 blocks, the 8-key and scalar tails), local windows
      {"attention_forward", {2, 150, 64, 16, 0}},  {"attention_forward", {1, 150, 64, 4, 70}},  {"attention_forward", {2, 41, 24, 3, 0}},
      {"attention_backward", {2, 150, 64, 16, 0}}, {"attention_backward", {1, 150, 64, 4, 70}}, {"attention_backward", {2, 41, 24, 3, 5}},
      {"attention_backward", {1, 130, 12, 3, 0}},
      // decoding (n,T,C,H,window): the two-pass heads (hd 1, 2, 4, 8) and the general row (hd 16)
      {"attention_decode", {5, 150, 64, 16, 0}},   {"attention_decode", {3, 70, 64, 16, 40}},   {"attention_decode", {4, 37, 16, 2, 0}},
      {"attention_decode", {3, 100, 64, 8, 0}},    {"attention_decode", {2, 33, 8, 8, 0}},      {"attention_decode", {2, 45, 4, 2, 9}},
      {"attention_decode", {2, 90, 64, 4, 0}},
  };
  for (const auto& [kernel, dims] : cases) {
    CAPTURE(kernel);
    CAPTURE(dims[0]);
    CAPTURE(dims[1]);
    for (const int threads : {1, 3}) {
      const auto avx2 = cl::tests::checkKernel(kernel, dims, 11, k::Exec(threads, k::Isa::Avx2));
      const auto avx512 = cl::tests::checkKernel(kernel, dims, 11, k::Exec(threads, k::Isa::Avx512));
      CHECK(avx512.compared == avx2.compared);
      CHECK(avx512.maxError < 1e-4);
      CHECK(avx512.digest == avx2.digest);
    }
  }
}
