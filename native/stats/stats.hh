// Corpus statistics for the per-generation metrics (THEORY.md "Quantities reported per
// generation"): distinct n-grams and support overlap, diversity counts, tail retention. No
// Node-API in here. The TypeScript functions of src/metrics/ are the reference: every count below
// is the same integer they compute, and the few ratios are left to the caller (TS), so the
// reported doubles are the same IEEE operations on the same integers.
//
// Conventions (THEORY.md "Objects", src/metrics/support.ts):
//   * A corpus is CSR: tokens[offsets[i] .. offsets[i+1]) are the tokens of sequence i, without
//     BOS/EOS; BOS and EOS ids are parameters.
//   * The order-n n-grams of a corpus ("support" n-grams): one per position (t1 .. tm and EOS),
//     the target preceded by its n-1 previous tokens, left-padded with BOS. For BOS a b EOS:
//     order 2 gives (BOS a) (a b) (b EOS).
//   * "Inside" n-grams (distinct-n of diversity.ts): windows of n tokens inside one sequence, no
//     BOS/EOS, max(0, m-n+1) per sequence of m tokens.
//
// Representation of a set of distinct n-grams (TupleSet): a tuple whose ids all fit in
// packBits(n) bits is packed big-endian into one uint64 (exact: no hashing), so numeric order of
// keys is the lexicographic order of tuples; a tuple with a larger id is kept as its ids. Which
// part a tuple lands in depends on its ids alone, so two sets are compared part by part.
// Counting is sort-based (LSD radix sort + unique): sequential passes, no random DRAM probes.
//
// Threads: work is split into independent tasks (one per order / per statistic) whose results
// are combined in a fixed order, so every result is the same for any thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/corpus.hh"

namespace cl::stats {

using CorpusView = cl::CorpusView;

// Throws E_OFFSETS unless offsets[0] = 0, offsets never decrease and offsets[last] = ntokens.
void checkCorpus(const CorpusView& c, const char* name);

constexpr int kMaxOrder = 16;

// Bits per id of the packed keys of order n: 32 for n <= 2 (any uint32 id fits), else 64/n
// (order 3: 21 bits, order 4: 16, ...).
inline int packBits(int order) { return order <= 2 ? 32 : 64 / order; }

// The distinct n-grams of one order (see the file comment).
struct TupleSet {
  int order = 0;
  std::vector<uint64_t> packed;  // sorted, unique: tuples whose ids are all < 2^packBits(order)
  std::vector<uint32_t> wide;    // sorted lexicographically, unique, `order` ids per tuple: the rest
  uint64_t size() const { return packed.size() + wide.size() / static_cast<size_t>(order); }
  size_t bytes() const { return packed.capacity() * sizeof(uint64_t) + wide.capacity() * sizeof(uint32_t); }
};

// |a ∩ b| for two sets of the same order (a linear merge of each part).
uint64_t intersectionSize(const TupleSet& a, const TupleSet& b);

// Distinct support n-grams of `c` for one order (BOS-padded, EOS as last target).
TupleSet supportNgrams(const CorpusView& c, int order, uint32_t bos, uint32_t eos);
// Distinct inside n-grams of `c` for one order; *total receives their count with repeats.
TupleSet insideNgrams(const CorpusView& c, int order, uint64_t* total);

// ngramSupport(D): the distinct support n-grams of a reference corpus, per order; built once
// and compared with every sample. Immutable once built.
struct Support {
  std::vector<int> orders;
  uint32_t bos = 1, eos = 2;
  uint64_t positions = 0;
  std::vector<TupleSet> sets;  // sets[i]: order orders[i]
  size_t bytes() const;
};
// Preconditions: orders non-empty, each in [1, kMaxOrder], no repeats (throws E_BAD_ARGUMENT).
Support buildSupport(const CorpusView& c, const std::vector<int>& orders, uint32_t bos, uint32_t eos, int threads);

struct OrderStats {
  int order = 0;
  uint64_t sample = 0;     // distinct n-grams of the sample
  uint64_t reference = 0;  // distinct n-grams of the reference
  uint64_t both = 0;       // present in both
};
// supportStats(S, ref): one entry per order of `ref`, in its order.
std::vector<OrderStats> compareSupport(const CorpusView& sample, const Support& ref, int threads);

// Token types of a token array: distinct ids ascending, with their counts (as typeCounts of
// src/metrics/type-counts.ts).
struct TypeCounts {
  std::vector<uint32_t> ids;
  std::vector<double> counts;
};
TypeCounts typeCounts(const uint32_t* tokens, size_t n);

// Number of sequences equal (same length, same tokens) to an earlier sequence: sequences minus
// distinct sequences.
uint64_t repeatedSequences(const CorpusView& c);

// The integer parts of diversity(S) (src/metrics/diversity.ts); the caller forms the ratios and
// the entropy from `types` (so the doubles are those of the TS code).
struct DiversityCounts {
  TypeCounts types;
  uint64_t distinct2 = 0, total2 = 0, distinct3 = 0, total3 = 0;
  uint64_t repeated = 0;
};
DiversityCounts diversityCounts(const CorpusView& c, int threads);

// tailRetention(S, D) (src/metrics/support.ts) without the final ratio share = retained/tailTypes.
// Throws E_CORPUS_EMPTY when the reference has no types after `exclude`.
struct TailCounts {
  std::vector<uint32_t> tail;  // the tail ids, count ascending then id ascending
  uint64_t tailTypes = 0, retained = 0, types = 0;
  double maxTailCount = 0;
  bool tieCut = false;
};
TailCounts tailRetention(const uint32_t* sample, size_t nsample, const uint32_t* reference, size_t nreference,
                         double quantile, const std::vector<uint32_t>& exclude);

}  // namespace cl::stats
