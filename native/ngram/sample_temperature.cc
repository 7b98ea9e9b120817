// Temperature sampling without truncation: q(v|h) ∝ p(v|h)^(1/T), drawn exactly by rejection over
// per-context tables (see TemperatureTables in sampler.hh for the construction and its bound).
//
// Why not the exact path's single uniform: p^(1/T) does not split over the interpolation levels,
// so the mixture walk of sample_exact.cc does not apply. Building each visited row's transformed
// CDF (the previous design) cost O(|S| log V) per context and ran at ~0.3 M tokens/s; the tables
// here cost one pass over the n-grams per sample() call, and a token a walk of the chain plus, on
// average, a little more than one attempt.
//
// Scaling: every Q is (p / row maximum)^(1/T) computed from logs, so each row's maximum is exactly
// 1 whatever T: no underflow to an all-zero row at small T (the row tends to its argmax as T -> 0,
// and is the argmax when 1/T overflows).
#include <algorithm>
#include <cmath>
#include <tuple>

#include "common/parallel.hh"
#include "ngram/sampler.hh"

namespace cl::ngram {

void TemperatureTables::build(const Model& m, double temperature, int threads) {
  const auto& L = m.levels_;
  const int K = m.opt_.order;
  const uint32_t V = m.opt_.vocabSize;
  const bool kn = m.opt_.smoothing == Smoothing::KneserNey;
  invT = 1.0 / temperature;
  const double uni = m.uniformMass();
  const double logUni = std::log(uni);
  qcum.assign(K + 1, {});
  s.assign(K, {});
  U.assign(K, {});
  std::vector<std::vector<double>> logM(K);  // log of each context's row maximum (KN: needed one level up)
  // p(v|h) of every n-gram (KN): level 1 is p1; level n+1 is gamma(parent) p(suffix) + u.
  std::vector<double> fullLo, fullHi;
  if (kn) fullLo = m.p1_;
  for (int l = 0; l < K; ++l) {
    const Level& ctx = L[l];
    const Level& ch = L[l + 1];
    const size_t nc = ctx.childBegin.size() - 1;
    qcum[l + 1].assign(ch.size(), 0.0);
    s[l].assign(nc, 0.0);
    U[l].assign(nc, 0.0);
    logM[l].assign(nc, 0.0);
    if (kn && l >= 1) fullHi.assign(ch.size(), 0.0);
    const size_t chunk = 4096;
    parallelFor(threads, (nc + chunk - 1) / chunk, [&](size_t c, int) {
      for (size_t h = c * chunk, he = std::min(nc, h + chunk); h < he; ++h) {
        const uint32_t b = ctx.childBegin[h], e = ctx.childBegin[h + 1];
        if (b == e) continue;
        const double g = ctx.gamma[h];
        // The value of child i, and the off-children level (KN: the suffix context; add-k/MLE and the
        // root: the uniform, which the root's children cover entirely).
        double lowLogM = logUni, lowU = static_cast<double>(V - 1);
        uint32_t lowId = 0;
        if (kn && l >= 1) {
          lowId = l >= 2 ? ctx.suffix[h] : 0;
          lowLogM = logM[l - 1][lowId];
          lowU = U[l - 1][lowId];
        }
        auto value = [&](uint32_t i) -> double {
          if (!kn) return (ch.word[i] == m.opt_.bos ? 0.0 : g * uni) + ch.prob[i];
          if (l == 0) return fullLo[i];  // p1 (level 1 is indexed by word)
          return g * fullLo[ch.suffix[i]] + ch.prob[i];
        };
        double mx = 0;
        for (uint32_t i = b; i < e; ++i) {
          const double p = value(i);
          if (kn && l >= 1) fullHi[i] = p;
          mx = std::max(mx, p);
        }
        // Off the children the values are g times the lower row's (at most g times its maximum).
        const bool off = l > 0 && g > 0;
        if (off) mx = std::max(mx, g * std::exp(lowLogM));
        const double lm = std::log(mx);
        double acc = 0;
        for (uint32_t i = b; i < e; ++i) {
          const double p = (kn && l >= 1) ? fullHi[i] : value(i);
          acc += p > 0 ? powScaled(std::log(p) - lm, invT) : 0.0;
          qcum[l + 1][i] = acc;
        }
        logM[l][h] = lm;
        s[l][h] = off ? powScaled(std::min(0.0, std::log(g) + lowLogM - lm), invT) : 0.0;
        U[l][h] = acc + s[l][h] * lowU;
      }
    });
    if (kn && l >= 1) fullLo.swap(fullHi);
  }
}

uint32_t Sampler::drawTempered(int& n, uint32_t& id, SplitMix64& rng) const {
  const auto& L = m.levels_;
  const bool kn = m.opt_.smoothing == Smoothing::KneserNey;
  const TemperatureTables& T = *tt;
  // The deepest context with children (sn, sid).
  int sn = n;
  uint32_t sid = id;
  while (sn > 0 && !m.hasChildren(sn, sid)) {
    sid = sn >= 2 ? L[sn].suffix[sid] : 0;
    --sn;
  }
  const int K = m.opt_.order;
  int seenLvl[kMaxOrder + 1];
  uint32_t seenId[kMaxOrder + 1];
  for (;;) {  // one attempt per iteration
    int lvl = sn;
    uint32_t cid = sid;
    int ns = 0;  // contexts above the current one, whose children a draw from below must avoid
    double r = rng.uniform() * T.U[lvl][cid];
    uint32_t w = kNone, wi = 0;
    for (;;) {
      const Level& ch = L[lvl + 1];
      const uint32_t b = L[lvl].childBegin[cid], e = L[lvl].childBegin[cid + 1];
      const double* q = T.qcum[lvl + 1].data();
      const double total = q[e - 1];
      const double sc = T.s[lvl][cid];
      if (r < total || !(sc > 0)) {
        uint32_t i = static_cast<uint32_t>(std::upper_bound(q + b, q + e, r) - q);
        if (i >= e) {  // r at the very top (rounding): the last child with mass
          i = e - 1;
          while (i > b && q[i] == q[i - 1]) --i;
        }
        w = ch.word[i];
        wi = i;
        break;
      }
      seenLvl[ns] = lvl;
      seenId[ns++] = cid;
      r = (r - total) / sc;
      if (!kn || lvl == 0) {  // the uniform over the V-1 ids other than BOS
        w = uniformId(r / static_cast<double>(m.opt_.vocabSize - 1));
        break;
      }
      cid = lvl >= 2 ? L[lvl].suffix[cid] : 0;
      --lvl;
      const double u = T.U[lvl][cid];
      if (!(r < u)) r = std::nextafter(u, 0.0);
    }
    // Accept unless w is a child of a context above the one it was drawn from (there it has its
    // own value, drawn from that context's table).
    if (!kn) {
      if (ns > 0 && m.child(seenLvl[0], seenId[0], w) != kNone) continue;
      std::tie(n, id) = advance(n, id, w);
      return w;
    }
    // KN: a context's children are among its suffix context's (the suffix of a seen n-gram is
    // seen), so the nearest context above is the only one to ask. Accepted, w was drawn as child
    // wi of (lvl, cid) and is a child of no deeper context of the chain: the next context is
    // that n-gram, as advance() would find it (at the top level, its suffix).
    if (ns > 0 && m.child(seenLvl[ns - 1], seenId[ns - 1], w) != kNone) continue;
    if (lvl + 1 <= K - 1) {
      n = lvl + 1;
      id = wi;
    } else {
      n = K - 1;
      id = L[K].suffix[wi];
    }
    return w;
  }
}

}  // namespace cl::ngram
