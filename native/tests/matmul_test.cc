// The blocked matmul (kernels/cpu/matmul.cc) against the naive triple loop: forward (A·Bᵀ), input
// gradient (A·B), weight gradient (Aᵀ·B, and its transposed form bit for bit), bias gradient; edge
// tiles, a K over several KC slices, a wide N; both instruction-set paths, 1 and 3 threads.
#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "kernel_check.hh"
#include "kernels/cpu/kernels.hh"

using cl::tests::checkAllPaths;

TEST_CASE("matmul A·Bᵀ + bias, A·B, Aᵀ·B match the naive product") {
  for (const char* k : {"matmul_nt", "matmul_nn", "matmul_tn"}) {
    checkAllPaths(k, {1, 1, 1});
    checkAllPaths(k, {7, 13, 5});
    checkAllPaths(k, {6, 16, 256});
    checkAllPaths(k, {37, 70, 300});  // K spans two KC slices, edge tiles on both sides
    checkAllPaths(k, {100, 33, 17});
    checkAllPaths(k, {97, 1030, 260});
    checkAllPaths(k, {400, 40, 70});  // several row blocks of an A read in place, the last sliver partial
    checkAllPaths(k, {193, 17, 513});
  }
  checkAllPaths("matmul_nt", {5, 1001, 64});  // a wide, odd N (the lm_head)
}

TEST_CASE("the transposed weight gradient equals matmulBackwardWeight bit for bit") {
  checkAllPaths("weight_grad_t", {37, 13, 70});
  checkAllPaths("weight_grad_t", {300, 64, 1001});
  checkAllPaths("weight_grad_t", {5, 7, 16});
}

TEST_CASE("bias gradient matches the naive column sums") {
  checkAllPaths("bias_backward", {1, 1});
  checkAllPaths("bias_backward", {33, 70});
  checkAllPaths("bias_backward", {129, 3});
}

TEST_CASE("a packed B gives the same bits as gemm") {
  const int M = 11, K = 40, N = 35;
  std::vector<float> A(M * K), W(N * K), bias(N), c1(M * N), c2(M * N);
  for (int i = 0; i < M * K; ++i) A[i] = static_cast<float>((i * 37 % 101) - 50) / 25.0f;
  for (int i = 0; i < N * K; ++i) W[i] = static_cast<float>((i * 53 % 89) - 44) / 30.0f;
  for (int j = 0; j < N; ++j) bias[j] = 0.01f * j;
  cl::kernels::matmulForward(2, c1.data(), A.data(), W.data(), bias.data(), M, K, N);
  const cl::kernels::PackedB packed = cl::kernels::packLinear(2, W.data(), K, N);
  cl::kernels::matmulForwardPacked(2, c2.data(), A.data(), packed, bias.data(), M);
  CHECK(std::memcmp(c1.data(), c2.data(), sizeof(float) * c1.size()) == 0);
}

TEST_CASE("a 2×2 product by hand") {
  // A = [[1,2],[3,4]], W (OC,IC) = [[5,6],[7,8]]: out = A·Wᵀ + b = [[17,23],[39,53]] + [1,-1].
  const float A[4] = {1, 2, 3, 4}, W[4] = {5, 6, 7, 8}, b[2] = {1, -1};
  for (const cl::kernels::Isa isa : {cl::kernels::Isa::Auto, cl::kernels::Isa::Generic}) {
    float out[4];
    cl::kernels::matmulForward(cl::kernels::Exec(1, isa), out, A, W, b, 2, 2, 2);
    CHECK(out[0] == 18.0f);
    CHECK(out[1] == 22.0f);
    CHECK(out[2] == 40.0f);
    CHECK(out[3] == 52.0f);
  }
}
