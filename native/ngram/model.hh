// The n-gram engine: counting, estimation (MLE, add-k, interpolated modified Kneser–Ney),
// scoring, exact sampling and dense conditionals. No Node-API in here.
//
// Conventions (THEORY.md "Objects"):
//   * A corpus is CSR: tokens[offsets[i] .. offsets[i+1]) are the tokens of sequence i, without
//     BOS/EOS. A sequence is BOS t1 .. tm EOS; its positions are t1 .. tm and EOS.
//   * The context of a position for an order-K model is the K-1 previous tokens, BOS included;
//     near the start it is the shorter history that begins with BOS (as KenLM/SRILM: the first
//     token's context is just BOS). So no n-gram holds BOS anywhere but in its first slot.
//
// Storage: level n (1..K) holds the distinct n-grams of order n, sorted by (parent, word), where
// parent is the id of the (n-1)-gram prefix in level n-1 (level 0 is the root, one node). Level 1
// is indexed by word id directly (every vocabulary id has a node, seen or not). Hence the
// children of a context node are one contiguous run of the next level, sorted by word: the exact
// sampler searches its cumulative masses (narrowed by a guide table for long runs), and dense rows
// walk it. Lookups of (context, word) go through a hash index per level (see ChildIndex below).
// fit() counts by sorting: level n's positions, grouped by their level-(n-1) node and sorted by
// word within each group, come out in (parent, word) order, so ids need no renumbering.
//
// Probabilities (all three estimators share one interpolated form):
//   p(w | h) = u(h w) + gamma(h) * p(w | lower(h))
// where u(h w) is the discounted/normalised mass of the seen n-gram (0 if unseen) and gamma(h)
// the mass left to the lower level; contexts with no children are skipped. The base of the
// recursion is the uniform distribution over the vocabulary without BOS (size V-1).
//   * mle:   u = c(hw)/c(h.), gamma = 0 (only the longest seen context speaks).
//   * add-k: at the longest seen context h, p = (c(hw)+k)/(c(h.)+k(V-1)), i.e. u = c/(c(h.)+k(V-1))
//            and gamma = k(V-1)/(c(h.)+k(V-1)) with the uniform as lower level.
//   * kneser-ney: interpolated modified KN (Chen & Goodman 1999) as KenLM's lmplz estimates it:
//            adjusted counts a = raw count for order K and for n-grams starting with <s>, else the
//            number of distinct left extensions; discounts D1, D2, D3+ per order from counts of
//            adjusted counts; u = (a - D(a))/sum a; gamma = (D1 N1 + D2 N2 + D3 N3+)/sum a; the
//            unigram level interpolated with the uniform over V-1.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/corpus.hh"

namespace cl::ngram {

enum class Smoothing : int { Mle = 0, AddK = 1, KneserNey = 2 };

constexpr int kMaxOrder = 12;
constexpr uint32_t kNone = 0xFFFFFFFFu;

struct Options {
  int order = 3;                       // K: the longest n-gram (1..kMaxOrder)
  Smoothing smoothing = Smoothing::KneserNey;
  double k = 1.0;                      // add-k constant (> 0)
  uint32_t vocabSize = 0;              // V: ids are 0..V-1
  uint32_t bos = 1, eos = 2;           // special ids (distinct, < V)
  int threads = 1;                     // threads for fit (2 used), scoring, sampling and conditionals
};

using CorpusView = cl::CorpusView;

// Checks a corpus against the model's vocabulary; throws cl::Error (E_OFFSETS, E_TOKEN_RANGE).
void validateCorpus(const CorpusView& c, const Options& o);

struct Level {
  // Every node:
  std::vector<uint32_t> parent;  // id in level n-1 (0 = root for level 1)
  std::vector<uint32_t> word;    // last word of the n-gram
  std::vector<uint32_t> count;   // raw count: positions where this n-gram ends
  std::vector<double> prob;      // u: the uninterpolated mass of this n-gram given its parent context
  std::vector<double> cum;       // inclusive cumulative u over the siblings (same parent), in word order
  // The node of the n-gram without its first word (level n-1); levels 1..K (level 1: 0). Level K's
  // suffixes are not saved (deserialize recomputes them): the sampler's next context after a
  // K-gram is its suffix.
  std::vector<uint32_t> suffix;
  // Context nodes only (levels 0..K-1):
  std::vector<uint32_t> childBegin;  // size nodes+1: children are [childBegin[i], childBegin[i+1]) of level n+1
  std::vector<double> gamma;         // mass left to the lower level
  size_t size() const { return word.size(); }
};

struct Stats {
  std::vector<uint64_t> ngrams;                 // distinct n-grams per order 1..K (seen ones)
  std::vector<std::array<double, 3>> discounts;  // KN D1, D2, D3+ per order (zeros otherwise)
  std::vector<bool> discountFallback;            // per order: counts-of-counts unusable, fallback used
  uint64_t positions = 0;                        // training positions
  uint64_t sequences = 0;
  size_t bytes = 0;                              // resident bytes of the model arrays
};

struct EvalResult {
  double logLikelihood = 0;  // natural log; -inf if a position has p = 0
  uint64_t positions = 0;
  uint64_t zeroProbability = 0;
};

struct SampleRequest {
  uint64_t sequences = 0;   // exactly this many sequences (if > 0)
  uint64_t tokens = 0;      // else whole sequences until >= tokens positions
  uint32_t maxLength = 0;   // cut sequences at this many tokens (without BOS/EOS)
  uint64_t seed = 0;
  double temperature = 1.0;
  uint32_t topK = 0;        // 0 = off
  double topP = 1.0;        // 1 = off
};

struct SampleOutput {
  std::vector<uint32_t> tokens;
  std::vector<uint32_t> offsets;
  uint64_t truncated = 0;
};

class Model {
 public:
  // Counts and estimates a model from a corpus. Throws cl::Error on invalid input.
  static std::shared_ptr<const Model> fit(const Options& options, const CorpusView& corpus);
  // The model fit() gives on the base's training corpus followed by `more` (same options but the
  // thread count), from the base's counts and the counts of `more` alone: identical to the full
  // refit, bit for bit. The base is released before the estimate when the caller passes its last
  // reference. Throws cl::Error on invalid input.
  static std::shared_ptr<const Model> extend(std::shared_ptr<const Model> base, const CorpusView& more, int threads);
  // Restores a model written by serialize(); throws E_BAD_MODEL_FILE on any inconsistency.
  static std::shared_ptr<const Model> deserialize(const uint8_t* data, size_t size, int threads);

  std::vector<uint8_t> serialize() const;

  const Options& options() const { return opt_; }
  Stats stats() const;

  // Scores every position of a corpus; logProbs (if non-null) receives one entry per position.
  EvalResult evaluate(const CorpusView& corpus, double* logProbs, int threads) const;

  // Dense rows p(.|x) for `n` contexts of `width` ids each (row-major); out has n * V entries.
  // A context is read as THEORY.md writes it: left-padded with BOS; everything before the last
  // BOS is ignored. Width may differ from K-1: only the last K-1 tokens matter.
  template <class T>
  void conditional(const uint32_t* contexts, size_t n, size_t width, T* out, int threads) const;

  // Raw counts c(x, v) for the contexts (row-major n * V) and c(x) in rowTotals: the empirical
  // distribution of the training corpus at the full context (no backoff). Contexts are
  // canonicalised like conditional(); a context longer than K-1 is cut to its last K-1 tokens.
  void counts(const uint32_t* contexts, size_t n, size_t width, double* out, double* rowTotals, int threads) const;

  SampleOutput sample(const SampleRequest& request, int threads) const;

  // Exposed for tests and the theory module.
  int order() const { return opt_.order; }
  const Level& level(int n) const { return levels_[n]; }

 private:
  Model() = default;
  static std::shared_ptr<Model> countLevels(const Options& o, const CorpusView& c);
  void finishFit();  // estimate, lookup index, guide tables
  void estimate();
  void finishStats();

  // Finds the child of context node (n, ctx) with word w in level n+1; kNone if absent.
  uint32_t child(int n, uint32_t ctx, uint32_t w) const;
  bool hasChildren(int n, uint32_t id) const {
    const auto& cb = levels_[n].childBegin;
    return cb[id + 1] > cb[id];
  }
  // Deepest context node for a canonical context (tokens ctx[0..len)), as (level, id).
  std::pair<int, uint32_t> deepestContext(const uint32_t* ctx, size_t len) const;
  // Canonical context: the last K-1 tokens after the last BOS (BOS kept).
  size_t canonical(const uint32_t* ctx, size_t width, const uint32_t*& start) const;
  // p(w | chain from (n, id)); used by evaluate via its own walk, by conditional via rows.
  template <class T>
  void denseRow(int n, uint32_t id, T* row) const;
  double uniformMass() const { return 1.0 / static_cast<double>(opt_.vocabSize - 1); }

  friend struct Sampler;
  friend struct TemperatureTables;

  // Lookup index of levels 2..K (index_[n] for level n): open addressing with linear probing,
  // keyed by (parent, word), about half full. A slot holds the word and the node id; the parent
  // is checked against level n's parent array (read with the node's other data). No wrap-around:
  // the table has a tail of spare slots and always ends with an empty slot. Built by fit() and
  // deserialize(), never saved.
  struct Slot {
    uint32_t word, id;  // id = kNone: empty
  };
  struct ChildIndex {
    std::vector<Slot> slots;
    uint64_t cap = 0;  // home slots are [0, cap)
    uint64_t home(uint32_t parent, uint32_t w) const {
      uint64_t h = ((static_cast<uint64_t>(parent) << 32) | w) * 0x9E3779B97F4A7C15ull;
      h ^= h >> 29;
      h *= 0xBF58476D1CE4E5B9ull;
#if defined(__SIZEOF_INT128__)
      return static_cast<uint64_t>((static_cast<unsigned __int128>(h) * cap) >> 64);
#else
      return ((h >> 32) * cap) >> 32;  // cap < 2^32 here (tables of more than 2^31 nodes need int128)
#endif
    }
  };
  void buildIndex();   // buildHash + buildGuides
  void buildHash();    // needs parent/word only
  void buildGuides();  // needs the estimates
  std::vector<ChildIndex> index_;
  // Sampling guide tables (cutpoint method) for contexts with at least kGuideMin children, per
  // context level n < K: contexts c of level n own guide_[n][guideOff_[n][c] .. guideOff_[n][c+1]);
  // with T entries and step = total/T, entry j is the first child whose cum exceeds j*step. They
  // only narrow the search: the child drawn is the same. Built with the index, never saved.
  static constexpr uint32_t kGuideMin = 64, kGuideSpan = 8;
  std::vector<std::vector<uint32_t>> guideOff_, guide_;
  std::vector<double> p1_;  // the root level of every dense row: uniform * gamma(root) + u(v)

  Options opt_;
  std::vector<Level> levels_;  // 0..K
  std::vector<std::array<double, 3>> discounts_;
  std::vector<uint8_t> discountFallback_;
  uint64_t positions_ = 0, sequences_ = 0;
};

}  // namespace cl::ngram
