// gelu_new forward and backward (kernels/cpu/gelu.cc) against the naive kernels (which also
// check that an element's bits do not depend on its place in the array), and values by hand.
#include <doctest/doctest.h>

#include <cmath>

#include "kernel_check.hh"
#include "kernels/cpu/kernels.hh"

using cl::tests::checkAllPaths;

TEST_CASE("gelu forward and backward match the naive kernels") {
  for (const char* k : {"gelu_forward", "gelu_backward"}) {
    checkAllPaths(k, {1});
    checkAllPaths(k, {13});
    checkAllPaths(k, {1000});
    checkAllPaths(k, {20001});
    checkAllPaths(k, {40000});  // several parallel chunks
  }
}

TEST_CASE("gelu_new by hand") {
  const float x[4] = {0.0f, 1.0f, -1.0f, 3.0f};
  for (const cl::kernels::Isa isa : {cl::kernels::Isa::Auto, cl::kernels::Isa::Generic}) {
    float y[4];
    cl::kernels::geluForward(cl::kernels::Exec(1, isa), y, x, 4);
    for (int i = 0; i < 4; ++i) {
      const double v = x[i];
      const double ref = 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
      CHECK(y[i] == doctest::Approx(ref).epsilon(1e-6));
    }
    CHECK(y[0] == 0.0f);
  }
}
