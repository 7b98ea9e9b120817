// Stage 5, sampling: the exact sampler's token frequencies against the hand-computed KN
// probabilities of abc() (first token p(·|BOS), second token after b p(·|b)), within 5 standard
// errors at a fixed seed; the same tokens for any thread count; sequence/token budgets.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ngram_fixture.hh"

using namespace cl::tests;
using cl::ngram::Model;
using cl::ngram::SampleRequest;
using cl::ngram::Smoothing;

namespace {
void within(double freq, double p, double n) {
  const double se = std::sqrt(p * (1 - p) / n);
  CHECK(std::fabs(freq - p) <= 5 * se + 1e-12);
}
}  // namespace

TEST_CASE("sample frequencies match the hand-computed probabilities") {
  const Corpus c = abc();
  const auto m = Model::fit(options(2, Smoothing::KneserNey, 6), c.view());
  const double pa = 1.0 / 12 + 0.1, pb = 1.0 / 6 + 0.1, pc = pa, peos = pb, punk = 0.1;
  SampleRequest req;
  req.sequences = 200000;
  req.maxLength = 2;
  req.seed = 11;
  const auto out = m->sample(req, 2);
  REQUIRE(out.offsets.size() == req.sequences + 1);
  std::vector<double> first(6, 0), afterB(6, 0);
  double n = static_cast<double>(req.sequences), nb = 0;
  for (size_t i = 0; i < req.sequences; ++i) {
    const uint32_t b = out.offsets[i], e = out.offsets[i + 1];
    if (b == e) {
      first[kEos] += 1;  // an empty sequence: EOS first
      continue;
    }
    first[out.tokens[b]] += 1;
    if (out.tokens[b] == kB) {
      nb += 1;
      afterB[e - b > 1 ? out.tokens[b + 1] : kEos] += 1;
    }
  }
  CHECK(first[kBos] == 0);
  within(first[kA] / n, 1.0 / 3 + 0.5 * pa, n);
  within(first[kB] / n, 1.0 / 6 + 0.5 * pb, n);
  within(first[kC] / n, 0.5 * pc, n);
  within(first[kEos] / n, 0.5 * peos, n);
  within(first[0] / n, 0.5 * punk, n);
  REQUIRE(nb > 1000);
  within(afterB[kEos] / nb, 1.0 / 3 + 0.5 * peos, nb);
  within(afterB[kC] / nb, 1.0 / 6 + 0.5 * pc, nb);
  within(afterB[kA] / nb, 0.5 * pa, nb);
  within(afterB[kB] / nb, 0.5 * pb, nb);
}

TEST_CASE("the same seed gives the same tokens for any thread count") {
  const Corpus c = abc();
  const auto m = Model::fit(options(3, Smoothing::KneserNey, 6), c.view());
  SampleRequest req;
  req.tokens = 5000;
  req.maxLength = 50;
  req.seed = 3;
  const auto one = m->sample(req, 1);
  const auto three = m->sample(req, 3);
  CHECK(one.tokens == three.tokens);
  CHECK(one.offsets == three.offsets);
  // A token budget: whole sequences until at least `tokens` positions (tokens + one EOS each).
  const uint64_t positions = one.tokens.size() + (one.offsets.size() - 1);
  CHECK(positions >= req.tokens);
  req.seed = 4;
  CHECK(m->sample(req, 1).tokens != one.tokens);
}
