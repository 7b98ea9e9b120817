// Stages 2 and 3, adjusted counts, discounts and the interpolated estimates: modified Kneser–Ney
// (as KenLM's lmplz: adjusted counts = distinct left extensions below the top order, discounts
// from counts of adjusted counts, fallback 0.5/1/1.5), MLE and add-k on corpora estimated by hand.
#include <doctest/doctest.h>

#include <numeric>
#include <vector>

#include "ngram_fixture.hh"

using namespace cl::tests;
using cl::ngram::Model;
using cl::ngram::Smoothing;

namespace {
std::vector<double> row(const Model& m, std::vector<uint32_t> ctx, int threads = 1) {
  std::vector<double> out(m.options().vocabSize);
  m.conditional<double>(ctx.data(), 1, ctx.size(), out.data(), threads);
  return out;
}
}  // namespace

TEST_CASE("discounts from counts of adjusted counts (Chen & Goodman)") {
  // Top-order (raw) bigram counts: BOS a 4, a EOS 4, BOS b 3, b EOS 3, BOS c 2, c d 2, d EOS 2,
  // BOS e 1, e EOS 1: n1 = 2, n2 = 3, n3 = 2, n4 = 2; Y = 2/(2+2·3) = 1/4;
  // D1 = 1 - 2Y·3/2 = 1/4, D2 = 2 - 3Y·2/3 = 3/2, D3+ = 3 - 4Y·2/2 = 2.
  const uint32_t d = 6, e = 7;
  std::vector<std::vector<uint32_t>> seqs;
  for (int i = 0; i < 4; ++i) seqs.push_back({kA});
  for (int i = 0; i < 3; ++i) seqs.push_back({kB});
  for (int i = 0; i < 2; ++i) seqs.push_back({kC, d});
  seqs.push_back({e});
  const Corpus c(seqs);
  const auto m = Model::fit(options(2, Smoothing::KneserNey, 8), c.view());
  const auto st = m->stats();
  CHECK(st.discounts[1][0] == doctest::Approx(0.25).epsilon(1e-15));
  CHECK(st.discounts[1][1] == doctest::Approx(1.5).epsilon(1e-15));
  CHECK(st.discounts[1][2] == doctest::Approx(2.0).epsilon(1e-15));
  CHECK_FALSE(st.discountFallback[1]);
  // Unigram adjusted counts (left extensions): a, b, c, e 1 each (BOS), d 1 (c), EOS 4: n1 = 5,
  // n2 = n3 = 0: the counts of counts are unusable, so the fallback discounts.
  CHECK(st.discountFallback[0]);
  CHECK(st.discounts[0] == std::array<double, 3>{0.5, 1.0, 1.5});
}

TEST_CASE("Kneser-Ney bigram probabilities by hand") {
  // abc(), V = 6 (<unk> BOS EOS a b c), fallback discounts 0.5 / 1 / 1.5 at both orders.
  // Unigram adjusted counts: a 1 (BOS), b 2 (BOS, a), c 1 (b), EOS 2 (b, c); sum 6;
  // gamma(root) = (0.5·2 + 1·2)/6 = 1/2; p1(w) = (a(w) - D)/6 + (1/2)/5:
  //   p1(a) = p1(c) = 1/12 + 1/10, p1(b) = p1(EOS) = 1/6 + 1/10, p1(<unk>) = 1/10, p1(BOS) = 0.
  const Corpus c = abc();
  const auto m = Model::fit(options(2, Smoothing::KneserNey, 6), c.view());
  const double pa = 1.0 / 12 + 0.1, pb = 1.0 / 6 + 0.1, pc = pa, peos = pb, punk = 0.1;
  // Context b: b EOS 2, b c 1 → u = 1/3, 1/6; gamma = (0.5 + 1)/3 = 1/2.
  auto r = row(*m, {kB});
  CHECK(r[kEos] == doctest::Approx(1.0 / 3 + 0.5 * peos).epsilon(1e-12));
  CHECK(r[kC] == doctest::Approx(1.0 / 6 + 0.5 * pc).epsilon(1e-12));
  CHECK(r[kA] == doctest::Approx(0.5 * pa).epsilon(1e-12));
  CHECK(r[kB] == doctest::Approx(0.5 * pb).epsilon(1e-12));
  CHECK(r[0] == doctest::Approx(0.5 * punk).epsilon(1e-12));
  CHECK(r[kBos] == 0.0);
  CHECK(std::accumulate(r.begin(), r.end(), 0.0) == doctest::Approx(1.0).epsilon(1e-12));
  // Context a: a b 2 → u = 1/2, gamma = 1·1/2.
  r = row(*m, {kA});
  CHECK(r[kB] == doctest::Approx(0.5 + 0.5 * pb).epsilon(1e-12));
  CHECK(r[kEos] == doctest::Approx(0.5 * peos).epsilon(1e-12));
  // Context BOS: BOS a 2, BOS b 1.
  r = row(*m, {kBos});
  CHECK(r[kA] == doctest::Approx(1.0 / 3 + 0.5 * pa).epsilon(1e-12));
  CHECK(r[kB] == doctest::Approx(1.0 / 6 + 0.5 * pb).epsilon(1e-12));
  // An unseen context (<unk>) backs off to the unigram level.
  r = row(*m, {0});
  CHECK(r[kA] == doctest::Approx(pa).epsilon(1e-12));
  CHECK(r[kEos] == doctest::Approx(peos).epsilon(1e-12));
  // Rows are the same for any thread count.
  CHECK(row(*m, {kB}, 3) == row(*m, {kB}, 1));
}

TEST_CASE("MLE and add-k bigram probabilities by hand") {
  const Corpus c = abc();
  const auto mle = Model::fit(options(2, Smoothing::Mle, 6), c.view());
  auto r = row(*mle, {kB});
  CHECK(r[kEos] == doctest::Approx(2.0 / 3).epsilon(1e-15));
  CHECK(r[kC] == doctest::Approx(1.0 / 3).epsilon(1e-15));
  CHECK(r[kA] == 0.0);
  // add-k, k = 1/2, at the longest seen context: (c(hw) + k)/(c(h·) + k(V-1)), V-1 = 5.
  auto o = options(2, Smoothing::AddK, 6);
  o.k = 0.5;
  const auto addk = Model::fit(o, c.view());
  r = row(*addk, {kB});
  CHECK(r[kEos] == doctest::Approx(2.5 / 5.5).epsilon(1e-12));
  CHECK(r[kC] == doctest::Approx(1.5 / 5.5).epsilon(1e-12));
  CHECK(r[kA] == doctest::Approx(0.5 / 5.5).epsilon(1e-12));
  CHECK(r[0] == doctest::Approx(0.5 / 5.5).epsilon(1e-12));
}
