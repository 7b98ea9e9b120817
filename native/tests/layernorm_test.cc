// Layernorm forward and backward (kernels/cpu/layernorm.cc) against the naive kernels, and one
// row by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "kernel_check.hh"
#include "kernels/cpu/kernels.hh"

using cl::tests::checkAllPaths;

TEST_CASE("layernorm forward and backward match the naive kernels") {
  for (const char* k : {"layernorm_forward", "layernorm_backward"}) {
    checkAllPaths(k, {1, 1});
    checkAllPaths(k, {5, 7});
    checkAllPaths(k, {33, 64});
    checkAllPaths(k, {40, 130});
  }
}

TEST_CASE("one row by hand") {
  // x = [1, 2, 3, 4]: mean 2.5, variance 1.25, rstd = 1/sqrt(1.25 + 1e-5); weight 2, bias 1.
  const float x[4] = {1, 2, 3, 4}, w[4] = {2, 2, 2, 2}, b[4] = {1, 1, 1, 1};
  for (const cl::kernels::Isa isa : {cl::kernels::Isa::Auto, cl::kernels::Isa::Generic}) {
    float out[4], mean, rstd;
    cl::kernels::layernormForward(cl::kernels::Exec(1, isa), out, &mean, &rstd, x, w, b, 1, 4);
    const double r = 1.0 / std::sqrt(1.25 + 1e-5);
    CHECK(mean == doctest::Approx(2.5).epsilon(1e-7));
    CHECK(rstd == doctest::Approx(r).epsilon(1e-6));
    for (int i = 0; i < 4; ++i) CHECK(out[i] == doctest::Approx((x[i] - 2.5) * r * 2 + 1).epsilon(1e-6));
  }
}
