// Stage 1, counting: the model's levels (raw counts of every n-gram, BOS-padded, EOS as the last
// target) and the corpus statistics (support and inside n-grams, type counts) on a corpus counted
// by hand.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <utility>

#include "common/errors.hh"
#include "ngram_fixture.hh"
#include "stats/stats.hh"

using namespace cl::tests;
using cl::ngram::Model;
using cl::ngram::Smoothing;

TEST_CASE("a bigram model's levels hold the hand counts") {
  const Corpus c = abc();
  for (const int threads : {1, 2}) {
    const auto m = Model::fit(options(2, Smoothing::KneserNey, 6, threads), c.view());
    // Level 1 is indexed by word id; positions are the tokens and one EOS per sequence.
    const auto& l1 = m->level(1);
    REQUIRE(l1.size() == 6);
    CHECK(l1.count[0] == 0);
    CHECK(l1.count[kBos] == 0);
    CHECK(l1.count[kEos] == 3);
    CHECK(l1.count[kA] == 2);
    CHECK(l1.count[kB] == 3);
    CHECK(l1.count[kC] == 1);
    // Level 2: (parent = the first word's level-1 node, word) → count, sorted by (parent, word).
    const auto& l2 = m->level(2);
    std::map<std::pair<uint32_t, uint32_t>, uint32_t> got;
    for (size_t i = 0; i < l2.size(); ++i) {
      if (i > 0) CHECK(std::make_pair(l2.parent[i - 1], l2.word[i - 1]) < std::make_pair(l2.parent[i], l2.word[i]));
      got[{l2.parent[i], l2.word[i]}] = l2.count[i];
    }
    const std::map<std::pair<uint32_t, uint32_t>, uint32_t> want = {
        {{kBos, kA}, 2}, {{kBos, kB}, 1}, {{kA, kB}, 2}, {{kB, kEos}, 2}, {{kB, kC}, 1}, {{kC, kEos}, 1}};
    CHECK(got == want);
    const auto st = m->stats();
    CHECK(st.positions == 9);
    CHECK(st.sequences == 3);
    REQUIRE(st.ngrams.size() == 2);
    CHECK(st.ngrams[0] == 4);  // a b c EOS
    CHECK(st.ngrams[1] == 6);
  }
}

TEST_CASE("a trigram's contexts start with BOS near the start of a sequence") {
  const Corpus c({{kA, kB}});
  const auto m = Model::fit(options(3, Smoothing::Mle, 6), c.view());
  // Trigram positions: (BOS a) has no trigram (the first token's context is just BOS);
  // (BOS a b), (a b EOS).
  CHECK(m->level(3).size() == 2);
  CHECK(m->stats().ngrams == std::vector<uint64_t>{3, 3, 2});
}

// (Options are validated by the caller, the addon, before they reach the engine.)
TEST_CASE("bad corpora are typed errors") {
  const auto code = [](const Corpus& c) {
    try {
      Model::fit(options(2, Smoothing::Mle, 6), c.view());
    } catch (const cl::Error& e) {
      return e.code();
    }
    return std::string("none");
  };
  CHECK(code(Corpus({{kA, 9}})) == "E_TOKEN_RANGE");     // outside the vocabulary
  CHECK(code(Corpus({{kA, kBos}})) == "E_TOKEN_RANGE");  // BOS inside a sequence
  CHECK(code(Corpus({})) == "E_CORPUS_EMPTY");
  Corpus bad = abc();
  bad.offsets[1] = 7;  // past the end
  CHECK(code(bad) == "E_OFFSETS");
}

TEST_CASE("corpus statistics: support and inside n-grams, types") {
  const Corpus c = abc();
  namespace st = cl::stats;
  CHECK(st::supportNgrams(c.view(), 2, kBos, kEos).size() == 6);
  CHECK(st::supportNgrams(c.view(), 1, kBos, kEos).size() == 4);
  uint64_t total = 0;
  CHECK(st::insideNgrams(c.view(), 2, &total).size() == 2);  // (a b) twice, (b c)
  CHECK(total == 3);
  CHECK(st::insideNgrams(c.view(), 3, &total).size() == 1);  // (a b c)
  CHECK(total == 1);
  const auto t = st::typeCounts(c.tokens.data(), c.tokens.size());
  CHECK(t.ids == std::vector<uint32_t>{kA, kB, kC});
  CHECK(t.counts == std::vector<double>{2, 3, 1});
  // Support overlap with a sample "a b c": its bigrams BOS a, a b, b c, c EOS are all in abc().
  const Corpus s({{kA, kB, kC}});
  for (const int threads : {1, 3}) {
    const auto ref = st::buildSupport(c.view(), {1, 2}, kBos, kEos, threads);
    const auto cmp = st::compareSupport(s.view(), ref, threads);
    REQUIRE(cmp.size() == 2);
    CHECK(cmp[1].order == 2);
    CHECK(cmp[1].sample == 4);
    CHECK(cmp[1].reference == 6);
    CHECK(cmp[1].both == 4);
    const auto d = st::diversityCounts(c.view(), threads);
    CHECK(d.distinct2 == 2);
    CHECK(d.total2 == 3);
    CHECK(d.distinct3 == 1);
    CHECK(d.repeated == 0);
  }
}
