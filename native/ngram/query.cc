// Queries on a fitted model: child lookup, scoring, dense conditionals and raw counts.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "common/errors.hh"
#include "common/parallel.hh"
#include "ngram/model.hh"

namespace cl::ngram {

namespace {
// First index i in [b, e) with words[i] >= w (branch-light lower_bound on a sorted run).
inline uint32_t lowerBound(const uint32_t* words, uint32_t b, uint32_t e, uint32_t w) {
  uint32_t n = e - b;
  const uint32_t* base = words + b;
  while (n > 8) {
    uint32_t half = n / 2;
    base = (base[half - 1] < w) ? base + half : base;
    n -= half;
  }
  while (n > 0 && *base < w) {
    ++base;
    --n;
  }
  return static_cast<uint32_t>(base - words);
}
constexpr size_t kSeqChunk = 2048;  // sequences per scoring work item (fixed: results never depend on threads)
}  // namespace

uint32_t Model::child(int n, uint32_t ctx, uint32_t w) const {
  if (n == 0) return w;
  const auto& cb = levels_[n].childBegin;
  const uint32_t b = cb[ctx], e = cb[ctx + 1];
  if (b == e) return kNone;
  const uint32_t* words = levels_[n + 1].word.data();
  const uint32_t i = lowerBound(words, b, e, w);
  return (i < e && words[i] == w) ? i : kNone;
}

size_t Model::canonical(const uint32_t* ctx, size_t width, const uint32_t*& start) const {
  size_t s = 0;
  for (size_t i = width; i-- > 0;) {
    if (ctx[i] == opt_.bos) {
      s = i;
      break;
    }
  }
  size_t len = width - s;
  const size_t maxLen = static_cast<size_t>(opt_.order - 1);
  if (len > maxLen) {
    s += len - maxLen;
    len = maxLen;
  }
  start = ctx + s;
  return len;
}

std::pair<int, uint32_t> Model::deepestContext(const uint32_t* ctx, size_t len) const {
  for (size_t s = 0; s < len; ++s) {
    uint32_t node = ctx[s];
    int n = 1;
    for (size_t t = s + 1; t < len && node != kNone; ++t, ++n) node = child(n, node, ctx[t]);
    if (node != kNone) return {static_cast<int>(len - s), node};
  }
  return {0, 0};
}

template <class T>
void Model::denseRow(int n, uint32_t id, T* row) const {
  const uint32_t V = opt_.vocabSize;
  // The chain of contexts from the root (index 0) to the deepest (index n).
  uint32_t chain[kMaxOrder + 1];
  chain[n] = id;
  for (int m = n; m > 1; --m) chain[m - 1] = levels_[m].suffix[chain[m]];
  if (n >= 1) chain[0] = 0;
  int first = 0;
  if (opt_.smoothing != Smoothing::KneserNey) {
    // Only the deepest context with children speaks (then the uniform for add-k).
    first = n;
    while (first > 0 && !hasChildren(first, chain[first])) --first;
  }
  std::vector<double> acc(V);
  const double uni = uniformMass();
  for (uint32_t v = 0; v < V; ++v) acc[v] = uni;
  acc[opt_.bos] = 0;
  for (int m = first; m <= n; ++m) {
    if (!hasChildren(m, chain[m])) continue;
    const Level& ctx = levels_[m];
    const Level& ch = levels_[m + 1];
    const double g = ctx.gamma[chain[m]];
    for (uint32_t v = 0; v < V; ++v) acc[v] *= g;
    for (uint32_t i = ctx.childBegin[chain[m]], e = ctx.childBegin[chain[m] + 1]; i < e; ++i) acc[ch.word[i]] += ch.prob[i];
    if (opt_.smoothing != Smoothing::KneserNey) break;
  }
  for (uint32_t v = 0; v < V; ++v) row[v] = static_cast<T>(acc[v]);
}

template void Model::denseRow<double>(int, uint32_t, double*) const;
template void Model::denseRow<float>(int, uint32_t, float*) const;

template <class T>
void Model::conditional(const uint32_t* contexts, size_t n, size_t width, T* out, int threads) const {
  const uint32_t V = opt_.vocabSize;
  for (size_t i = 0; i < n * width; ++i)
    if (contexts[i] >= V)
      fail("E_TOKEN_RANGE", "context id " + std::to_string(contexts[i]) + " at index " + std::to_string(i) + " is outside the vocabulary (vocabSize " +
                                std::to_string(V) + ")");
  const size_t chunk = 16;
  parallelFor(threads, (n + chunk - 1) / chunk, [&](size_t c, int) {
    for (size_t r = c * chunk; r < std::min(n, (c + 1) * chunk); ++r) {
      const uint32_t* start;
      const size_t len = canonical(contexts + r * width, width, start);
      auto [lvl, id] = deepestContext(start, len);
      denseRow(lvl, id, out + r * V);
    }
  });
}
template void Model::conditional<float>(const uint32_t*, size_t, size_t, float*, int) const;
template void Model::conditional<double>(const uint32_t*, size_t, size_t, double*, int) const;

void Model::counts(const uint32_t* contexts, size_t n, size_t width, double* out, double* rowTotals, int threads) const {
  const uint32_t V = opt_.vocabSize;
  for (size_t i = 0; i < n * width; ++i)
    if (contexts[i] >= V)
      fail("E_TOKEN_RANGE", "context id " + std::to_string(contexts[i]) + " is outside the vocabulary (vocabSize " + std::to_string(V) + ")");
  parallelFor(threads, n, [&](size_t r, int) {
    double* row = out + r * V;
    std::fill(row, row + V, 0.0);
    rowTotals[r] = 0;
    const uint32_t* start;
    const size_t len = canonical(contexts + r * width, width, start);
    uint32_t node = 0;
    int lvl = 0;
    for (size_t t = 0; t < len && node != kNone; ++t, ++lvl) node = child(lvl, node, start[t]);
    if (node == kNone) return;
    const Level& ctx = levels_[lvl];
    const Level& ch = levels_[lvl + 1];
    if (lvl >= opt_.order) return;
    double total = 0;
    for (uint32_t i = ctx.childBegin[node], e = ctx.childBegin[node + 1]; i < e; ++i) {
      row[ch.word[i]] = ch.count[i];
      total += ch.count[i];
    }
    rowTotals[r] = total;
  });
}

EvalResult Model::evaluate(const CorpusView& c, double* logProbs, int threads) const {
  validateCorpus(c, opt_);
  const size_t nseq = c.sequences();
  const int K = opt_.order;
  const bool kn = opt_.smoothing == Smoothing::KneserNey;
  const double uni = uniformMass();
  const size_t chunks = (nseq + kSeqChunk - 1) / kSeqChunk;
  std::vector<double> sums(chunks, 0.0);
  std::vector<uint64_t> zeros(chunks, 0);
  parallelFor(threads, chunks, [&](size_t ck, int) {
    double sum = 0;
    uint64_t zero = 0;
    uint32_t ctx[kMaxOrder + 2], nid[kMaxOrder + 2];
    const size_t s0 = ck * kSeqChunk, s1 = std::min(nseq, s0 + kSeqChunk);
    for (size_t s = s0; s < s1; ++s) {
      const uint32_t b = c.offsets[s], e = c.offsets[s + 1];
      int ctxLen = K >= 2 ? 1 : 0;  // ctx[0..ctxLen] valid (ctx[n]: order-n n-gram ending at previous position)
      ctx[0] = 0;
      ctx[1] = opt_.bos;
      size_t outPos = static_cast<size_t>(b) + s;
      for (uint32_t j = b; j <= e; ++j) {
        const uint32_t w = (j < e) ? c.tokens[j] : opt_.eos;
        // Lookups: the n-grams ending here, as long as they exist.
        nid[0] = 0;
        int found = 0;  // nid[1..found] valid
        for (int n = 0; n <= ctxLen; ++n) {
          const uint32_t x = child(n, ctx[n], w);
          if (x == kNone) break;
          nid[n + 1] = x;
          found = n + 1;
        }
        double p;
        if (kn) {
          p = (w == opt_.bos) ? 0.0 : uni;
          for (int n = 0; n <= ctxLen; ++n) {
            if (!hasChildren(n, ctx[n])) continue;
            const double uu = (n + 1 <= found) ? levels_[n + 1].prob[nid[n + 1]] : 0.0;
            p = levels_[n].gamma[ctx[n]] * p + uu;
          }
        } else {
          int n = ctxLen;
          while (n > 0 && !hasChildren(n, ctx[n])) --n;
          const double uu = (n + 1 <= found) ? levels_[n + 1].prob[nid[n + 1]] : 0.0;
          p = levels_[n].gamma[ctx[n]] * ((w == opt_.bos) ? 0.0 : uni) + uu;
        }
        double lp;
        if (p > 0) {
          lp = std::log(p);
          sum += lp;
        } else {
          lp = -std::numeric_limits<double>::infinity();
          ++zero;
        }
        if (logProbs) logProbs[outPos++] = lp;
        // The new contexts: the n-grams found here, up to order K-1.
        for (int n = 1; n <= found && n <= K - 1; ++n) ctx[n] = nid[n];
        ctxLen = std::min(found, K - 1);
      }
    }
    sums[ck] = sum;
    zeros[ck] = zero;
  });
  EvalResult r;
  r.positions = c.ntokens + nseq;
  for (size_t i = 0; i < chunks; ++i) {
    r.logLikelihood += sums[i];
    r.zeroProbability += zeros[i];
  }
  if (r.zeroProbability > 0) r.logLikelihood = -std::numeric_limits<double>::infinity();
  return r;
}

}  // namespace cl::ngram
