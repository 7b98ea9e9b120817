// Sampling whole sequences from a fitted model.
//
// Exact path (temperature 1, no truncation): one uniform draw r per token walks the interpolated
// mixture from the deepest context down: at a context with children, r < (its total u) picks the
// child whose cumulative mass first exceeds r (binary search); otherwise r is rescaled into the
// lower level's share and the walk moves to the suffix context; below the root is the uniform over
// V-1 ids. This draws exactly from p(.|h) (up to float64 rounding) in O(levels * log children).
//
// Transformed path (temperature != 1, top-k or top-p): q(v) = p(v|h)^(1/T), then top-k, then
// top-p (as Hugging Face's generate orders them; ties by id), renormalised. No dense row is built:
// every row is p(v|h) = A(h) base(v) + s_h(v), where base is a context-free dense distribution (the
// unigram-level mixture p1, or the uniform for add-k/MLE contexts with children) and s_h is
// non-zero only on S(h), the union of the children of the chain's contexts above the root. Off S
// the transformed mass is A^(1/T) base(v)^(1/T); its sums over id ranges come from a segment tree
// over base^(1/T) (sums of positive terms only, so no cancellation), and the top candidates off S
// from a global order of base^(1/T). So a context costs O(|S| log V) (top-k: O(|S| + k)), not
// O(V log V), and its result is kept in a per-thread cache keyed by the context node.
//
// Sequence i uses the random stream (seed, SAMP, i) only, so the output never depends on the
// thread count or on how sequences are split into work items.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "common/errors.hh"
#include "common/parallel.hh"
#include "common/rng.hh"
#include "ngram/model.hh"

namespace cl::ngram {

// Context-free tables of the transformed path, built once per sample() call.
struct TransformBase {
  std::vector<double> base, baseT;  // base(v) and base(v)^(1/T) (0 where base is 0)
  std::vector<double> tree;         // segment tree over baseT: leaves at [P2, 2 P2)
  std::vector<uint32_t> order;      // ids with baseT > 0 by baseT descending, ties by id (top-k/top-p only)
  size_t P2 = 1;

  void build(std::vector<double> b, double invT, bool wantOrder) {
    base = std::move(b);
    const size_t V = base.size();
    baseT.resize(V);
    for (size_t v = 0; v < V; ++v) baseT[v] = base[v] > 0 ? (invT == 1.0 ? base[v] : std::exp(std::log(base[v]) * invT)) : 0.0;
    P2 = 1;
    while (P2 < V) P2 <<= 1;
    tree.assign(2 * P2, 0.0);
    for (size_t v = 0; v < V; ++v) tree[P2 + v] = baseT[v];
    for (size_t i = P2; i-- > 1;) tree[i] = tree[2 * i] + tree[2 * i + 1];
    if (wantOrder) {
      order.clear();
      for (uint32_t v = 0; v < V; ++v)
        if (baseT[v] > 0) order.push_back(v);
      std::sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return baseT[x] > baseT[y] || (baseT[x] == baseT[y] && x < y); });
    }
  }
  // The canonical nodes covering [a, b), left to right.
  int cover(size_t a, size_t b, size_t* nodes) const {
    size_t left[64], right[64];
    int nl = 0, nr = 0;
    for (size_t l = a + P2, r = b + P2; l < r; l >>= 1, r >>= 1) {
      if (l & 1) left[nl++] = l++;
      if (r & 1) right[nr++] = --r;
    }
    int k = 0;
    for (int i = 0; i < nl; ++i) nodes[k++] = left[i];
    for (int i = nr; i-- > 0;) nodes[k++] = right[i];
    return k;
  }
  double rangeSum(size_t a, size_t b) const {
    size_t nodes[128];
    const int k = cover(a, b, nodes);
    double s = 0;
    for (int i = 0; i < k; ++i) s += tree[nodes[i]];
    return s;
  }
  // First id x in [a, b) with baseT[a..x] summing past `local` (same node sums, same order as
  // rangeSum); if rounding runs past the end, the last id with mass.
  uint32_t find(size_t a, size_t b, double local) const {
    size_t nodes[128];
    const int k = cover(a, b, nodes);
    for (int i = 0; i < k; ++i) {
      size_t nd = nodes[i];
      if (local < tree[nd]) {
        while (nd < P2) {
          if (local < tree[2 * nd]) {
            nd = 2 * nd;
          } else {
            local -= tree[2 * nd];
            nd = 2 * nd + 1;
          }
        }
        const size_t x = nd - P2;
        if (x < b && baseT[x] > 0) return static_cast<uint32_t>(x);
        break;
      }
      local -= tree[nodes[i]];
    }
    for (size_t x = b; x-- > a;)
      if (baseT[x] > 0) return static_cast<uint32_t>(x);
    return static_cast<uint32_t>(a);
  }
};

struct Sampler {
  using Slot = Model::Slot;
  using ChildIndex = Model::ChildIndex;
  const Model& m;
  const SampleRequest& req;
  const bool transformed;
  const TransformBase* tb[2] = {nullptr, nullptr};  // 0: p1 (unigram-level mixture), 1: uniform
  // A cached transformed row. Temperature only: segments alternate gap / point over the id range
  // (gap j precedes point j; the last gap follows the last point), cdf inclusive per segment.
  // Top-k / top-p: the kept ids in id order with their inclusive cdf.
  struct Entry {
    uint64_t key = ~0ull;
    int baseIdx = 0;
    double AT = 0;
    std::vector<uint32_t> ids;
    std::vector<double> cdf;
    // Derived (temperature only, KN, a context below a level-1 context with children): off its
    // own children, q(v) = A^(1/T) q_P(v) where P is the row of the level-1 context `parent`.
    bool derived = false;
    uint32_t parent = 0;
  };
  std::vector<Entry> cache, parentCache;
  // Scratch for building a row.
  std::vector<uint32_t> sIds, mark;
  std::vector<double> sP;
  uint32_t epoch = 0;

  // Appends to sIds, in ascending order, every word that is a child of the contexts at levels
  // lv[from..nl) of `chain` (each once); sIds must hold none of them already.
  void childUnion(const int* lv, int from, int nl, const uint32_t* chain) {
    const auto& L = m.levels_;
    if (++epoch == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      epoch = 1;
    }
    const size_t start = sIds.size();
    for (int j = from; j < nl; ++j) {
      const Level& ctx = L[lv[j]];
      const Level& ch = L[lv[j] + 1];
      for (uint32_t i = ctx.childBegin[chain[lv[j]]], e = ctx.childBegin[chain[lv[j]] + 1]; i < e; ++i) {
        const uint32_t v = ch.word[i];
        if (mark[v] != epoch) {
          mark[v] = epoch;
          sIds.push_back(v);
        }
      }
    }
    // One run is already sorted by word.
    if (nl - from > 1) std::sort(sIds.begin() + static_cast<std::ptrdiff_t>(start), sIds.end());
  }

  Sampler(const Model& model, const SampleRequest& r)
      : m(model), req(r), transformed(r.temperature != 1.0 || r.topK > 0 || r.topP < 1.0) {
    if (transformed) {
      cache.resize(8192);
      parentCache.resize(16384);
      mark.assign(m.opt_.vocabSize, 0);
    }
  }

  // Next context after emitting w from the deepest context (n, id).
  std::pair<int, uint32_t> advance(int n, uint32_t id, uint32_t w) const {
    const int K = m.opt_.order;
    for (int lvl = n;; --lvl) {
      if (lvl + 1 <= K - 1) {
        const uint32_t c = m.child(lvl, id, w);
        if (c != kNone) return {lvl + 1, c};
      }
      if (lvl == 0) return {0, 0};
      id = (lvl >= 2) ? m.levels_[lvl].suffix[id] : 0;
    }
  }

  uint32_t uniformId(double r) const {
    const uint64_t Vm1 = m.opt_.vocabSize - 1;
    uint64_t j = static_cast<uint64_t>(r * static_cast<double>(Vm1));
    if (j >= Vm1) j = Vm1 - 1;
    return static_cast<uint32_t>(j >= m.opt_.bos ? j + 1 : j);
  }

  // Exact draw from the interpolated mixture at context (n, id).
  uint32_t drawExact(int n, uint32_t id, double r) const {
    const bool kn = m.opt_.smoothing == Smoothing::KneserNey;
    for (int lvl = n;; --lvl) {
      if (m.hasChildren(lvl, id)) {
        const Level& ctx = m.levels_[lvl];
        const Level& ch = m.levels_[lvl + 1];
        const uint32_t b = ctx.childBegin[id], e = ctx.childBegin[id + 1];
        const double total = ch.cum[e - 1];
        if (r < total || m.opt_.smoothing == Smoothing::Mle) {
          // First child whose cumulative mass exceeds r.
          const double* c = ch.cum.data();
          uint32_t i = static_cast<uint32_t>(std::upper_bound(c + b, c + e, r) - c);
          if (i >= e) {  // r at the very top of the range (rounding): the last child with mass
            i = e - 1;
            while (ch.prob[i] == 0.0 && i > b) --i;
          }
          return ch.word[i];
        }
        r = (r - total) / (1.0 - total);
        if (!(r < 1.0)) r = std::nextafter(1.0, 0.0);
        if (r < 0) r = 0;
        if (!kn) return uniformId(r);  // add-k: the rest is uniform
      }
      if (lvl == 0) break;
      id = (lvl >= 2) ? m.levels_[lvl].suffix[id] : 0;
    }
    return uniformId(r);
  }

  // The full row of a level-1 context (cached apart: derived rows read it while they draw).
  const Entry& parentEntry(uint32_t c1) {
    const uint64_t key = (1ull << 32) | c1;
    Entry& en = parentCache[mix64(key) % parentCache.size()];
    if (en.key != key) build(1, c1, en, key);
    return en;
  }
  // Sum of the transformed full row P over ids [0, x).
  double prefixMass(const Entry& P, size_t x) const {
    const size_t k = static_cast<size_t>(std::lower_bound(P.ids.begin(), P.ids.end(), static_cast<uint32_t>(x)) - P.ids.begin());
    const double before = k > 0 ? P.cdf[2 * k - 1] : 0.0;
    const size_t gs = k > 0 ? P.ids[k - 1] + 1 : 0;
    return before + ((x > gs && P.AT > 0) ? P.AT * tb[P.baseIdx]->rangeSum(gs, x) : 0.0);
  }
  // Transformed mass of id x in the full row P.
  double massIn(const Entry& P, uint32_t x) const {
    const auto it = std::lower_bound(P.ids.begin(), P.ids.end(), x);
    if (it != P.ids.end() && *it == x) {
      const size_t t = static_cast<size_t>(it - P.ids.begin());
      return P.cdf[2 * t + 1] - P.cdf[2 * t];
    }
    return P.AT * tb[P.baseIdx]->baseT[x];
  }
  // Draw from a plain (temperature-only) full entry given the target mass.
  uint32_t drawSegments(const Entry& en, double target) {
    size_t i = static_cast<size_t>(std::upper_bound(en.cdf.begin(), en.cdf.end(), target) - en.cdf.begin());
    const size_t segs = en.cdf.size();  // 2 |S| + 1
    if (i >= segs) {                    // rounding at the very top: the last segment with mass
      i = segs - 1;
      while (i > 0 && en.cdf[i] == en.cdf[i - 1]) --i;
    }
    if (i & 1) return en.ids[i / 2];  // a point of S
    const size_t g = i / 2;           // gap g: (ids[g-1], ids[g])
    const size_t a = g == 0 ? 0 : en.ids[g - 1] + 1;
    const size_t b = g < en.ids.size() ? en.ids[g] : m.opt_.vocabSize;
    const double before = i == 0 ? 0.0 : en.cdf[i - 1];
    if (!en.derived) return tb[en.baseIdx]->find(a, b, (target - before) / en.AT);
    // A gap of a derived row: the same ids, scaled, in the parent row.
    const Entry& P = parentEntry(en.parent);
    const double y = prefixMass(P, a) + (target - before) / en.AT;
    uint32_t x = drawSegments(P, y);
    if (x < a || x >= b) {  // rounding pushed it out of the gap: the nearest id inside with mass
      x = static_cast<uint32_t>(x < a ? a : b - 1);
      if (!(massIn(P, x) > 0)) {
        for (size_t z = b; z-- > a;)
          if (massIn(P, static_cast<uint32_t>(z)) > 0) {
            x = static_cast<uint32_t>(z);
            break;
          }
      }
    }
    return x;
  }

  uint32_t drawTransformed(int n, uint32_t id, double r) {
    const uint64_t key = (static_cast<uint64_t>(n) << 32) | id;
    Entry& en = cache[mix64(key) % cache.size()];
    if (en.key != key) build(n, id, en, key);
    const double target = r * en.cdf.back();
    const bool plain = req.topK == 0 && !(req.topP < 1.0);
    if (!plain) {
      size_t i = static_cast<size_t>(std::upper_bound(en.cdf.begin(), en.cdf.end(), target) - en.cdf.begin());
      if (i >= en.ids.size()) i = en.ids.size() - 1;
      return en.ids[i];
    }
    return drawSegments(en, target);
  }

  // Temperature only, KN, deepest context below a level-1 context with children: the row is the
  // level-1 row scaled by the deeper gammas off the deeper children. Builds `en` from the cached
  // level-1 row in O(|deeper children| log V). Returns false when it does not apply.
  bool buildDerived(int n, uint32_t id, Entry& en, uint64_t key) {
    const auto& L = m.levels_;
    if (m.opt_.smoothing != Smoothing::KneserNey || n < 2) return false;
    uint32_t chain[kMaxOrder + 1];
    chain[n] = id;
    for (int k = n; k > 1; --k) chain[k - 1] = L[k].suffix[chain[k]];
    int lv[kMaxOrder + 1], nl = 0;
    for (int k = 1; k <= n; ++k)
      if (m.hasChildren(k, chain[k])) lv[nl++] = k;
    if (nl < 2 || lv[0] != 1) return false;
    const Entry& P = parentEntry(chain[1]);
    // Deeper children (levels lv[1..]) and their exact p(v|h), as denseRow computes it.
    sIds.clear();
    childUnion(lv, 1, nl, chain);
    const std::vector<double>& p1 = tb[0]->base;
    sP.resize(sIds.size());
    for (size_t t = 0; t < sIds.size(); ++t) sP[t] = p1[sIds[t]];
    double G = 1.0;
    for (int j = 0; j < nl; ++j) {
      const Level& ctx = L[lv[j]];
      const Level& ch = L[lv[j] + 1];
      const double g = ctx.gamma[chain[lv[j]]];
      if (j > 0) G *= g;
      for (double& x : sP) x *= g;
      const uint32_t b = ctx.childBegin[chain[lv[j]]], e = ctx.childBegin[chain[lv[j]] + 1];
      if (j == 0) {
        // The level-1 run is long: look each deeper child up in it.
        const uint32_t* words = ch.word.data();
        for (size_t t = 0; t < sIds.size(); ++t) {
          const uint32_t* f = std::lower_bound(words + b, words + e, sIds[t]);
          if (f != words + e && *f == sIds[t]) sP[t] += ch.prob[f - words];
        }
      } else {
        size_t t = 0;
        for (uint32_t i = b; i < e; ++i) {
          const uint32_t v = ch.word[i];
          while (sIds[t] < v) ++t;
          sP[t] += ch.prob[i];
        }
      }
    }
    const double invT = 1.0 / req.temperature;
    auto tr = [&](double p) { return p > 0 ? (invT == 1.0 ? p : std::exp(std::log(p) * invT)) : 0.0; };
    const double GT = tr(G);
    const size_t ns = sIds.size();
    en.key = key;
    en.baseIdx = 0;
    en.AT = GT;
    en.derived = true;
    en.parent = chain[1];
    en.ids.assign(sIds.begin(), sIds.end());
    en.cdf.resize(2 * ns + 1);
    double acc = 0;
    size_t a = 0;
    double qa = 0;  // prefix mass of P at a
    for (size_t t = 0; t <= ns; ++t) {
      const size_t b = t < ns ? sIds[t] : m.opt_.vocabSize;
      if (b > a && GT > 0) {
        const double qb = prefixMass(P, b);
        acc += GT * std::max(0.0, qb - qa);
      }
      en.cdf[2 * t] = acc;
      if (t < ns) {
        acc += tr(sP[t]);
        en.cdf[2 * t + 1] = acc;
        a = b + 1;
        qa = prefixMass(P, a);
      }
    }
    return true;
  }

  // The sparse part of row (n, id): sIds (sorted) and sP = p(v|h) there, computed as denseRow
  // does; returns the base index and A.
  int sparseRow(int n, uint32_t id, double& A) {
    const auto& L = m.levels_;
    const bool kn = m.opt_.smoothing == Smoothing::KneserNey;
    uint32_t chain[kMaxOrder + 1];
    chain[n] = id;
    for (int k = n; k > 1; --k) chain[k - 1] = L[k].suffix[chain[k]];
    if (n >= 1) chain[0] = 0;
    int first = 0;
    if (!kn) {
      first = n;
      while (first > 0 && !m.hasChildren(first, chain[first])) --first;
    }
    sIds.clear();
    sP.clear();
    if (first >= 1) {
      // add-k / MLE: p = g * uni + u on the children of chain[first], g * uni elsewhere.
      const Level& ctx = L[first];
      const Level& ch = L[first + 1];
      const double g = ctx.gamma[chain[first]];
      const double uni = m.uniformMass();
      for (uint32_t i = ctx.childBegin[chain[first]], e = ctx.childBegin[chain[first] + 1]; i < e; ++i) {
        const uint32_t v = ch.word[i];
        sIds.push_back(v);
        sP.push_back((v == m.opt_.bos ? 0.0 : uni) * g + ch.prob[i]);
      }
      A = g;
      return 1;
    }
    // From the root: base p1; levels 1..n with children add their children.
    int lv[kMaxOrder + 1], nl = 0;
    for (int k = 1; k <= n; ++k)
      if (m.hasChildren(k, chain[k])) lv[nl++] = k;
    A = 1.0;
    if (!kn || nl == 0) return 0;  // MLE/add-k reach the root only when no context has children
    for (int j = 0; j < nl; ++j) A *= L[lv[j]].gamma[chain[lv[j]]];
    // Union of the children runs (each sorted by word): mark, collect, sort.
    childUnion(lv, 0, nl, chain);
    // p(v) as denseRow computes it: acc = p1(v); acc = acc * g + u per level.
    const std::vector<double>& p1 = tb[0]->base;
    sP.resize(sIds.size());
    for (size_t t = 0; t < sIds.size(); ++t) sP[t] = p1[sIds[t]];
    for (int j = 0; j < nl; ++j) {
      const Level& ctx = L[lv[j]];
      const Level& ch = L[lv[j] + 1];
      const double g = ctx.gamma[chain[lv[j]]];
      for (double& x : sP) x *= g;
      // Children in word order, S in id order: merge.
      size_t t = 0;
      for (uint32_t i = ctx.childBegin[chain[lv[j]]], e = ctx.childBegin[chain[lv[j]] + 1]; i < e; ++i) {
        const uint32_t v = ch.word[i];
        while (sIds[t] < v) ++t;
        sP[t] += ch.prob[i];
      }
    }
    return 0;
  }

  void build(int n, uint32_t id, Entry& en, uint64_t key) {
    en.derived = false;
    if (req.topK == 0 && !(req.topP < 1.0) && buildDerived(n, id, en, key)) return;
    double A;
    const int bi = sparseRow(n, id, A);
    const TransformBase& B = *tb[bi];
    const double invT = 1.0 / req.temperature;
    auto tr = [&](double p) { return p > 0 ? (invT == 1.0 ? p : std::exp(std::log(p) * invT)) : 0.0; };
    const double AT = tr(A);
    const size_t ns = sIds.size();
    en.key = key;
    en.baseIdx = bi;
    en.AT = AT;
    en.ids.clear();
    en.cdf.clear();
    if (req.topK == 0 && !(req.topP < 1.0)) {
      // Segments: gap 0, point 0, gap 1, ..., point ns-1, gap ns.
      en.ids.assign(sIds.begin(), sIds.end());
      en.cdf.resize(2 * ns + 1);
      double acc = 0;
      size_t a = 0;
      for (size_t t = 0; t <= ns; ++t) {
        const size_t b = t < ns ? sIds[t] : m.opt_.vocabSize;
        if (b > a && AT > 0) acc += AT * B.rangeSum(a, b);
        en.cdf[2 * t] = acc;
        if (t < ns) {
          acc += tr(sP[t]);
          en.cdf[2 * t + 1] = acc;
          a = b + 1;
        }
      }
      return;
    }
    // Candidates: S with mass, plus the best off-S ids by base order (enough for top-k; for top-p
    // taken lazily while the kept mass is short of topP).
    struct Cand {
      double q;
      uint32_t v;
    };
    std::vector<Cand> cand;
    cand.reserve(ns + 64);
    if (++epoch == 0) {
      std::fill(mark.begin(), mark.end(), 0);
      epoch = 1;
    }
    for (size_t t = 0; t < ns; ++t) {
      mark[sIds[t]] = epoch;
      const double q = tr(sP[t]);
      if (q > 0) cand.push_back({q, sIds[t]});
    }
    auto better = [](const Cand& x, const Cand& y) { return x.q > y.q || (x.q == y.q && x.v < y.v); };
    size_t ord = 0;  // next position in B.order
    auto nextOff = [&](Cand& c) -> bool {
      if (!(AT > 0)) return false;
      while (ord < B.order.size()) {
        const uint32_t v = B.order[ord++];
        if (mark[v] == epoch) continue;
        c = {AT * B.baseT[v], v};
        return true;
      }
      return false;
    };
    std::vector<Cand> kept;
    if (req.topK > 0) {
      Cand c;
      for (uint32_t j = 0; j < req.topK && nextOff(c); ++j) cand.push_back(c);
      if (cand.size() > req.topK) {
        std::nth_element(cand.begin(), cand.begin() + req.topK, cand.end(), better);
        cand.resize(req.topK);
      }
      std::sort(cand.begin(), cand.end(), better);
      kept.swap(cand);
    } else {
      std::sort(cand.begin(), cand.end(), better);
    }
    if (req.topP < 1.0) {
      // Total mass of the distribution being truncated (all of it, or the top-k).
      double total = 0;
      if (req.topK > 0) {
        for (const Cand& c : kept) total += c.q;
      } else {
        for (const Cand& c : cand) total += c.q;
        // Off S: AT * (sum of baseT) minus the marked ids, as range sums between S ids.
        size_t a = 0;
        for (size_t t = 0; t <= ns; ++t) {
          const size_t b = t < ns ? sIds[t] : m.opt_.vocabSize;
          if (b > a && AT > 0) total += AT * B.rangeSum(a, b);
          if (t < ns) a = sIds[t] + 1;
        }
      }
      const double need = req.topP * total;
      std::vector<Cand> out;
      double acc = 0;
      if (req.topK > 0) {
        for (const Cand& c : kept) {
          out.push_back(c);
          acc += c.q;
          if (acc >= need) break;
        }
      } else {
        // Merge S (sorted) with the off-S stream (already in order) until the mass is reached.
        size_t i = 0;
        Cand off;
        bool haveOff = nextOff(off);
        while (i < cand.size() || haveOff) {
          Cand c;
          if (haveOff && (i >= cand.size() || better(off, cand[i]))) {
            c = off;
            haveOff = nextOff(off);
          } else {
            c = cand[i++];
          }
          out.push_back(c);
          acc += c.q;
          if (acc >= need) break;
        }
      }
      kept.swap(out);
    }
    // Kept ids in id order, so the CDF layout is canonical.
    std::sort(kept.begin(), kept.end(), [](const Cand& x, const Cand& y) { return x.v < y.v; });
    en.ids.resize(kept.size());
    en.cdf.resize(kept.size());
    double acc = 0;
    for (size_t i = 0; i < kept.size(); ++i) {
      acc += kept[i].q;
      en.ids[i] = kept[i].v;
      en.cdf[i] = acc;
    }
  }

  // Exact path, many sequences at once: the draws of up to kLanes sequences advance in turns, one
  // memory step each (read what the previous turn prefetched, prefetch the next address), so the
  // dependent misses of one sequence overlap with those of the others. Each sequence does exactly
  // what drawExact + advance do, with its own random stream: the tokens are the same.
  // Sequences [i0, i1) land in seqOut[i - i0]; cut[i - i0] = 1 if cut at maxLength.
  void exactBatch(uint64_t i0, uint64_t i1, std::vector<std::vector<uint32_t>>& seqOut, std::vector<uint8_t>& cut) {
    constexpr int kLanes = 32;
    enum : uint8_t { kCtx, kSuf, kTot, kGuide, kSearch, kWord, kProbe, kVerify };
    const auto& L = m.levels_;
    const int K = m.opt_.order;
    const bool kn = m.opt_.smoothing == Smoothing::KneserNey;
    const bool mle = m.opt_.smoothing == Smoothing::Mle;
    const uint32_t eos = m.opt_.eos;
    struct Lane {
      SplitMix64 rng{0};
      uint64_t seq;
      uint32_t t;
      int n;  // deepest context (n, id)
      uint32_t id;
      int lvl;  // walk position (lvl, cid)
      uint32_t cid;
      uint32_t b, e, lo, hi;
      double r;
      uint8_t st;
      int from, alvl;  // advance: level the word came from; level being probed
      uint32_t w, ci;
      const Slot* probe;
      uint32_t chain[kMaxOrder + 1];
    };
    Lane lanes[kLanes];
    int active = 0;
    uint64_t nextSeq = i0;
    auto beginToken = [&](Lane& ln) {
      ln.r = ln.rng.uniform();
      ln.lvl = ln.n;
      ln.cid = ln.id;
      ln.st = kCtx;
      __builtin_prefetch(L[ln.lvl].childBegin.data() + ln.cid);
    };
    auto start = [&](Lane& ln) {
      ln.seq = nextSeq++;
      ln.rng = SplitMix64(streamKey(req.seed, kSampleSequence, ln.seq));
      ln.t = 0;
      ln.n = K >= 2 ? 1 : 0;
      ln.id = ln.n == 1 ? m.opt_.bos : 0;
      beginToken(ln);
    };
    // Moves the walk one level down (or to the uniform below the root); returns a word or kNone.
    auto down = [&](Lane& ln) -> uint32_t {
      if (ln.lvl == 0) return uniformId(ln.r);
      if (ln.lvl >= 2) {
        __builtin_prefetch(L[ln.lvl].suffix.data() + ln.cid);
        ln.st = kSuf;
      } else {
        ln.lvl = 0;
        ln.cid = 0;
        ln.st = kCtx;
      }
      return kNone;
    };
    // A search step over cum[lo, hi): binary halving while the range spans several lines.
    auto searchStep = [&](Lane& ln) {
      const double* c = L[ln.lvl + 1].cum.data();
      if (ln.hi - ln.lo > 8) {
        const uint32_t mid = ln.lo + (ln.hi - ln.lo) / 2;
        __builtin_prefetch(c + mid);
      } else {
        __builtin_prefetch(c + ln.lo);
        __builtin_prefetch(c + ln.hi - 1);
      }
      ln.st = kSearch;
    };
    // Next level to probe after a back-off draw (alvl one above it on entry).
    auto nextProbe = [&](Lane& ln) {
      --ln.alvl;
      if (ln.alvl == ln.from) {  // (chain[from], w) is child ci of level from+1
        ln.n = ln.from + 1;
        ln.id = ln.ci;
        beginToken(ln);
        return;
      }
      if (ln.alvl == 0) {  // after a uniform draw: the unigram w
        ln.n = 1;
        ln.id = ln.w;
        beginToken(ln);
        return;
      }
      const ChildIndex& ix = m.index_[ln.alvl + 1];
      ln.probe = ix.slots.data() + ix.home(ln.chain[ln.alvl], ln.w);
      __builtin_prefetch(ln.probe);
      ln.st = kProbe;
    };
    while (active < kLanes && nextSeq < i1) start(lanes[active++]);
    while (active > 0) {
      for (int l = 0; l < active;) {
        Lane& ln = lanes[l];
        uint32_t w = kNone;
        int from = -1;  // level whose context the word was drawn from (-1: uniform)
        uint32_t ci = 0;
        switch (ln.st) {
          case kCtx: {
            ln.chain[ln.lvl] = ln.cid;
            const uint32_t* cb = L[ln.lvl].childBegin.data() + ln.cid;
            ln.b = cb[0];
            ln.e = cb[1];
            if (ln.b == ln.e) {
              w = down(ln);
            } else {
              __builtin_prefetch(L[ln.lvl + 1].cum.data() + ln.e - 1);
              if (ln.e - ln.b >= Model::kGuideMin) __builtin_prefetch(m.guideOff_[ln.lvl].data() + ln.cid);
              ln.st = kTot;
            }
            break;
          }
          case kSuf:
            ln.cid = L[ln.lvl].suffix[ln.cid];
            --ln.lvl;
            __builtin_prefetch(L[ln.lvl].childBegin.data() + ln.cid);
            ln.st = kCtx;
            break;
          case kTot: {
            const double total = L[ln.lvl + 1].cum[ln.e - 1];
            if (ln.r < total || mle) {
              ln.lo = ln.b;
              ln.hi = ln.e;
              if (ln.e - ln.b >= Model::kGuideMin) {
                // The guide bucket of r (checked against the same thresholds the table used).
                const uint32_t T = (ln.e - ln.b) / Model::kGuideSpan;
                const double step = total / T;
                double jd = std::floor(ln.r / step);
                uint32_t j = jd <= 0 ? 0 : (jd >= T - 1 ? T - 1 : static_cast<uint32_t>(jd));
                while (j > 0 && ln.r < j * step) --j;
                while (j + 1 < T && !(ln.r < (j + 1) * step)) ++j;
                ln.lo = m.guideOff_[ln.lvl][ln.cid] + j;  // guide index, resolved in kGuide
                ln.hi = T;
                __builtin_prefetch(m.guide_[ln.lvl].data() + ln.lo);
                ln.st = kGuide;
                break;
              }
              searchStep(ln);
              break;
            }
            double r = (ln.r - total) / (1.0 - total);
            if (!(r < 1.0)) r = std::nextafter(1.0, 0.0);
            if (r < 0) r = 0;
            ln.r = r;
            if (!kn) {
              w = uniformId(r);
              break;
            }
            w = down(ln);
            break;
          }
          case kGuide: {
            const uint32_t* gd = m.guide_[ln.lvl].data() + ln.lo;
            const uint32_t j = ln.lo - m.guideOff_[ln.lvl][ln.cid];
            const uint32_t lo = gd[0];
            const uint32_t hi = (j + 1 < ln.hi) ? std::min(gd[1] + 1, ln.e) : ln.e;
            ln.lo = lo;
            ln.hi = hi;
            searchStep(ln);
            break;
          }
          case kSearch: {
            const double* c = L[ln.lvl + 1].cum.data();
            if (ln.hi - ln.lo > 8) {
              const uint32_t mid = ln.lo + (ln.hi - ln.lo) / 2;
              if (c[mid] <= ln.r)
                ln.lo = mid + 1;
              else
                ln.hi = mid;
              searchStep(ln);
              break;
            }
            uint32_t i = ln.lo;
            while (i < ln.hi && c[i] <= ln.r) ++i;
            if (i >= ln.e) {  // r at the very top of the range (rounding): the last child with mass
              i = ln.e - 1;
              while (L[ln.lvl + 1].prob[i] == 0.0 && i > ln.b) --i;
            }
            ln.lo = i;
            __builtin_prefetch(L[ln.lvl + 1].word.data() + i);
            if (ln.lvl == ln.n && ln.lvl + 1 == K) __builtin_prefetch(L[K].suffix.data() + i);
            ln.st = kWord;
            break;
          }
          case kWord:
            w = L[ln.lvl + 1].word[ln.lo];
            from = ln.lvl;
            ci = ln.lo;
            break;
          case kProbe: {
            const Slot* sp = ln.probe;
            while (sp->id != kNone && sp->word != ln.w) ++sp;
            ln.probe = sp;
            if (sp->id != kNone) {
              __builtin_prefetch(L[ln.alvl + 1].parent.data() + sp->id);
              ln.st = kVerify;
            } else {
              nextProbe(ln);
            }
            ++l;
            continue;
          }
          case kVerify: {
            const Slot* sp = ln.probe;
            const uint32_t* par = L[ln.alvl + 1].parent.data();
            uint32_t found = kNone;
            if (par[sp->id] == ln.chain[ln.alvl]) {
              found = sp->id;
            } else {
              for (++sp; sp->id != kNone; ++sp)
                if (sp->word == ln.w && par[sp->id] == ln.chain[ln.alvl]) {
                  found = sp->id;
                  break;
                }
            }
            if (found != kNone) {
              ln.n = ln.alvl + 1;
              ln.id = found;
              beginToken(ln);
            } else {
              nextProbe(ln);
            }
            ++l;
            continue;
          }
        }
        if (w == kNone) {
          ++l;
          continue;
        }
        // A token: record it and move to the next context (or finish the sequence).
        std::vector<uint32_t>& out = seqOut[ln.seq - i0];
        bool done = false;
        if (w == eos) {
          cut[ln.seq - i0] = 0;
          done = true;
        } else {
          out.push_back(w);
          if (++ln.t >= req.maxLength) {
            cut[ln.seq - i0] = 1;
            done = true;
          } else {
            if (from == ln.n) {
              // The n+1-gram (context, w) is child ci: the next context is it, or (at the top) its suffix.
              if (ln.n + 1 <= K - 1) {
                ln.n = ln.n + 1;
                ln.id = ci;
              } else {
                ln.id = L[K].suffix[ci];
              }
              beginToken(ln);
            } else if (from >= 0 || kn) {
              // Backed off: the longest n-gram ending here is (chain[lvl], w) for the highest level
              // lvl <= min(n, K-2) where it exists; at lvl = from it exists (child ci). Every chain
              // id down to `from` (to the root after a uniform draw) is known from the walk.
              ln.from = from;
              ln.w = w;
              ln.ci = ci;
              ln.alvl = std::min(ln.n, K - 2) + 1;
              nextProbe(ln);
            } else {
              std::tie(ln.n, ln.id) = advance(ln.n, ln.id, w);
              beginToken(ln);
            }
          }
        }
        if (!done) {
          ++l;
        } else if (nextSeq < i1) {
          start(ln);
          ++l;
        } else {
          ln = lanes[--active];
        }
      }
    }
  }

  // Draws sequence `index` into out (tokens without BOS/EOS). Returns true if cut at maxLength.
  bool sequence(uint64_t index, std::vector<uint32_t>& out) {
    SplitMix64 rng(streamKey(req.seed, kSampleSequence, index));
    const uint32_t eos = m.opt_.eos;
    int n = m.opt_.order >= 2 ? 1 : 0;
    uint32_t id = n == 1 ? m.opt_.bos : 0;
    for (uint32_t t = 0; t < req.maxLength; ++t) {
      const double r = rng.uniform();
      const uint32_t w = transformed ? drawTransformed(n, id, r) : drawExact(n, id, r);
      if (w == eos) return false;
      out.push_back(w);
      std::tie(n, id) = advance(n, id, w);
    }
    return true;
  }
};

SampleOutput Model::sample(const SampleRequest& req, int threads) const {
  if (req.maxLength == 0) fail("E_BAD_ARGUMENT", "maxLength must be at least 1");
  if (!(req.temperature > 0) || !std::isfinite(req.temperature)) fail("E_BAD_ARGUMENT", "temperature must be a finite number > 0");
  if (!(req.topP > 0 && req.topP <= 1)) fail("E_BAD_ARGUMENT", "topP must be in (0, 1]");
  SampleOutput out;
  out.offsets.push_back(0);
  const int t = std::max(1, threads);
  std::vector<Sampler> samplers;
  samplers.reserve(t);
  for (int i = 0; i < t; ++i) samplers.emplace_back(*this, req);
  TransformBase bases[2];
  if (samplers[0].transformed) {
    // p1: the unigram-level mixture, as denseRow builds it (uniform, then the root's children).
    const uint32_t V = opt_.vocabSize;
    const double invT = 1.0 / req.temperature;
    const bool wantOrder = req.topK > 0 || req.topP < 1.0;
    std::vector<double> uni(V, uniformMass());
    uni[opt_.bos] = 0;
    std::vector<double> p1(uni);
    const double g0 = levels_[0].gamma[0];
    for (uint32_t v = 0; v < V; ++v) p1[v] *= g0;
    for (uint32_t i = levels_[0].childBegin[0], e = levels_[0].childBegin[1]; i < e; ++i) p1[levels_[1].word[i]] += levels_[1].prob[i];
    bases[0].build(std::move(p1), invT, wantOrder);
    if (opt_.smoothing != Smoothing::KneserNey) bases[1].build(std::move(uni), invT, wantOrder);
    for (auto& s : samplers) {
      s.tb[0] = &bases[0];
      s.tb[1] = &bases[1];
    }
  }

  uint64_t next = 0, positions = 0;
  double meanLen = 20;  // a guess, refined as sequences come in
  while (true) {
    uint64_t want;
    if (req.sequences > 0) {
      if (next >= req.sequences) break;
      want = req.sequences - next;
    } else {
      if (positions >= req.tokens) break;
      const double missing = static_cast<double>(req.tokens - positions);
      want = static_cast<uint64_t>(missing / (meanLen + 1.0) * 1.05) + 16;
    }
    want = std::min<uint64_t>(want, 1u << 20);
    const uint64_t chunk = std::max<uint64_t>(64, want / (8 * static_cast<uint64_t>(t)) + 1);
    const size_t chunks = static_cast<size_t>((want + chunk - 1) / chunk);
    std::vector<std::vector<uint32_t>> toks(chunks);
    std::vector<std::vector<uint32_t>> lens(chunks);
    std::vector<uint64_t> cut(chunks, 0);
    // truncated flags per sequence, so the count matches exactly the kept sequences
    std::vector<std::vector<uint8_t>> cutFlags(chunks);
    parallelFor(t, chunks, [&](size_t c, int worker) {
      Sampler& s = samplers[worker];
      const uint64_t i0 = next + c * chunk, i1 = std::min(next + want, i0 + chunk);
      if (!s.transformed && i1 > i0) {
        std::vector<std::vector<uint32_t>> seqs(i1 - i0);
        cutFlags[c].assign(i1 - i0, 0);
        s.exactBatch(i0, i1, seqs, cutFlags[c]);
        for (const auto& q : seqs) {
          toks[c].insert(toks[c].end(), q.begin(), q.end());
          lens[c].push_back(static_cast<uint32_t>(q.size()));
        }
        return;
      }
      for (uint64_t i = i0; i < i1; ++i) {
        const size_t before = toks[c].size();
        const bool truncated = s.sequence(i, toks[c]);
        lens[c].push_back(static_cast<uint32_t>(toks[c].size() - before));
        cutFlags[c].push_back(truncated ? 1 : 0);
      }
    });
    uint64_t got = 0, gotTokens = 0;
    bool done = false;
    for (size_t c = 0; c < chunks && !done; ++c) {
      size_t off = 0;
      for (size_t j = 0; j < lens[c].size(); ++j) {
        const uint32_t len = lens[c][j];
        if (out.tokens.size() + len > 0xFFFFFFF0ull) fail("E_BAD_ARGUMENT", "sample too large: more than 2^32 tokens");
        out.tokens.insert(out.tokens.end(), toks[c].begin() + off, toks[c].begin() + off + len);
        off += len;
        out.offsets.push_back(static_cast<uint32_t>(out.tokens.size()));
        out.truncated += cutFlags[c][j];
        positions += len + 1;
        gotTokens += len;
        ++got;
        if (req.sequences == 0 && positions >= req.tokens) {
          done = true;
          break;
        }
      }
    }
    next += got;
    if (got > 0) meanLen = 0.5 * meanLen + 0.5 * static_cast<double>(gotTokens) / static_cast<double>(got);
    if (done) break;
  }
  return out;
}

}  // namespace cl::ngram
