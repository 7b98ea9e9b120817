// Top-k / top-p sampling (any temperature): q(v) = p(v|h)^(1/T), then top-k, then top-p (as
// Hugging Face's generate orders them; ties by id), renormalised. No dense row is built: every row
// is p(v|h) = A(h) base(v) + s_h(v), where base is a context-free dense distribution (the
// unigram-level mixture p1, or the uniform for add-k/MLE contexts with children) and s_h is
// non-zero only on S(h), the union of the children of the chain's contexts above the root. The top
// candidates off S come from a global order of base, and (top-p alone) the mass off S from a
// segment tree over base^(1/T). So a context costs O(|S| + k) (top-p: O(|S| log V + kept)), not
// O(V log V), and its kept ids are cached per thread, keyed by the context node.
// Values are scaled by the row's maximum before the power (q = (p/max)^(1/T)), so no temperature
// underflows the whole row: as T -> 0 the row tends to its argmax.
#include <algorithm>
#include <cmath>

#include "ngram/sampler.hh"

namespace cl::ngram {

void TruncationBase::build(std::vector<double> b, double invT) {
  base = std::move(b);
  const size_t V = base.size();
  double mx = 0;
  for (double x : base) mx = std::max(mx, x);
  // At T = 1 nothing is scaled (the values are p itself, as they always were).
  logMax = invT == 1.0 ? 0.0 : std::log(mx);
  baseT.resize(V);
  for (size_t v = 0; v < V; ++v) baseT[v] = base[v] > 0 ? (invT == 1.0 ? base[v] : powScaled(std::log(base[v]) - logMax, invT)) : 0.0;
  P2 = 1;
  while (P2 < V) P2 <<= 1;
  tree.assign(2 * P2, 0.0);
  for (size_t v = 0; v < V; ++v) tree[P2 + v] = baseT[v];
  for (size_t i = P2; i-- > 1;) tree[i] = tree[2 * i] + tree[2 * i + 1];
  order.clear();
  for (uint32_t v = 0; v < V; ++v)
    if (base[v] > 0) order.push_back(v);
  std::sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) { return base[x] > base[y] || (base[x] == base[y] && x < y); });
}

// Sum of baseT over [a, b): the canonical nodes, added left to right.
double TruncationBase::rangeSum(size_t a, size_t b) const {
  double s = 0, right[64];
  int nr = 0;
  for (size_t l = a + P2, r = b + P2; l < r; l >>= 1, r >>= 1) {
    if (l & 1) s += tree[l++];
    if (r & 1) right[nr++] = tree[--r];
  }
  for (int i = nr; i-- > 0;) s += right[i];
  return s;
}

uint32_t Sampler::drawTruncated(int n, uint32_t id, double r) {
  const uint64_t key = (static_cast<uint64_t>(n) << 32) | id;
  Entry& en = cache[mix64(key) % cache.size()];
  if (en.key != key) {
    // A generation visits ~10^5 distinct contexts and a row costs microseconds (top-k) to a
    // fraction of a millisecond (top-p) to build: the cache holds them all while its rows fit in
    // kCacheBytes, and starts over when they do not (what is cached never changes a draw).
    const auto bytes = [](const Entry& e) { return e.ids.capacity() * sizeof(uint32_t) + e.cdf.capacity() * sizeof(double); };
    if (cacheBytes > kCacheBytes) {
      for (Entry& e : cache) e = Entry{};
      cacheBytes = 0;
    }
    cacheBytes -= bytes(en);
    build(n, id, en, key);
    cacheBytes += bytes(en);
  }
  const double target = r * en.cdf.back();
  size_t i = static_cast<size_t>(std::upper_bound(en.cdf.begin(), en.cdf.end(), target) - en.cdf.begin());
  if (i >= en.ids.size()) i = en.ids.size() - 1;
  return en.ids[i];
}

// Appends to sIds, in ascending order, every word that is a child of the contexts at levels
// lv[from..nl) of `chain` (each once); sIds must hold none of them already.
void Sampler::childUnion(const int* lv, int from, int nl, const uint32_t* chain) {
  const auto& L = m.levels_;
  if (++epoch == 0) {
    std::fill(mark.begin(), mark.end(), 0);
    epoch = 1;
  }
  const size_t start = sIds.size();
  for (int j = from; j < nl; ++j) {
    const Level& ctx = L[lv[j]];
    const Level& ch = L[lv[j] + 1];
    const size_t mid = sIds.size();
    for (uint32_t i = ctx.childBegin[chain[lv[j]]], e = ctx.childBegin[chain[lv[j]] + 1]; i < e; ++i) {
      const uint32_t v = ch.word[i];
      if (mark[v] != epoch) {
        mark[v] = epoch;
        sIds.push_back(v);
      }
    }
    // Each run is sorted by word (what the marks drop keeps the rest in order): merge it in.
    if (mid > start) std::inplace_merge(sIds.begin() + static_cast<std::ptrdiff_t>(start), sIds.begin() + static_cast<std::ptrdiff_t>(mid), sIds.end());
  }
}

// The sparse part of row (n, id): sIds (sorted) and sP = p(v|h) there, computed as denseRow
// does; returns the base index and A.
int Sampler::sparseRow(int n, uint32_t id, double& A) {
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

void Sampler::build(int n, uint32_t id, Entry& en, uint64_t key) {
  double A;
  const int bi = sparseRow(n, id, A);
  const TruncationBase& B = *tb[bi];
  const double invT = 1.0 / req.temperature;
  const size_t ns = sIds.size();
  // The row's maximum: on S, or A times the base maximum off S (S only adds mass, so where the
  // base maximum lies in S its S value is at least as large). Every q below is (p / max)^(1/T).
  // At T = 1 nothing is scaled (q = p, as it always was).
  const bool unit = invT == 1.0;
  double rowMax = A > 0 ? A * std::exp(B.logMax) : 0.0;
  for (size_t t = 0; t < ns; ++t) rowMax = std::max(rowMax, sP[t]);
  const double logMax = unit ? 0.0 : std::log(rowMax);
  auto tr = [&](double p) { return p > 0 ? (unit ? p : powScaled(std::log(p) - logMax, invT)) : 0.0; };
  // Off S, q(v) = AT * baseT[v] with AT = (A max base / max)^(1/T).
  const double AT = A > 0 ? (unit ? A : powScaled(std::log(A) + B.logMax - logMax, invT)) : 0.0;
  en.key = key;
  en.ids.clear();
  en.cdf.clear();
  // Candidates: S with mass, plus the best off-S ids by base order (enough for top-k; for top-p
  // taken lazily while the kept mass is short of topP).
  // Scratch vectors kept by the sampler: a row can hold thousands of candidates, and a fresh
  // allocation that size per context was a fresh mapping (page faults) per context.
  std::vector<Cand>& cand = scratch[0];
  cand.clear();
  if (++epoch == 0) {
    std::fill(mark.begin(), mark.end(), 0);
    epoch = 1;
  }
  // Top-k ranks by p itself (the order of p^(1/T)), so only the k kept values are transformed.
  const bool byP = req.topK > 0;
  for (size_t t = 0; t < ns; ++t) {
    mark[sIds[t]] = epoch;
    const double q = byP ? sP[t] : tr(sP[t]);
    if (q > 0) cand.push_back({q, sIds[t]});
  }
  auto better = [](const Cand& x, const Cand& y) { return x.q > y.q || (x.q == y.q && x.v < y.v); };
  size_t ord = 0;  // next position in B.order
  auto nextOff = [&](Cand& c) -> bool {
    if (!(AT > 0)) return false;
    while (ord < B.order.size()) {
      const uint32_t v = B.order[ord++];
      if (mark[v] == epoch) continue;
      c = {byP ? A * B.base[v] : AT * B.baseT[v], v};
      return true;
    }
    return false;
  };
  std::vector<Cand>& kept = scratch[1];
  kept.clear();
  if (req.topK > 0) {
    Cand c;
    for (uint32_t j = 0; j < req.topK && nextOff(c); ++j) cand.push_back(c);
    if (cand.size() > req.topK) {
      std::nth_element(cand.begin(), cand.begin() + req.topK, cand.end(), better);
      cand.resize(req.topK);
    }
    std::sort(cand.begin(), cand.end(), better);
    // The kept values transformed (off S as AT * baseT, as the other paths compute them).
    for (Cand& k : cand) k.q = mark[k.v] == epoch ? tr(k.q) : AT * B.baseT[k.v];
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
    std::vector<Cand>& out = scratch[2];
    out.clear();
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

}  // namespace cl::ngram
