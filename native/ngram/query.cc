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
constexpr size_t kSeqChunk = 2048;  // sequences per scoring work item (fixed: results never depend on threads)
}  // namespace

uint32_t Model::child(int n, uint32_t ctx, uint32_t w) const {
  if (n == 0) return w;
  const ChildIndex& ix = index_[n + 1];
  const uint32_t* par = levels_[n + 1].parent.data();
  for (const Slot* s = ix.slots.data() + ix.home(ctx, w); s->id != kNone; ++s)
    if (s->word == w && par[s->id] == ctx) return s->id;
  return kNone;
}

void Model::buildIndex() {
  buildHash();
  buildGuides();
}

void Model::buildGuides() {
  const int K = opt_.order;
  {
    // p1: the root level of every row (uniform without BOS, then the root's children).
    const uint32_t V = opt_.vocabSize;
    p1_.assign(V, uniformMass());
    p1_[opt_.bos] = 0;
    const double g0 = levels_[0].gamma[0];
    for (uint32_t v = 0; v < V; ++v) p1_[v] *= g0;
    for (uint32_t i = levels_[0].childBegin[0], e = levels_[0].childBegin[1]; i < e; ++i) p1_[levels_[1].word[i]] += levels_[1].prob[i];
  }
  guideOff_.assign(K, {});
  guide_.assign(K, {});
  for (int n = 0; n < K; ++n) {
    const Level& ctx = levels_[n];
    const double* cum = levels_[n + 1].cum.data();
    const size_t C = ctx.size();
    auto& off = guideOff_[n];
    auto& gd = guide_[n];
    off.assign(C + 1, 0);
    for (size_t c = 0; c < C; ++c) {
      off[c] = static_cast<uint32_t>(gd.size());
      const uint32_t b = ctx.childBegin[c], e = ctx.childBegin[c + 1];
      if (e - b < kGuideMin) continue;
      const uint32_t T = (e - b) / kGuideSpan;
      const double step = cum[e - 1] / T;
      uint32_t i = b;
      for (uint32_t j = 0; j < T; ++j) {
        const double t = j * step;
        while (i < e && !(cum[i] > t)) ++i;
        gd.push_back(i);
      }
    }
    off[C] = static_cast<uint32_t>(gd.size());
    gd.shrink_to_fit();
  }
}

void Model::buildHash() {
  const int K = opt_.order;
  index_.clear();
  index_.resize(K + 1);
  for (int n = 2; n <= K; ++n) {
    const Level& lv = levels_[n];
    const size_t N = lv.size();
    ChildIndex& ix = index_[n];
    for (uint64_t cap = 2 * N + 8;; cap *= 2) {
      ix.cap = cap;
      const size_t len = cap + 256;
      ix.slots.assign(len, Slot{0, kNone});
      Slot* sl = ix.slots.data();
      const uint32_t* par = lv.parent.data();
      const uint32_t* wd = lv.word.data();
      bool ok = true;
      constexpr size_t kAhead = 16;
      for (size_t i = 0; i < N; ++i) {
        if (i + kAhead < N) __builtin_prefetch(sl + ix.home(par[i + kAhead], wd[i + kAhead]), 1);
        size_t h = ix.home(par[i], wd[i]);
        while (sl[h].id != kNone) ++h;
        if (h + 1 >= len) {  // ran into the last slot, which must stay empty: retry larger
          ok = false;
          break;
        }
        sl[h] = Slot{wd[i], static_cast<uint32_t>(i)};
      }
      if (ok) break;
    }
  }
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

namespace {
// Per-thread scratch of denseRow: the union of the children words and their masses.
struct RowScratch {
  std::vector<uint32_t> ids, mark;
  std::vector<double> p;
  uint32_t epoch = 0;
};
thread_local RowScratch tScratch;
}  // namespace

// The row is computed as the interpolation defines it, one element at a time:
//   acc = uniform; for each level m (root first) with children: acc = acc * gamma_m + u_m(v)
// but without a V-wide pass per level: the root level (dense) is the same for every row and
// precomputed (p1); a word that is a child of no deeper context gets p1[v] * g_1 * ... * g_n (the
// same products in the same order), and only the union of the deeper children runs is walked.
template <class T>
void Model::denseRow(int n, uint32_t id, T* row) const {
  const uint32_t V = opt_.vocabSize;
  const bool kn = opt_.smoothing == Smoothing::KneserNey;
  // The chain of contexts from the root (index 0) to the deepest (index n).
  uint32_t chain[kMaxOrder + 1];
  chain[n] = id;
  for (int m = n; m > 1; --m) chain[m - 1] = levels_[m].suffix[chain[m]];
  if (n >= 1) chain[0] = 0;
  int first = 0;
  if (!kn) {
    // Only the deepest context with children speaks (then the uniform for add-k).
    first = n;
    while (first > 0 && !hasChildren(first, chain[first])) --first;
  }
  const double uni = uniformMass();
  const uint32_t bos = opt_.bos;
  if (first >= 1) {
    const Level& ctx = levels_[first];
    const Level& ch = levels_[first + 1];
    const double g = ctx.gamma[chain[first]];
    for (uint32_t v = 0; v < V; ++v) row[v] = static_cast<T>((v == bos ? 0.0 : uni) * g);
    for (uint32_t i = ctx.childBegin[chain[first]], e = ctx.childBegin[chain[first] + 1]; i < e; ++i) {
      const uint32_t v = ch.word[i];
      row[v] = static_cast<T>((v == bos ? 0.0 : uni) * g + ch.prob[i]);
    }
    return;
  }
  const double* p1 = p1_.data();
  int lv[kMaxOrder + 1], nl = 0;
  if (kn)
    for (int m = 1; m <= n; ++m)
      if (hasChildren(m, chain[m])) lv[nl++] = m;
  double gs[kMaxOrder + 1];
  for (int j = 0; j < nl; ++j) gs[j] = levels_[lv[j]].gamma[chain[lv[j]]];
  switch (nl) {
    case 0:
      for (uint32_t v = 0; v < V; ++v) row[v] = static_cast<T>(p1[v]);
      return;
    case 1:
      for (uint32_t v = 0; v < V; ++v) row[v] = static_cast<T>(p1[v] * gs[0]);
      break;
    case 2:
      for (uint32_t v = 0; v < V; ++v) row[v] = static_cast<T>(p1[v] * gs[0] * gs[1]);
      break;
    default:
      for (uint32_t v = 0; v < V; ++v) {
        double x = p1[v];
        for (int j = 0; j < nl; ++j) x *= gs[j];
        row[v] = static_cast<T>(x);
      }
  }
  RowScratch& sc = tScratch;
  if (sc.mark.size() != V) {
    sc.mark.assign(V, 0);
    sc.epoch = 0;
  }
  if (++sc.epoch == 0) {
    std::fill(sc.mark.begin(), sc.mark.end(), 0);
    sc.epoch = 1;
  }
  sc.ids.clear();
  for (int j = 0; j < nl; ++j) {
    const Level& ctx = levels_[lv[j]];
    const uint32_t* words = levels_[lv[j] + 1].word.data();
    for (uint32_t i = ctx.childBegin[chain[lv[j]]], e = ctx.childBegin[chain[lv[j]] + 1]; i < e; ++i) {
      const uint32_t v = words[i];
      if (sc.mark[v] != sc.epoch) {
        sc.mark[v] = sc.epoch;
        sc.ids.push_back(v);
      }
    }
  }
  if (nl > 1) std::sort(sc.ids.begin(), sc.ids.end());
  sc.p.resize(sc.ids.size());
  for (size_t t = 0; t < sc.ids.size(); ++t) sc.p[t] = p1[sc.ids[t]];
  for (int j = 0; j < nl; ++j) {
    const Level& ctx = levels_[lv[j]];
    const Level& ch = levels_[lv[j] + 1];
    for (double& x : sc.p) x *= gs[j];
    size_t t = 0;
    for (uint32_t i = ctx.childBegin[chain[lv[j]]], e = ctx.childBegin[chain[lv[j]] + 1]; i < e; ++i) {
      const uint32_t v = ch.word[i];
      while (sc.ids[t] < v) ++t;
      sc.p[t] += ch.prob[i];
    }
  }
  for (size_t t = 0; t < sc.ids.size(); ++t) row[sc.ids[t]] = static_cast<T>(sc.p[t]);
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
  const uint32_t bos = opt_.bos, eos = opt_.eos;
  const size_t chunks = (nseq + kSeqChunk - 1) / kSeqChunk;
  std::vector<double> sums(chunks, 0.0);
  std::vector<uint64_t> zeros(chunks, 0);
  // Raw views per level.
  const double* prob[kMaxOrder + 2] = {};
  const double* gam[kMaxOrder + 2] = {};
  const uint32_t* cbeg[kMaxOrder + 2] = {};
  const uint32_t* par[kMaxOrder + 2] = {};
  const Slot* slots[kMaxOrder + 2] = {};
  for (int n = 0; n <= K; ++n) {
    prob[n] = levels_[n].prob.data();
    par[n] = levels_[n].parent.data();
    if (n < K) {
      gam[n] = levels_[n].gamma.data();
      cbeg[n] = levels_[n].childBegin.data();
    }
    if (n >= 2) slots[n] = index_[n].slots.data();
  }
  const uint32_t* tokens = c.tokens;
  const uint32_t* offsets = c.offsets;
  parallelFor(threads, chunks, [&](size_t ck, int) {
    const size_t s0 = ck * kSeqChunk, s1 = std::min(nseq, s0 + kSeqChunk);
    const size_t base = static_cast<size_t>(offsets[s0]) + s0;
    const size_t end = static_cast<size_t>(offsets[s1]) + s1;
    std::vector<double> local;
    double* lp = logProbs ? logProbs + base : nullptr;
    if (!lp) {
      local.resize(end - base);
      lp = local.data();
    }
    // Up to kLanes sequences advance together, one position each per round, so the cache misses of
    // different sequences overlap: a round issues the probes (prefetch), resolves them to candidate
    // ids (prefetching their data), then finishes every lane. The scores land at fixed positions
    // and are summed in position order afterwards: the result does not depend on the interleaving.
    constexpr int kLanes = 32;
    struct Lane {
      uint32_t j, e, out, w;
      int ctxLen;
      uint32_t ctx[kMaxOrder + 1];
      uint32_t cand[kMaxOrder + 2];
      const Slot* probe[kMaxOrder + 2];
    };
    Lane lanes[kLanes];
    int active = 0;
    size_t nextSeq = s0;
    auto issue = [&](Lane& L) {
      const uint32_t w = (L.j < L.e) ? tokens[L.j] : eos;
      L.w = w;
      __builtin_prefetch(prob[1] + w);
      for (int n = 1; n <= L.ctxLen; ++n) {
        const Slot* sp = slots[n + 1] + index_[n + 1].home(L.ctx[n], w);
        L.probe[n] = sp;
        __builtin_prefetch(sp);
      }
    };
    auto start = [&](Lane& L) {
      const size_t s = nextSeq++;
      L.j = offsets[s];
      L.e = offsets[s + 1];
      L.out = static_cast<uint32_t>(L.j + s - base);
      L.ctxLen = K >= 2 ? 1 : 0;
      L.ctx[0] = 0;
      L.ctx[1] = bos;
      issue(L);
    };
    while (active < kLanes && nextSeq < s1) start(lanes[active++]);
    while (active > 0) {
      // Resolve: the first slot with the word is the candidate; its parent is checked later.
      for (int l = 0; l < active; ++l) {
        Lane& L = lanes[l];
        for (int n = 1; n <= L.ctxLen; ++n) {
          const Slot* sp = L.probe[n];
          while (sp->id != kNone && sp->word != L.w) ++sp;
          L.probe[n] = sp;
          const uint32_t id = sp->id;
          L.cand[n + 1] = id;
          if (id != kNone) {
            __builtin_prefetch(par[n + 1] + id);
            __builtin_prefetch(prob[n + 1] + id);
          }
        }
      }
      // Finish: verify, score, move on.
      for (int l = 0; l < active;) {
        Lane& L = lanes[l];
        const uint32_t w = L.w;
        uint32_t nid[kMaxOrder + 2];
        nid[1] = w;
        int found = 1;
        for (int n = 1; n <= L.ctxLen; ++n) {
          uint32_t id = L.cand[n + 1];
          if (id != kNone && par[n + 1][id] != L.ctx[n]) {
            // A different context's child with the same word: keep probing.
            id = kNone;
            for (const Slot* sp = L.probe[n] + 1; sp->id != kNone; ++sp)
              if (sp->word == w && par[n + 1][sp->id] == L.ctx[n]) {
                id = sp->id;
                break;
              }
          }
          if (id == kNone) break;
          nid[n + 1] = id;
          found = n + 1;
        }
        double p;
        if (kn) {
          // A context without children has gamma 1 and no child: skipping it changes nothing.
          p = (w == bos) ? 0.0 : uni;
          for (int n = 0; n <= L.ctxLen; ++n) {
            const double uu = (n + 1 <= found) ? prob[n + 1][nid[n + 1]] : 0.0;
            p = gam[n][L.ctx[n]] * p + uu;
          }
        } else {
          int n = L.ctxLen;
          while (n > 0 && cbeg[n][L.ctx[n] + 1] == cbeg[n][L.ctx[n]]) --n;
          const double uu = (n + 1 <= found) ? prob[n + 1][nid[n + 1]] : 0.0;
          p = gam[n][L.ctx[n]] * ((w == bos) ? 0.0 : uni) + uu;
        }
        lp[L.out++] = p > 0 ? std::log(p) : -std::numeric_limits<double>::infinity();
        for (int n = 1; n <= found && n <= K - 1; ++n) L.ctx[n] = nid[n];
        L.ctxLen = std::min(found, K - 1);
        if (L.j < L.e) {
          ++L.j;
          issue(L);
          ++l;
        } else if (nextSeq < s1) {
          start(L);
          ++l;
        } else {
          L = lanes[--active];  // this slot now holds the last lane; do not advance l
        }
      }
    }
    double sum = 0;
    uint64_t zero = 0;
    for (size_t i = 0, n = end - base; i < n; ++i) {
      if (lp[i] > -std::numeric_limits<double>::infinity())
        sum += lp[i];
      else
        ++zero;
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
