// Sampling whole sequences from a fitted model: the pieces shared by the sampler's files.
//
//   sample.cc             Model::sample: work split, per-sequence streams, output assembly.
//   sample_exact.cc       temperature 1, no truncation: the interpolated mixture walked with one
//                         uniform per token (drawExact), and the same walk for many sequences at
//                         once with prefetching (exactBatch).
//   sample_temperature.cc temperature != 1, no truncation: tables of p(v|h)^(1/T) per context,
//                         scaled by the row maximum, and an exact rejection walk over them.
//   sample_truncated.cc   top-k / top-p (any temperature): the kept ids of a row, built sparsely
//                         and cached per context.
//
// Sequence i uses the random stream (seed, SAMP, i) only, so the output never depends on the
// thread count or on how sequences are split into work items.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "common/rng.hh"
#include "ngram/model.hh"

namespace cl::ngram {

// x^(1/T) for x = exp(logRatio), logRatio <= 0 (a value over its row's maximum): never overflows,
// underflows only where the true value is below the smallest double, and is exactly 1 at the
// maximum for every T (so T -> 0 tends to the argmax, and invT = inf is the argmax itself).
inline double powScaled(double logRatio, double invT) {
  if (logRatio == 0) return 1.0;
  if (!(logRatio > -std::numeric_limits<double>::infinity())) return 0.0;
  return std::exp(logRatio * invT);
}

// Temperature tables (sample_temperature.cc), built once per sample() call in O(n-grams).
// For a context h with children C_h, M_h is the maximum of p(.|h) and Q_h(v) = (p(v|h)/M_h)^(1/T).
// Off C_h the row is gamma_h p(.|h') (KN: h' the suffix context; add-k: the uniform), so
// Q_h = s_h Q_h' there with s_h = (gamma_h M_h' / M_h)^(1/T) <= 1. U_h = sum_{C_h} Q_h + s_h U_h'
// is the mass of the proposal that draws in C_h or else (scaled) from h'; a draw from h' that lands
// in C_h (or in the C of any context above it) is rejected and the token drawn again. The accepted
// draws follow Q_h exactly, and the acceptance is at least 1/(levels + 1) (each level's proposal
// mass is at most Q_h's total), in practice close to 1.
struct TemperatureTables {
  double invT = 1;
  std::vector<std::vector<double>> qcum;  // level 1..K: inclusive cumulative Q over the siblings
  std::vector<std::vector<double>> s, U;  // context levels 0..K-1 (nodes with children)
  void build(const Model& m, double temperature, int threads);
};

// Context-free tables of the top-k / top-p path (sample_truncated.cc).
struct TruncationBase {
  std::vector<double> base;        // base(v): the unigram-level mixture p1, or the uniform
  double logMax = 0;               // log of max base
  std::vector<double> baseT;       // (base(v) / max base)^(1/T), 0 where base is 0
  std::vector<double> tree;        // segment tree over baseT: leaves at [P2, 2 P2)
  std::vector<uint32_t> order;     // ids with base > 0 by base descending, ties by id
  size_t P2 = 1;
  void build(std::vector<double> b, double invT);
  double rangeSum(size_t a, size_t b) const;
};

struct Sampler {
  using Slot = Model::Slot;
  using ChildIndex = Model::ChildIndex;
  const Model& m;
  const SampleRequest& req;
  const bool truncated;  // top-k or top-p
  const bool tempered;   // temperature != 1 without truncation
  const TemperatureTables* tt = nullptr;
  const TruncationBase* tb[2] = {nullptr, nullptr};  // 0: p1 (unigram-level mixture), 1: uniform

  // A cached truncated row: the kept ids in id order with their inclusive cdf.
  struct Entry {
    uint64_t key = ~0ull;
    std::vector<uint32_t> ids;
    std::vector<double> cdf;
  };
  std::vector<Entry> cache;  // direct-mapped by context node
  size_t cacheBytes = 0;     // held by the cached rows
  static constexpr size_t kCacheBytes = size_t(128) << 20;
  // Scratch for building a row.
  std::vector<uint32_t> sIds, mark;
  std::vector<double> sP;
  struct Cand {
    double q;
    uint32_t v;
  };
  std::vector<Cand> scratch[3];
  uint32_t epoch = 0;

  Sampler(const Model& model, const SampleRequest& r);

  // Next context after emitting w from the deepest context (n, id).
  std::pair<int, uint32_t> advance(int n, uint32_t id, uint32_t w) const;
  uint32_t uniformId(double r) const;
  // Draws sequence `index` into out (tokens without BOS/EOS). Returns true if cut at maxLength.
  bool sequence(uint64_t index, std::vector<uint32_t>& out);

  // sample_exact.cc
  uint32_t drawExact(int n, uint32_t id, double r) const;
  void exactBatch(uint64_t i0, uint64_t i1, std::vector<std::vector<uint32_t>>& seqOut, std::vector<uint8_t>& cut);

  // sample_temperature.cc
  // Draws a token at context (n, id) and moves (n, id) to the next context.
  uint32_t drawTempered(int& n, uint32_t& id, SplitMix64& rng) const;

  // sample_truncated.cc
  uint32_t drawTruncated(int n, uint32_t id, double r);
  void childUnion(const int* lv, int from, int nl, const uint32_t* chain);
  int sparseRow(int n, uint32_t id, double& A);
  void build(int n, uint32_t id, Entry& en, uint64_t key);
};

}  // namespace cl::ngram
