// Type counts, repeated sequences, the diversity counts and tail retention (see stats.hh).
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "common/errors.hh"
#include "common/parallel.hh"
#include "stats/stats.hh"

namespace cl::stats {

TypeCounts typeCounts(const uint32_t* tokens, size_t n) {
  TypeCounts out;
  if (n == 0) return out;
  uint32_t max = 0;
  for (size_t i = 0; i < n; ++i) max = std::max(max, tokens[i]);
  if (uint64_t{max} + 1 <= std::max<uint64_t>(uint64_t{1} << 20, 4 * uint64_t{n})) {
    // Dense counts (the normal case: ids below the vocabulary size).
    std::vector<uint32_t> dense(size_t{max} + 1, 0);
    for (size_t i = 0; i < n; ++i) ++dense[tokens[i]];
    size_t distinct = 0;
    for (const uint32_t c : dense) distinct += c != 0;
    out.ids.reserve(distinct);
    out.counts.reserve(distinct);
    for (size_t v = 0; v <= max; ++v) {
      if (dense[v] == 0) continue;
      out.ids.push_back(static_cast<uint32_t>(v));
      out.counts.push_back(dense[v]);
    }
    return out;
  }
  std::vector<uint32_t> sorted(tokens, tokens + n);
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < n;) {
    size_t j = i + 1;
    while (j < n && sorted[j] == sorted[i]) ++j;
    out.ids.push_back(sorted[i]);
    out.counts.push_back(static_cast<double>(j - i));
    i = j;
  }
  return out;
}

uint64_t repeatedSequences(const CorpusView& c) {
  const size_t nseq = c.sequences();
  // (hash of length and tokens, sequence index), sorted: equal sequences have equal hashes, so
  // they sit in one run, where exact comparison finds the distinct contents.
  std::vector<std::pair<uint64_t, uint32_t>> h(nseq);
  for (size_t i = 0; i < nseq; ++i) {
    const size_t s = c.offsets[i], e = c.offsets[i + 1];
    uint64_t x = 0x9e3779b97f4a7c15ull ^ (e - s);
    for (size_t j = s; j < e; ++j) {
      x = (x ^ c.tokens[j]) * 0xff51afd7ed558ccdull;
      x ^= x >> 29;
    }
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    h[i] = {x, static_cast<uint32_t>(i)};
  }
  std::sort(h.begin(), h.end());
  auto same = [&c](uint32_t a, uint32_t b) {
    const size_t as = c.offsets[a], ae = c.offsets[a + 1], bs = c.offsets[b], be = c.offsets[b + 1];
    return ae - as == be - bs && std::equal(c.tokens + as, c.tokens + ae, c.tokens + bs);
  };
  uint64_t distinct = 0;
  std::vector<uint32_t> reps;  // distinct sequences of the current hash run
  for (size_t i = 0; i < nseq;) {
    size_t j = i + 1;
    while (j < nseq && h[j].first == h[i].first) ++j;
    if (j - i == 1) {
      ++distinct;
    } else {
      reps.clear();
      for (size_t k = i; k < j; ++k) {
        const uint32_t q = h[k].second;
        if (std::none_of(reps.begin(), reps.end(), [&](uint32_t r) { return same(r, q); })) reps.push_back(q);
      }
      distinct += reps.size();
    }
    i = j;
  }
  return nseq - distinct;
}

DiversityCounts diversityCounts(const CorpusView& c, int threads) {
  checkCorpus(c, "diversity");
  DiversityCounts d;
  // Four independent tasks, heaviest first; each writes its own fields.
  parallelFor(threads, 4, [&](size_t task, int) {
    switch (task) {
      case 0: d.distinct3 = insideNgrams(c, 3, &d.total3).size(); break;
      case 1: d.distinct2 = insideNgrams(c, 2, &d.total2).size(); break;
      case 2: d.types = typeCounts(c.tokens, c.ntokens); break;
      default: d.repeated = repeatedSequences(c); break;
    }
  });
  return d;
}

TailCounts tailRetention(const uint32_t* sample, size_t nsample, const uint32_t* reference, size_t nreference,
                         double quantile, const std::vector<uint32_t>& exclude) {
  if (!(quantile > 0 && quantile <= 1)) fail("E_BAD_ARGUMENT", "tailRetention: quantile must be in (0, 1]");
  std::vector<uint32_t> ex(exclude);
  std::sort(ex.begin(), ex.end());
  const TypeCounts ref = typeCounts(reference, nreference);
  std::vector<uint32_t> idx;  // reference types after exclusion, as indices into ref.ids
  idx.reserve(ref.ids.size());
  for (size_t i = 0; i < ref.ids.size(); ++i)
    if (!std::binary_search(ex.begin(), ex.end(), ref.ids[i])) idx.push_back(static_cast<uint32_t>(i));
  TailCounts t;
  t.types = idx.size();
  if (t.types == 0) fail("E_CORPUS_EMPTY", "tailRetention: the reference has no token types");
  // ref.ids ascend, so (count, index) ascending is (count ascending, id ascending).
  std::sort(idx.begin(), idx.end(), [&](uint32_t a, uint32_t b) { return ref.counts[a] != ref.counts[b] ? ref.counts[a] < ref.counts[b] : a < b; });
  t.tailTypes = static_cast<uint64_t>(std::ceil(quantile * static_cast<double>(t.types)));
  t.tail.resize(t.tailTypes);
  for (size_t r = 0; r < t.tailTypes; ++r) t.tail[r] = ref.ids[idx[r]];
  t.maxTailCount = ref.counts[idx[t.tailTypes - 1]];
  t.tieCut = t.tailTypes < t.types && ref.counts[idx[t.tailTypes]] == t.maxTailCount;
  const TypeCounts smp = typeCounts(sample, nsample);
  for (const uint32_t id : t.tail) t.retained += std::binary_search(smp.ids.begin(), smp.ids.end(), id);
  return t;
}

}  // namespace cl::stats
