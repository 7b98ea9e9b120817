// Attention forward, backward and the KV-cache decoding step (kernels/cpu/attention.cc) against
// their naive references: global and local windows, head sizes that take the row-layout AVX2
// path (multiples of 8) and those that do not; both instruction-set paths, 1 and 3 threads.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernel_check.hh"
#include "kernels/cpu/kernels.hh"

using cl::tests::checkAllPaths;

TEST_CASE("attention forward matches the naive kernel") {
  checkAllPaths("attention_forward", {1, 1, 4, 1, 0});
  checkAllPaths("attention_forward", {2, 17, 24, 3, 0});   // hd 8
  checkAllPaths("attention_forward", {2, 41, 12, 3, 0});   // hd 4
  checkAllPaths("attention_forward", {1, 70, 64, 4, 40});  // hd 16, local window
  checkAllPaths("attention_forward", {2, 9, 12, 3, 0});
  checkAllPaths("attention_forward", {2, 17, 16, 4, 5});
  checkAllPaths("attention_forward", {3, 40, 64, 16, 0});
  checkAllPaths("attention_forward", {2, 70, 32, 2, 7});
  checkAllPaths("attention_forward", {2, 75, 96, 2, 0});  // more than 32 keys: the wide score loop
}

TEST_CASE("attention backward matches the naive kernel") {
  checkAllPaths("attention_backward", {1, 1, 4, 1, 0});
  checkAllPaths("attention_backward", {2, 17, 24, 3, 5});
  checkAllPaths("attention_backward", {2, 41, 12, 3, 0});
  checkAllPaths("attention_backward", {1, 70, 64, 4, 40});
  checkAllPaths("attention_backward", {2, 9, 12, 3, 0});
  checkAllPaths("attention_backward", {2, 17, 16, 4, 5});
  checkAllPaths("attention_backward", {2, 70, 32, 2, 7});
  checkAllPaths("attention_backward", {1, 33, 64, 16, 1});
  checkAllPaths("attention_backward", {2, 75, 96, 2, 0});
  checkAllPaths("attention_backward", {2, 50, 64, 8, 0});
}

TEST_CASE("attention decoding step matches the naive kernel") {
  checkAllPaths("attention_decode", {5, 20, 16, 4, 0});
  checkAllPaths("attention_decode", {5, 40, 24, 3, 6});
  checkAllPaths("attention_decode", {4, 19, 8, 8, 5});
  checkAllPaths("attention_decode", {3, 29, 12, 6, 0});
  checkAllPaths("attention_decode", {3, 37, 32, 2, 0});
}

TEST_CASE("two positions, one head, by hand") {
  // C = H = 1: q, k, v scalars. Position 0 sees itself: out0 = v0, lse0 = q0·k0. Position 1 sees
  // both: scores s_j = q1·k_j (unscaled, as GPT-Neo), out1 = Σ softmax(s)_j v_j.
  const float qkv[6] = {0.5f, 2.0f, 3.0f, /* pos 1 */ 1.0f, -1.0f, 5.0f};
  for (const cl::kernels::Isa isa : {cl::kernels::Isa::Auto, cl::kernels::Isa::Generic}) {
    float out[2], lse[2];
    cl::kernels::attentionForward(cl::kernels::Exec(1, isa), out, lse, qkv, 1, 2, 1, 1, 0);
    const double s0 = 1.0 * 2.0, s1 = 1.0 * -1.0;
    const double z = std::exp(s0) + std::exp(s1);
    CHECK(out[0] == doctest::Approx(3.0).epsilon(1e-6));
    CHECK(lse[0] == doctest::Approx(1.0).epsilon(1e-6));
    CHECK(out[1] == doctest::Approx((std::exp(s0) * 3.0 + std::exp(s1) * 5.0) / z).epsilon(1e-5));
    CHECK(lse[1] == doctest::Approx(std::log(z)).epsilon(1e-5));
  }
}
