#include "theory/context_counts.hh"

#include <algorithm>
#include <string>
#include <unordered_map>

#include "common/errors.hh"

namespace cl::theory {

namespace {
// FNV-style hash of a fixed-width context.
struct Key {
  const uint32_t* p;
  size_t w;
};
uint64_t hashCtx(const uint32_t* p, size_t w) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < w; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}
}  // namespace

SparseCounts contextCounts(const ngram::CorpusView& c, const uint32_t* contexts, size_t n, size_t width, uint32_t V, uint32_t bos,
                           uint32_t eos) {
  ngram::Options o;
  o.vocabSize = V;
  o.bos = bos;
  o.eos = eos;
  ngram::validateCorpus(c, o);
  // width 0 is the order-1 model's single, empty context: every position has it.
  for (size_t i = 0; i < n * width; ++i)
    if (contexts[i] >= V) fail("E_TOKEN_RANGE", "context id " + std::to_string(contexts[i]) + " is outside the vocabulary");
  // Distinct contexts -> first row index; duplicates are copied at the end.
  std::unordered_multimap<uint64_t, uint32_t> index;
  index.reserve(n * 2);
  std::vector<uint32_t> canonicalRow(n);
  std::vector<uint32_t> distinct;
  for (size_t r = 0; r < n; ++r) {
    const uint32_t* x = contexts + r * width;
    const uint64_t h = hashCtx(x, width);
    uint32_t found = UINT32_MAX;
    auto range = index.equal_range(h);
    for (auto it = range.first; it != range.second; ++it)
      if (std::equal(x, x + width, contexts + size_t(it->second) * width)) found = it->second;
    if (found == UINT32_MAX) {
      index.emplace(h, static_cast<uint32_t>(r));
      distinct.push_back(static_cast<uint32_t>(r));
      found = static_cast<uint32_t>(r);
    }
    canonicalRow[r] = found;
  }
  // One pass over the corpus: (row, target) pairs for positions whose context is a probe.
  std::vector<uint64_t> hits;
  std::vector<uint32_t> win(width);
  const size_t nseq = c.sequences();
  for (size_t s = 0; s < nseq; ++s) {
    std::fill(win.begin(), win.end(), bos);
    const uint32_t b = c.offsets[s], e = c.offsets[s + 1];
    for (uint32_t j = b; j <= e; ++j) {
      const uint32_t w = j < e ? c.tokens[j] : eos;
      const uint64_t h = hashCtx(win.data(), width);
      auto range = index.equal_range(h);
      for (auto it = range.first; it != range.second; ++it) {
        if (std::equal(win.begin(), win.end(), contexts + size_t(it->second) * width)) {
          hits.push_back((static_cast<uint64_t>(it->second) << 32) | w);
          break;
        }
      }
      if (width > 1) std::copy(win.begin() + 1, win.end(), win.begin());
      if (width > 0) win[width - 1] = w;
    }
  }
  std::sort(hits.begin(), hits.end());
  // Per distinct row: (target, count) runs.
  std::vector<std::vector<std::pair<uint32_t, double>>> rows(n);
  for (size_t i = 0; i < hits.size();) {
    size_t j = i;
    while (j < hits.size() && hits[j] == hits[i]) ++j;
    rows[hits[i] >> 32].emplace_back(static_cast<uint32_t>(hits[i] & 0xFFFFFFFFu), static_cast<double>(j - i));
    i = j;
  }
  SparseCounts out;
  out.rowPtr.assign(n + 1, 0);
  out.totals.assign(n, 0);
  for (size_t r = 0; r < n; ++r) {
    const auto& row = rows[canonicalRow[r]];
    out.rowPtr[r + 1] = out.rowPtr[r] + static_cast<uint32_t>(row.size());
    for (const auto& [v, cnt] : row) {
      out.cols.push_back(v);
      out.vals.push_back(cnt);
      out.totals[r] += cnt;
    }
  }
  return out;
}

}  // namespace cl::theory
