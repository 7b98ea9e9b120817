// Incremental fitting: Model::extend(fit(T), S) must be the model fit(T + S) gives, array by array
// (counts, suffixes, child ranges, estimates, discounts), for every estimator and order, chained
// over several "generations" as the Accumulate paradigm grows its training set, and with the
// samples those models draw equal too.
#include <doctest/doctest.h>

#include <cstring>
#include <utility>
#include <vector>

#include "common/errors.hh"
#include "common/rng.hh"
#include "ngram_fixture.hh"

using namespace cl::tests;
using cl::ngram::Model;
using cl::ngram::Smoothing;

namespace {
// Random sequences over ids 3..V-1 with a skewed (Zipf-like) choice, so counts of every size occur.
std::vector<std::vector<uint32_t>> randomSeqs(uint64_t seed, size_t n, uint32_t V) {
  cl::SplitMix64 rng(cl::mix64(seed));
  std::vector<std::vector<uint32_t>> out(n);
  for (auto& s : out) {
    const size_t len = rng.next() % 9;  // empty sequences included
    for (size_t i = 0; i < len; ++i) {
      const double u = rng.uniform();
      s.push_back(3 + static_cast<uint32_t>(u * u * u * (V - 3)));
    }
  }
  return out;
}

template <class T>
bool sameBits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

void checkSame(const Model& x, const Model& y) {
  REQUIRE(x.order() == y.order());
  for (int n = 0; n <= x.order(); ++n) {
    CAPTURE(n);
    const auto& a = x.level(n);
    const auto& b = y.level(n);
    CHECK(sameBits(a.parent, b.parent));
    CHECK(sameBits(a.word, b.word));
    CHECK(sameBits(a.count, b.count));
    CHECK(sameBits(a.suffix, b.suffix));
    CHECK(sameBits(a.childBegin, b.childBegin));
    CHECK(sameBits(a.prob, b.prob));
    CHECK(sameBits(a.cum, b.cum));
    CHECK(sameBits(a.gamma, b.gamma));
  }
  const auto sx = x.stats(), sy = y.stats();
  CHECK(sx.ngrams == sy.ngrams);
  CHECK(sx.positions == sy.positions);
  CHECK(sx.sequences == sy.sequences);
  CHECK(sx.bytes == sy.bytes);
  for (size_t n = 0; n < sx.discounts.size(); ++n) CHECK(std::memcmp(&sx.discounts[n], &sy.discounts[n], sizeof(sx.discounts[n])) == 0);
  CHECK(sx.discountFallback == sy.discountFallback);
}
}  // namespace

TEST_CASE("extend(fit(T), S) is fit(T + S), bit for bit, over chained generations") {
  const uint32_t V = 40;
  for (const Smoothing sm : {Smoothing::KneserNey, Smoothing::Mle, Smoothing::AddK}) {
    for (const int K : {1, 2, 3, 4}) {
      for (const int threads : {1, 2}) {
        CAPTURE(static_cast<int>(sm));
        CAPTURE(K);
        CAPTURE(threads);
        const auto o = options(K, sm, V, threads);
        std::vector<std::vector<uint32_t>> all = randomSeqs(7 * K, 300, V);
        std::shared_ptr<const Model> inc = Model::fit(o, Corpus(all).view());
        for (int g = 1; g <= 4; ++g) {
          CAPTURE(g);
          // Each step adds a sample of a different size (and one step adds only empty sequences).
          const auto more = g == 3 ? std::vector<std::vector<uint32_t>>(5) : randomSeqs(100 * g + K, 50 + 120 * g, V);
          all.insert(all.end(), more.begin(), more.end());
          // Odd steps hand over the only reference (the base is consumed as the merge goes),
          // even ones keep a second (the base stays intact and must still be the old model).
          if (g % 2 == 1) {
            inc = Model::extend(std::move(inc), Corpus(more).view(), threads);
          } else {
            const auto kept = inc;
            const auto before = kept->serialize();
            inc = Model::extend(inc, Corpus(more).view(), threads);
            CHECK(kept->serialize() == before);
          }
          const auto full = Model::fit(o, Corpus(all).view());
          checkSame(*inc, *full);
          cl::ngram::SampleRequest rq;
          rq.tokens = 500;
          rq.maxLength = 30;
          rq.seed = 11 + g;
          const auto s1 = inc->sample(rq, threads), s2 = full->sample(rq, threads);
          CHECK(s1.tokens == s2.tokens);
          CHECK(s1.offsets == s2.offsets);
        }
      }
    }
  }
}

TEST_CASE("extend() on a larger vocabulary's corpus: new words at every level") {
  // The base never saw ids >= 20; the extension brings them (new level-1 counts, new contexts).
  const uint32_t V = 60;
  const auto o = options(3, Smoothing::KneserNey, V);
  std::vector<std::vector<uint32_t>> base = randomSeqs(1, 200, 20);
  const auto more = randomSeqs(2, 200, V);
  auto inc = Model::extend(Model::fit(o, Corpus(base).view()), Corpus(more).view(), 1);
  base.insert(base.end(), more.begin(), more.end());
  checkSame(*inc, *Model::fit(o, Corpus(base).view()));
}

TEST_CASE("extend() rejects what fit() rejects") {
  const auto o = options(2, Smoothing::KneserNey, 6);
  const auto m = Model::fit(o, abc().view());
  CHECK_THROWS_AS(Model::extend(m, Corpus({{kA, 9}}).view(), 1), cl::Error);  // token outside V
  CHECK_THROWS_AS(Model::extend(m, Corpus({}).view(), 1), cl::Error);         // no sequences
  CHECK_THROWS_AS(Model::extend(nullptr, abc().view(), 1), cl::Error);
}
