// Counts of next tokens at a fixed set of contexts: for every position of a corpus whose context
// (the `width` previous tokens, left-padded with BOS, as THEORY.md writes contexts) is one of the
// given contexts, count its target. The result is sparse (CSR), one row per context: the raw
// material of every empirical conditional emp_T(v|x) = c_T(x,v)/c_T(x) of the error accounting.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ngram/model.hh"

namespace cl::theory {

struct SparseCounts {
  std::vector<uint32_t> rowPtr;  // n + 1
  std::vector<uint32_t> cols;    // target ids, ascending within a row
  std::vector<double> vals;      // counts
  std::vector<double> totals;    // c(x) per row
};

// contexts: n rows of `width` ids (row-major), already in padded form; width 0 is the single empty
// context of an order-1 model (every position has it). Rows may repeat (each gets
// the same counts). Throws cl::Error on ids >= vocabSize or a malformed corpus.
SparseCounts contextCounts(const ngram::CorpusView& corpus, const uint32_t* contexts, size_t n, size_t width, uint32_t vocabSize,
                           uint32_t bos, uint32_t eos);

}  // namespace cl::theory
