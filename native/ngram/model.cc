// The n-gram engine. See model.hh for the data layout and the estimators.
#include "ngram/model.hh"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <string>
#include <utility>

#include "common/errors.hh"
#include "common/parallel.hh"
#include "common/rng.hh"

namespace cl::ngram {

namespace {

// ---------------------------------------------------------------------------------------------
// Counting hash table: (parent id, word) packed in 64 bits -> node id. Open addressing with linear
// probing, power-of-two capacity, load <= 1/2. Written here rather than std::unordered_map: this is
// the hot loop of fit() and a flat table is several times faster and smaller.
class CountTable {
 public:
  explicit CountTable(size_t expected) { reset(expected); }

  // Returns the id of `key`, inserting it with id `fresh` if absent (then `inserted` = true).
  uint32_t findOrInsert(uint64_t key, uint32_t fresh, bool& inserted) {
    if ((size_ + 1) * 2 > keys_.size()) grow();
    size_t i = slot(key);
    while (true) {
      uint64_t k = keys_[i];
      if (k == key) {
        inserted = false;
        return vals_[i];
      }
      if (k == kEmpty) {
        keys_[i] = key;
        vals_[i] = fresh;
        ++size_;
        inserted = true;
        return fresh;
      }
      i = (i + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~0ull;
  size_t slot(uint64_t key) const { return static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> shift_); }
  void reset(size_t expected) {
    size_t cap = 1024;
    while (cap < expected * 2) cap <<= 1;
    keys_.assign(cap, kEmpty);
    vals_.assign(cap, 0);
    mask_ = cap - 1;
    shift_ = 64 - __builtin_ctzll(cap);
    size_ = 0;
  }
  void grow() {
    std::vector<uint64_t> oldKeys;
    std::vector<uint32_t> oldVals;
    oldKeys.swap(keys_);
    oldVals.swap(vals_);
    size_t n = size_;
    reset(oldKeys.size());  // doubles the capacity
    for (size_t j = 0; j < oldKeys.size(); ++j) {
      if (oldKeys[j] == kEmpty) continue;
      size_t i = slot(oldKeys[j]);
      while (keys_[i] != kEmpty) i = (i + 1) & mask_;
      keys_[i] = oldKeys[j];
      vals_[i] = oldVals[j];
    }
    size_ = n;
  }

  std::vector<uint64_t> keys_;
  std::vector<uint32_t> vals_;
  size_t mask_ = 0;
  int shift_ = 0;
  size_t size_ = 0;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
void validateCorpus(const CorpusView& c, const Options& o) {
  if (c.noffsets < 1) fail("E_OFFSETS", "offsets must hold at least one entry (offsets[0] = 0)");
  if (c.offsets[0] != 0) fail("E_OFFSETS", "offsets[0] must be 0, got " + std::to_string(c.offsets[0]));
  for (size_t i = 1; i < c.noffsets; ++i) {
    if (c.offsets[i] < c.offsets[i - 1])
      fail("E_OFFSETS", "offsets must be non-decreasing: offsets[" + std::to_string(i) + "] = " + std::to_string(c.offsets[i]) +
                            " < offsets[" + std::to_string(i - 1) + "] = " + std::to_string(c.offsets[i - 1]));
  }
  if (c.offsets[c.noffsets - 1] != c.ntokens)
    fail("E_OFFSETS", "the last offset must equal tokens.length (" + std::to_string(c.ntokens) + "), got " +
                          std::to_string(c.offsets[c.noffsets - 1]));
  const uint32_t V = o.vocabSize;
  for (size_t i = 0; i < c.ntokens; ++i) {
    uint32_t t = c.tokens[i];
    if (t >= V || t == o.bos || t == o.eos) {
      if (t >= V)
        fail("E_TOKEN_RANGE", "token id " + std::to_string(t) + " at index " + std::to_string(i) + " is outside the vocabulary (vocabSize " +
                                  std::to_string(V) + ")");
      fail("E_TOKEN_RANGE", "token at index " + std::to_string(i) + " is the " + (t == o.bos ? "BOS" : "EOS") +
                                " id; sequences hold their tokens only (offsets imply BOS/EOS)");
    }
  }
}

// ---------------------------------------------------------------------------------------------
std::shared_ptr<const Model> Model::fit(const Options& o, const CorpusView& c) {
  validateCorpus(c, o);
  const size_t nseq = c.sequences();
  if (nseq == 0) fail("E_CORPUS_EMPTY", "the corpus holds no sequences to learn from");
  const int K = o.order;
  const uint32_t V = o.vocabSize;

  std::shared_ptr<Model> m(new Model());
  m->opt_ = o;
  m->positions_ = c.ntokens + nseq;
  m->sequences_ = nseq;
  if (m->positions_ > 0xFFFFFFF0ull) fail("E_BAD_ARGUMENT", "corpus too large: more than 2^32 positions");
  auto& L = m->levels_;
  L.resize(K + 1);

  // Level 0: the root. Level 1: one node per vocabulary id (node id = word id).
  L[0].parent = {kNone};
  L[0].word = {kNone};
  L[0].count = {static_cast<uint32_t>(m->positions_)};
  L[1].parent.assign(V, 0);
  L[1].word.resize(V);
  std::iota(L[1].word.begin(), L[1].word.end(), 0u);
  L[1].count.assign(V, 0);
  L[1].suffix.assign(V, 0);

  // ---- Counting: walk every sequence once; the n-gram of order n ending at a position is
  // (the (n-1)-gram ending at the previous position, word). New nodes record their suffix (the
  // (n-1)-gram ending at the same position), which KN needs for left-extension counts.
  std::vector<CountTable> tables;
  tables.reserve(K + 1);
  for (int n = 0; n <= K; ++n) tables.emplace_back(n >= 2 ? std::min<size_t>(m->positions_, 1u << 20) / 2 : 1);
  uint32_t prev[kMaxOrder + 2], cur[kMaxOrder + 2];
  for (size_t s = 0; s < nseq; ++s) {
    const uint32_t b = c.offsets[s], e = c.offsets[s + 1];
    // Before the first target: the root and <s>.
    int prevLen = 1;  // prev[0..prevLen] valid: prev[n] = node of order n ending at the previous position
    prev[0] = 0;
    prev[1] = o.bos;
    for (uint32_t j = b; j <= e; ++j) {
      const uint32_t w = (j < e) ? c.tokens[j] : o.eos;
      cur[0] = 0;
      cur[1] = w;
      L[1].count[w]++;
      int curLen = 1;
      const int maxN = std::min(prevLen + 1, K);
      for (int n = 2; n <= maxN; ++n) {
        Level& lv = L[n];
        const uint64_t key = (static_cast<uint64_t>(prev[n - 1]) << 32) | w;
        bool inserted;
        const uint32_t id = tables[n].findOrInsert(key, static_cast<uint32_t>(lv.word.size()), inserted);
        if (inserted) {
          lv.parent.push_back(prev[n - 1]);
          lv.word.push_back(w);
          lv.count.push_back(1);
          lv.suffix.push_back(cur[n - 1]);
        } else {
          lv.count[id]++;
        }
        cur[n] = id;
        curLen = n;
      }
      std::memcpy(prev, cur, sizeof(uint32_t) * (curLen + 1));
      prevLen = std::min(curLen, K - 1);
    }
  }
  tables.clear();
  tables.shrink_to_fit();

  // ---- Renumber levels 2..K so that nodes are sorted by (parent, word): two stable counting sorts
  // (by word, then by parent). Parents and suffixes point into the previous level, whose ids
  // change first; childBegin of the previous level falls out of the parent histogram.
  std::vector<uint32_t> permPrev;  // old -> new ids of level n-1 (empty for level 1: identity)
  L[0].childBegin = {0, V};
  for (int n = 2; n <= K; ++n) {
    Level& lv = L[n];
    const size_t N = lv.size();
    const size_t P = L[n - 1].size();
    if (!permPrev.empty()) {
      for (auto& p : lv.parent) p = permPrev[p];
      for (auto& sfx : lv.suffix) sfx = (n - 1 >= 2) ? permPrev[sfx] : sfx;
    }
    // suffixes of level n point into level n-1 too; if n-1 == 1 ids are words (no remap).
    std::vector<uint32_t> byWord(N), order(N);
    {
      std::vector<uint32_t> h(V + 1, 0);
      for (size_t i = 0; i < N; ++i) h[lv.word[i] + 1]++;
      for (size_t v = 0; v < V; ++v) h[v + 1] += h[v];
      for (size_t i = 0; i < N; ++i) byWord[h[lv.word[i]]++] = static_cast<uint32_t>(i);
    }
    std::vector<uint32_t> cb(P + 1, 0);
    for (size_t i = 0; i < N; ++i) cb[lv.parent[i] + 1]++;
    for (size_t p = 0; p < P; ++p) cb[p + 1] += cb[p];
    {
      std::vector<uint32_t> pos(cb.begin(), cb.end() - 1);
      for (size_t r = 0; r < N; ++r) {
        uint32_t i = byWord[r];
        order[pos[lv.parent[i]]++] = i;
      }
    }
    std::vector<uint32_t> perm(N);
    for (size_t r = 0; r < N; ++r) perm[order[r]] = static_cast<uint32_t>(r);
    auto apply = [&](std::vector<uint32_t>& a) {
      std::vector<uint32_t> t(N);
      for (size_t r = 0; r < N; ++r) t[r] = a[order[r]];
      a.swap(t);
    };
    apply(lv.parent);
    apply(lv.word);
    apply(lv.count);
    apply(lv.suffix);
    L[n - 1].childBegin.swap(cb);
    permPrev.swap(perm);
  }
  // The top level has no children.
  L[K].childBegin.clear();
  if (K == 1) {
    // nothing more: level 1 is the top.
  }
  m->estimate();
  // The top level needs no suffix (it is never a context).
  L[K].suffix.clear();
  L[K].suffix.shrink_to_fit();
  return m;
}

// ---------------------------------------------------------------------------------------------
void Model::estimate() {
  const int K = opt_.order;
  const uint32_t V = opt_.vocabSize;
  auto& L = levels_;
  discounts_.assign(K + 1, {0, 0, 0});
  discountFallback_.assign(K + 1, 0);

  // Effective counts per level: raw counts, or KN adjusted counts.
  std::vector<std::vector<uint32_t>> a(K + 1);
  for (int n = 1; n <= K; ++n) a[n] = L[n].count;
  if (opt_.smoothing == Smoothing::KneserNey) {
    // startsBos per level, propagated through parents.
    std::vector<uint8_t> bosPrev(V, 0);
    bosPrev[opt_.bos] = 1;
    std::vector<std::vector<uint8_t>> startsBos(K + 1);
    startsBos[1] = bosPrev;
    for (int n = 2; n <= K; ++n) {
      startsBos[n].resize(L[n].size());
      for (size_t i = 0; i < L[n].size(); ++i) startsBos[n][i] = startsBos[n - 1][L[n].parent[i]];
    }
    for (int n = 1; n < K; ++n) {
      std::vector<uint32_t> ext(L[n].size(), 0);
      for (uint32_t sfx : L[n + 1].suffix) ext[sfx]++;
      for (size_t i = 0; i < L[n].size(); ++i) a[n][i] = startsBos[n][i] ? L[n].count[i] : ext[i];
    }
    // Discounts from counts of adjusted counts (Chen & Goodman eq. 26).
    for (int n = 1; n <= K; ++n) {
      uint64_t cc[5] = {0, 0, 0, 0, 0};
      for (uint32_t x : a[n])
        if (x >= 1 && x <= 4) cc[x]++;
      bool ok = cc[1] && cc[2] && cc[3] && cc[4];
      std::array<double, 3> d = {0.5, 1.0, 1.5};  // KenLM's --discount_fallback defaults
      if (ok) {
        const double y = static_cast<double>(cc[1]) / (static_cast<double>(cc[1]) + 2.0 * static_cast<double>(cc[2]));
        for (int j = 1; j <= 3; ++j) {
          d[j - 1] = j - (j + 1) * y * static_cast<double>(cc[j + 1]) / static_cast<double>(cc[j]);
          if (!(d[j - 1] >= 0.0 && d[j - 1] <= j)) ok = false;
        }
        if (!ok) d = {0.5, 1.0, 1.5};
      }
      discounts_[n] = d;
      discountFallback_[n] = ok ? 0 : 1;
    }
  }

  // Per context: denominators, gamma, and u / cum of the children.
  const double Vm1 = static_cast<double>(V - 1);
  for (int n = 1; n <= K; ++n) {
    Level& ctx = L[n - 1];
    Level& ch = L[n];
    ch.cum.assign(ch.size(), 0.0);
    ch.prob.assign(ch.size(), 0.0);
    ctx.gamma.assign(ctx.size(), 1.0);
    const auto& D = discounts_[n];
    for (size_t c = 0; c < ctx.size(); ++c) {
      const uint32_t b = ctx.childBegin[c], e = ctx.childBegin[c + 1];
      if (b == e) continue;
      uint64_t denom = 0, n1 = 0, n2 = 0, n3 = 0;
      for (uint32_t i = b; i < e; ++i) {
        const uint32_t x = a[n][i];
        denom += x;
        n1 += (x == 1);
        n2 += (x == 2);
        n3 += (x >= 3);
      }
      double running = 0;
      if (denom == 0) {
        // Only possible at the root of an empty corpus, which fit() rejects; keep gamma = 1.
        continue;
      }
      const double dd = static_cast<double>(denom);
      double g = 0, scale = 1.0 / dd;
      switch (opt_.smoothing) {
        case Smoothing::Mle:
          g = 0;
          break;
        case Smoothing::AddK: {
          const double extra = opt_.k * Vm1;
          scale = 1.0 / (dd + extra);
          g = extra / (dd + extra);
          break;
        }
        case Smoothing::KneserNey:
          g = (D[0] * n1 + D[1] * n2 + D[2] * n3) / dd;
          break;
      }
      ctx.gamma[c] = g;
      for (uint32_t i = b; i < e; ++i) {
        const uint32_t x = a[n][i];
        double num = x;
        if (opt_.smoothing == Smoothing::KneserNey && x > 0) num = std::max(0.0, x - D[std::min<uint32_t>(x, 3) - 1]);
        const double uu = num * scale;
        running += uu;
        ch.prob[i] = uu;  // kept apart from cum: a difference of sums loses precision on small masses
        ch.cum[i] = running;
      }
    }
  }
}

}  // namespace cl::ngram
