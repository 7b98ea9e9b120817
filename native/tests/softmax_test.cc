// Row softmax and the fused softmax + cross-entropy (kernels/cpu/softmax.cc) against the naive
// kernels, the ignore target, and the sampler's exp/max row helpers.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "kernel_check.hh"
#include "kernels/cpu/kernels.hh"

using cl::tests::checkAllPaths;
namespace k = cl::kernels;

TEST_CASE("softmax and cross-entropy match the naive kernels") {
  for (const char* name : {"softmax", "cross_entropy"}) {
    checkAllPaths(name, {1, 1});
    checkAllPaths(name, {9, 13});
    checkAllPaths(name, {21, 1001});
    checkAllPaths(name, {5, 4099});
  }
}

TEST_CASE("cross-entropy of one row by hand, and an ignored target") {
  // logits [0, ln 2, ln 3] → softmax [1/6, 2/6, 3/6]; target 2: loss = ln 6 - ln 3 = ln 2.
  for (const k::Isa isa : {k::Isa::Auto, k::Isa::Generic}) {
    std::vector<float> z = {0.0f, std::log(2.0f), std::log(3.0f), 1.0f, 2.0f, 3.0f};
    const uint32_t t[2] = {2, k::kIgnore};
    float loss[2];
    k::crossEntropy(k::Exec(1, isa), z.data(), loss, t, 2, 3, 1.0f);
    CHECK(loss[0] == doctest::Approx(std::log(2.0)).epsilon(1e-6));
    CHECK(z[0] == doctest::Approx(1.0 / 6).epsilon(1e-6));
    CHECK(z[1] == doctest::Approx(2.0 / 6).epsilon(1e-6));
    CHECK(z[2] == doctest::Approx(3.0 / 6 - 1).epsilon(1e-6));
    CHECK(loss[1] == 0.0f);
    CHECK(z[3] == 0.0f);
    CHECK(z[4] == 0.0f);
    CHECK(z[5] == 0.0f);
  }
}

TEST_CASE("maxRow and expShiftRow") {
  std::vector<float> z(21);
  for (size_t i = 0; i < z.size(); ++i) z[i] = static_cast<float>(i % 5) - 0.25f * static_cast<float>(i);
  z[13] = 9.5f;
  for (const k::Isa isa : {k::Isa::Auto, k::Isa::Generic}) {
    CHECK(k::maxRow(z.data(), z.size(), isa) == 9.5f);
    std::vector<float> e(z.size());
    k::expShiftRow(e.data(), z.data(), z.size(), 9.5f, 0.5f, isa);
    for (size_t i = 0; i < z.size(); ++i) CHECK(e[i] == doctest::Approx(std::exp((z[i] - 9.5) * 0.5)).epsilon(1e-6));
  }
}
