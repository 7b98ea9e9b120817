// Stage 4, queries: per-position log-probabilities of a corpus (evaluate), raw counts at the full
// context (counts), and context canonicalisation, on the hand-estimated KN bigram of abc().
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "ngram_fixture.hh"

using namespace cl::tests;
using cl::ngram::Model;
using cl::ngram::Smoothing;

TEST_CASE("evaluate: log p of every position by hand") {
  const Corpus c = abc();
  const auto m = Model::fit(options(2, Smoothing::KneserNey, 6), c.view());
  const double pa = 1.0 / 12 + 0.1, pb = 1.0 / 6 + 0.1, pc = pa, peos = pb;
  // "a b c": p(a|BOS) p(b|a) p(c|b) p(EOS|c); context c: c EOS 1 → u = 1/2, gamma = 1/2.
  const Corpus s({{kA, kB, kC}});
  const std::vector<double> want = {std::log(1.0 / 3 + 0.5 * pa), std::log(0.5 + 0.5 * pb), std::log(1.0 / 6 + 0.5 * pc),
                                    std::log(0.5 + 0.5 * peos)};
  for (const int threads : {1, 3}) {
    std::vector<double> lp(4);
    const auto r = m->evaluate(s.view(), lp.data(), threads);
    CHECK(r.positions == 4);
    CHECK(r.zeroProbability == 0);
    for (int i = 0; i < 4; ++i) CHECK(lp[i] == doctest::Approx(want[i]).epsilon(1e-12));
    CHECK(r.logLikelihood == doctest::Approx(want[0] + want[1] + want[2] + want[3]).epsilon(1e-12));
  }
}

TEST_CASE("MLE gives zero probability to an unseen bigram") {
  const Corpus c = abc();
  const auto m = Model::fit(options(2, Smoothing::Mle, 6), c.view());
  const Corpus s({{kC, kA}});  // p(c|BOS) = 0 under MLE
  const auto r = m->evaluate(s.view(), nullptr, 1);
  CHECK(r.zeroProbability >= 1);
  CHECK(std::isinf(r.logLikelihood));
}

TEST_CASE("counts: raw counts at the full context; longer contexts are cut") {
  const Corpus c = abc();
  const auto m = Model::fit(options(2, Smoothing::KneserNey, 6), c.view());
  // Contexts (width 2): (a b) → cut to b; (b BOS) → BOS.
  const std::vector<uint32_t> ctx = {kA, kB, kB, kBos};
  std::vector<double> out(2 * 6), totals(2);
  m->counts(ctx.data(), 2, 2, out.data(), totals.data(), 1);
  CHECK(totals[0] == 3);
  CHECK(out[kEos] == 2);
  CHECK(out[kC] == 1);
  CHECK(out[kA] == 0);
  CHECK(totals[1] == 3);
  CHECK(out[6 + kA] == 2);
  CHECK(out[6 + kB] == 1);
}

TEST_CASE("conditional: everything before the last BOS is ignored") {
  const Corpus c = abc();
  const auto m = Model::fit(options(3, Smoothing::KneserNey, 6), c.view());
  const std::vector<uint32_t> a = {kC, kBos, kA}, b = {kBos, kBos, kA};
  std::vector<double> ra(6), rb(6);
  m->conditional<double>(a.data(), 1, 3, ra.data(), 1);
  m->conditional<double>(b.data(), 1, 3, rb.data(), 1);
  CHECK(ra == rb);
}
