// Exact sampling (temperature 1, no truncation): one uniform draw r per token walks the
// interpolated mixture from the deepest context down: at a context with children, r < (its total u)
// picks the child whose cumulative mass first exceeds r (binary search, narrowed by the guide
// table for long runs); otherwise r is rescaled into the lower level's share and the walk moves to
// the suffix context; below the root is the uniform over V-1 ids. This draws exactly from p(.|h)
// (up to float64 rounding) in O(levels * log children).
#include <algorithm>
#include <cmath>
#include <tuple>

#include "ngram/sampler.hh"

namespace cl::ngram {

uint32_t Sampler::drawExact(int n, uint32_t id, double r) const {
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

// Exact path, many sequences at once: the draws of up to kLanes sequences advance in turns, one
// memory step each (read what the previous turn prefetched, prefetch the next address), so the
// dependent misses of one sequence overlap with those of the others. Each sequence does exactly
// what drawExact + advance do, with its own random stream: the tokens are the same.
// Sequences [i0, i1) land in seqOut[i - i0]; cut[i - i0] = 1 if cut at maxLength.
void Sampler::exactBatch(uint64_t i0, uint64_t i1, std::vector<std::vector<uint32_t>>& seqOut, std::vector<uint8_t>& cut) {
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

}  // namespace cl::ngram
