// Tiny corpora for the n-gram tests, small enough to count and estimate by hand.
// Ids: 0 <unk>, 1 BOS, 2 EOS, 3 a, 4 b, 5 c, 6.. more words.
#pragma once
#include <cstdint>
#include <vector>

#include "common/corpus.hh"
#include "ngram/model.hh"

namespace cl::tests {

constexpr uint32_t kBos = 1, kEos = 2, kA = 3, kB = 4, kC = 5;

struct Corpus {
  std::vector<uint32_t> tokens, offsets{0};
  explicit Corpus(const std::vector<std::vector<uint32_t>>& seqs) {
    for (const auto& s : seqs) {
      tokens.insert(tokens.end(), s.begin(), s.end());
      offsets.push_back(static_cast<uint32_t>(tokens.size()));
    }
  }
  CorpusView view() const { return CorpusView{tokens.data(), tokens.size(), offsets.data(), offsets.size()}; }
};

// "a b", "a b c", "b" — bigrams (with BOS/EOS): BOS a ×2, a b ×2, b EOS ×2, b c, c EOS, BOS b.
inline Corpus abc() { return Corpus({{kA, kB}, {kA, kB, kC}, {kB}}); }

inline ngram::Options options(int order, ngram::Smoothing s, uint32_t vocab, int threads = 1) {
  ngram::Options o;
  o.order = order;
  o.smoothing = s;
  o.vocabSize = vocab;
  o.bos = kBos;
  o.eos = kEos;
  o.threads = threads;
  return o;
}

}  // namespace cl::tests
