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
// Sorts keys (word << 32 | index) by word, stable in index order (LSD radix on the word bits,
// 8 bits per pass; words < V). Used for big groups in counting.
void radixSortHigh(uint64_t* a, size_t m, uint32_t V, std::vector<uint64_t>& tmp) {
  tmp.resize(m);
  uint64_t* src = a;
  uint64_t* dst = tmp.data();
  int bits = 0;
  while (bits < 32 && (static_cast<uint64_t>(V - 1) >> bits) != 0) bits += 8;
  for (int shift = 32; shift < 32 + bits; shift += 8) {
    uint32_t h[257] = {0};
    for (size_t i = 0; i < m; ++i) h[((src[i] >> shift) & 0xFF) + 1]++;
    for (int b = 0; b < 256; ++b) h[b + 1] += h[b];
    for (size_t i = 0; i < m; ++i) dst[h[(src[i] >> shift) & 0xFF]++] = src[i];
    std::swap(src, dst);
  }
  if (src != a) std::memcpy(a, src, m * sizeof(uint64_t));
}
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
  std::shared_ptr<Model> m = countLevels(o, c);
  m->finishFit();
  return m;
}

// The counting stage of fit(): levels with parent, word, count, suffix and childBegin; no estimates.
std::shared_ptr<Model> Model::countLevels(const Options& o, const CorpusView& c) {
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

  // ---- Counting by sorting, level by level (no hash table, no renumbering). The extended position
  // space holds every sequence as BOS t1 .. tm EOS (R = ntokens + 2 nseq entries). Level n's nodes
  // are the distinct (parent, word) pairs at the positions that end an n-gram; given the positions
  // grouped by their level-(n-1) node in id order (ord/grp), the positions one step to the right,
  // sorted by word within each group, come out in (parent, word) order: ids are assigned by one
  // scan. Level 1 is a counting sort by word (BOS positions included: <s> is the parent of the
  // first bigram of every sequence, though its count stays 0).
  const size_t R = c.ntokens + 2 * nseq;
  std::vector<uint32_t> W(R);
  for (size_t s = 0; s < nseq; ++s) {
    const uint32_t b = c.offsets[s], e = c.offsets[s + 1];
    uint32_t* dst = W.data() + b + 2 * s;
    dst[0] = o.bos;
    if (e > b) std::memcpy(dst + 1, c.tokens + b, sizeof(uint32_t) * (e - b));  // tokens may be null when empty
    dst[e - b + 1] = o.eos;
  }
  std::vector<uint32_t> ord, grp;  // positions sorted by node of the current level; group starts
  {
    grp.assign(static_cast<size_t>(V) + 1, 0);
    for (size_t r = 0; r < R; ++r) grp[W[r] + 1]++;
    for (uint32_t v = 0; v < V; ++v) {
      L[1].count[v] = (v == o.bos) ? 0 : grp[v + 1];
      grp[v + 1] += grp[v];
    }
    if (K >= 2) {
      ord.resize(R);
      std::vector<uint32_t> pos(grp.begin(), grp.end() - 1);
      for (size_t r = 0; r < R; ++r) ord[pos[W[r]]++] = static_cast<uint32_t>(r);
    }
  }
  L[0].childBegin = {0, V};
  std::vector<uint32_t> idPrev, idCur;  // node of the current level ending at each position (level >= 2)
  std::vector<uint64_t> keys, nextKey, tmpKeys;
  std::vector<uint32_t> nextSfx;
  std::vector<uint32_t> ordNext, grpNext;
  for (int n = 2; n <= K; ++n) {
    Level& up = L[n - 1];
    Level& lv = L[n];
    const size_t P = up.size();
    const bool last = (n == K);
    std::vector<uint32_t>& cb = up.childBegin;
    cb.assign(P + 1, 0);
    if (!last) idCur.assign(R, kNone);
    // Gather the word and the suffix node one step to the right of every position, in ord order
    // (independent loads, prefetched ahead so the misses overlap).
    const size_t M = ord.size();
    nextKey.resize(M);
    nextSfx.resize(M);
    {
      constexpr size_t kAhead = 24;
      const uint32_t* od = ord.data();
      const uint32_t* Wd = W.data();
      const uint32_t* ip = (n == 2) ? Wd : idPrev.data();
      for (size_t i = 0; i < M; ++i) {
        if (i + kAhead < M) {
          const uint32_t ra = od[i + kAhead] + 1;
          if (ra < R) {
            __builtin_prefetch(Wd + ra);
            if (n > 2) __builtin_prefetch(ip + ra);
          }
        }
        const uint32_t r = od[i] + 1;
        if (r < R) {
          nextKey[i] = (static_cast<uint64_t>(Wd[r]) << 32) | r;
          nextSfx[i] = ip[r];
        }
      }
    }
    // Upper bound on the nodes of this level: one per position with a right neighbour.
    std::vector<uint32_t> parent(M), word(M), count(M), suffix(M);
    if (!last) {
      ordNext.resize(M);
      grpNext.resize(M + 1);
    }
    uint32_t* oN = ordNext.data();
    uint32_t* gN = grpNext.data();
    uint32_t* idC = idCur.data();
    size_t nOrd = 0;
    uint32_t next = 0;
    for (size_t g = 0; g < P; ++g) {
      cb[g] = next;
      const uint32_t gb = grp[g], ge = grp[g + 1];
      if (gb == ge || up.word[g] == o.eos) continue;
      const uint32_t m = ge - gb;
      keys.resize(m);
      uint64_t* ks = keys.data();
      for (uint32_t j = 0; j < m; ++j) ks[j] = (nextKey[gb + j] & 0xFFFFFFFF00000000ull) | (gb + j);
      if (m > 1) {
        if (m <= 16) {
          for (uint32_t j = 1; j < m; ++j) {
            const uint64_t x = ks[j];
            uint32_t t = j;
            while (t > 0 && ks[t - 1] > x) {
              ks[t] = ks[t - 1];
              --t;
            }
            ks[t] = x;
          }
        } else if (m <= 256) {
          std::sort(ks, ks + m);
        } else {
          radixSortHigh(ks, m, V, tmpKeys);
        }
      }
      for (uint32_t j = 0; j < m;) {
        const uint32_t w = static_cast<uint32_t>(ks[j] >> 32);
        uint32_t j2 = j + 1;
        while (j2 < m && static_cast<uint32_t>(ks[j2] >> 32) == w) ++j2;
        const uint32_t i0 = static_cast<uint32_t>(ks[j]);
        parent[next] = static_cast<uint32_t>(g);
        word[next] = w;
        count[next] = j2 - j;
        suffix[next] = nextSfx[i0];
        if (!last) {
          gN[next] = static_cast<uint32_t>(nOrd);
          for (uint32_t t = j; t < j2; ++t) {
            const uint32_t r = static_cast<uint32_t>(nextKey[static_cast<uint32_t>(ks[t])]);
            oN[nOrd++] = r;
            idC[r] = next;
          }
        }
        ++next;
        j = j2;
      }
    }
    auto fitTo = [&](std::vector<uint32_t>& dst, std::vector<uint32_t>& src) {
      dst.assign(src.begin(), src.begin() + next);
      std::vector<uint32_t>().swap(src);
    };
    fitTo(lv.parent, parent);
    fitTo(lv.word, word);
    fitTo(lv.count, count);
    fitTo(lv.suffix, suffix);
    if (!last) {
      ordNext.resize(nOrd);
      grpNext.resize(next + 1);
      grpNext[next] = static_cast<uint32_t>(nOrd);
    }
    cb[P] = next;
    if (!last) {
      ord.swap(ordNext);
      grp.swap(grpNext);
      idPrev.swap(idCur);
    }
  }
  std::vector<uint32_t>().swap(W);
  std::vector<uint32_t>().swap(ord);
  std::vector<uint32_t>().swap(idPrev);
  std::vector<uint32_t>().swap(idCur);
  // The top level has no children.
  L[K].childBegin.clear();
  return m;
}

void Model::finishFit() {
  // Estimation and the lookup index are independent: with two threads they run side by side.
  if (opt_.threads >= 2) {
    parallelFor(2, 2, [&](size_t task, int) {
      if (task == 0)
        estimate();
      else
        buildHash();
    });
  } else {
    estimate();
    buildHash();
  }
  buildGuides();
}

// ---------------------------------------------------------------------------------------------
// extend(): the counts of a corpus T' = T + more are those of T plus those of `more`, n-gram by
// n-gram, and the counting stage of fit() determines a model's levels by its counts alone: level
// n holds the distinct seen n-grams in (parent, word) order, ids by rank. So the levels of T' are
// the merge of the two sorted level lists (the base's and those counted on `more`), level by level
// from the root, each side's parent (and suffix) ids mapped to their merged ids first; equal
// (parent, word) keys add their counts. Both mappings are increasing, so each side stays sorted
// under them and one two-pointer pass per level suffices. The estimate then runs on the merged
// counts exactly as after a full count: the model is the one fit() would give on T' (the C++
// tests and test/ngram.extend.test.ts check it field by field), at the cost of counting `more`.
std::shared_ptr<const Model> Model::extend(std::shared_ptr<const Model> base, const CorpusView& more, int threads) {
  if (!base) fail("E_NOT_FITTED", "extend() needs a fitted model");
  Options o = base->opt_;
  o.threads = threads;
  std::shared_ptr<Model> d = countLevels(o, more);
  const int K = o.order;
  const uint32_t V = o.vocabSize;
  std::shared_ptr<Model> m(new Model());
  m->opt_ = o;
  m->positions_ = base->positions_ + d->positions_;
  m->sequences_ = base->sequences_ + d->sequences_;
  if (m->positions_ > 0xFFFFFFF0ull) fail("E_BAD_ARGUMENT", "corpus too large: more than 2^32 positions");
  auto& L = m->levels_;
  L.resize(K + 1);
  L[0].parent = {kNone};
  L[0].word = {kNone};
  L[0].count = {static_cast<uint32_t>(m->positions_)};
  L[0].childBegin = {0, V};
  L[1].parent.assign(V, 0);
  L[1].word.resize(V);
  std::iota(L[1].word.begin(), L[1].word.end(), 0u);
  L[1].count.resize(V);
  for (uint32_t v = 0; v < V; ++v) L[1].count[v] = base->levels_[1].count[v] + d->levels_[1].count[v];
  L[1].suffix.assign(V, 0);
  // When this call holds the only reference to the base (the addon lets go of it first), the base
  // is consumed as the merge goes: its estimates and index now, each level once merged, so the
  // peak is about one model rather than two. (The object was created non-const by fit(), so
  // writing through const_cast is defined.)
  Model* own = base.use_count() == 1 ? const_cast<Model*>(base.get()) : nullptr;
  if (own) {
    std::vector<ChildIndex>().swap(own->index_);
    std::vector<std::vector<uint32_t>>().swap(own->guideOff_);
    std::vector<std::vector<uint32_t>>().swap(own->guide_);
    std::vector<double>().swap(own->p1_);
    for (Level& l : own->levels_) {
      std::vector<double>().swap(l.prob);
      std::vector<double>().swap(l.cum);
      std::vector<double>().swap(l.gamma);
      std::vector<uint32_t>().swap(l.childBegin);
    }
  }
  // Merged ids of each side's nodes at the previous level (level 1: identity).
  std::vector<uint32_t> mapA(V), mapB(V), nextA, nextB;
  std::iota(mapA.begin(), mapA.end(), 0u);
  std::iota(mapB.begin(), mapB.end(), 0u);
  for (int n = 2; n <= K; ++n) {
    const Level& A = base->levels_[n];
    const Level& B = d->levels_[n];
    Level& lv = L[n];
    const size_t na = A.size(), nb = B.size();
    const bool last = (n == K);
    // Which side comes next in (parent, word) order: 0 the base, 1 the new counts, 2 both.
    auto order = [&](size_t i, size_t j, uint32_t& pa, uint32_t& pb) -> int {
      if (i < na) pa = mapA[A.parent[i]];
      if (j < nb) pb = mapB[B.parent[j]];
      if (j >= nb) return 0;
      if (i >= na) return 1;
      if (pa != pb) return pa < pb ? 0 : 1;
      if (A.word[i] != B.word[j]) return A.word[i] < B.word[j] ? 0 : 1;
      return 2;
    };
    // A first pass sizes the merged level exactly (no over-allocation, no shrinking copy).
    size_t total = 0;
    {
      size_t i = 0, j = 0;
      uint32_t pa = 0, pb = 0;
      while (i < na || j < nb) {
        const int side = order(i, j, pa, pb);
        i += (side != 1);
        j += (side != 0);
        ++total;
      }
    }
    lv.parent.resize(total);
    lv.word.resize(total);
    lv.count.resize(total);
    lv.suffix.resize(total);
    if (!last) {
      nextA.resize(na);
      nextB.resize(nb);
    }
    size_t i = 0, j = 0, k = 0;
    uint32_t pa = 0, pb = 0;
    while (i < na || j < nb) {
      const int side = order(i, j, pa, pb);
      if (side != 1) {
        lv.parent[k] = pa;
        lv.word[k] = A.word[i];
        lv.count[k] = A.count[i];
        lv.suffix[k] = mapA[A.suffix[i]];
        if (side == 2) lv.count[k] += B.count[j];
        if (!last) nextA[i] = static_cast<uint32_t>(k);
        ++i;
      }
      if (side != 0) {
        if (side == 1) {
          lv.parent[k] = pb;
          lv.word[k] = B.word[j];
          lv.count[k] = B.count[j];
          lv.suffix[k] = mapB[B.suffix[j]];
        }
        if (!last) nextB[j] = static_cast<uint32_t>(k);
        ++j;
      }
      ++k;
    }
    (void)k;  // == total
    if (own) {
      Level& a = own->levels_[n];
      std::vector<uint32_t>().swap(a.parent);
      std::vector<uint32_t>().swap(a.word);
      std::vector<uint32_t>().swap(a.count);
      std::vector<uint32_t>().swap(a.suffix);
    }
    Level& b = d->levels_[n];
    std::vector<uint32_t>().swap(b.parent);
    std::vector<uint32_t>().swap(b.word);
    std::vector<uint32_t>().swap(b.count);
    std::vector<uint32_t>().swap(b.suffix);
    // Level n-1's child ranges from the merged parents.
    Level& up = L[n - 1];
    up.childBegin.assign(up.size() + 1, 0);
    for (uint32_t p : lv.parent) up.childBegin[p + 1]++;
    for (size_t g = 0; g < up.size(); ++g) up.childBegin[g + 1] += up.childBegin[g];
    if (!last) {
      // The suffix maps of level n+1 refer to level n's ids: the maps advance one level.
      mapA.swap(nextA);
      mapB.swap(nextB);
    }
  }
  L[K].childBegin.clear();
  // The base (if no one else holds it), the new counts and the maps go before the estimate.
  base.reset();
  d.reset();
  std::vector<uint32_t>().swap(mapA);
  std::vector<uint32_t>().swap(mapB);
  std::vector<uint32_t>().swap(nextA);
  std::vector<uint32_t>().swap(nextB);
  m->finishFit();
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
