// Sampling whole sequences from a fitted model.
//
// Exact path (temperature 1, no truncation): one uniform draw r per token walks the interpolated
// mixture from the deepest context down: at a context with children, r < (its total u) picks the
// child whose cumulative mass first exceeds r (binary search); otherwise r is rescaled into the
// lower level's share and the walk moves to the suffix context; below the root is the uniform over
// V-1 ids. This draws exactly from p(.|h) (up to float64 rounding) in O(levels * log children).
//
// Transformed path (temperature != 1, top-k or top-p): the dense row p(.|h) is built, transformed
// (p^(1/T), then top-k, then top-p, as Hugging Face's generate orders them; ties by id) and kept
// as a sparse CDF in a small per-thread cache keyed by the context node.
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

struct Sampler {
  const Model& m;
  const SampleRequest& req;
  const bool transformed;
  struct Entry {
    uint64_t key = ~0ull;
    std::vector<uint32_t> ids;
    std::vector<double> cdf;  // inclusive, unnormalised
  };
  std::vector<Entry> cache;
  std::vector<double> row;
  std::vector<uint32_t> idx;

  Sampler(const Model& model, const SampleRequest& r)
      : m(model), req(r), transformed(r.temperature != 1.0 || r.topK > 0 || r.topP < 1.0) {
    if (transformed) {
      const size_t V = m.opt_.vocabSize;
      // About 48 MiB of cached rows per thread at most, between 16 and 4096 entries.
      size_t slots = (48u << 20) / (V * 12 + 64);
      slots = std::max<size_t>(16, std::min<size_t>(4096, slots));
      cache.resize(slots);
      row.resize(V);
      idx.resize(V);
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

  uint32_t drawTransformed(int n, uint32_t id, double r) {
    const uint64_t key = (static_cast<uint64_t>(n) << 32) | id;
    Entry& en = cache[mix64(key) % cache.size()];
    if (en.key != key) build(n, id, en, key);
    const double target = r * en.cdf.back();
    size_t i = static_cast<size_t>(std::upper_bound(en.cdf.begin(), en.cdf.end(), target) - en.cdf.begin());
    if (i >= en.ids.size()) i = en.ids.size() - 1;
    return en.ids[i];
  }

  void build(int n, uint32_t id, Entry& en, uint64_t key) {
    const uint32_t V = m.opt_.vocabSize;
    m.denseRow(n, id, row.data());
    const double invT = 1.0 / req.temperature;
    uint32_t k = 0;
    for (uint32_t v = 0; v < V; ++v) {
      if (row[v] > 0) {
        row[v] = (invT == 1.0) ? row[v] : std::exp(std::log(row[v]) * invT);
        idx[k++] = v;
      }
    }
    auto byMass = [&](uint32_t a, uint32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
    if (req.topK > 0 && req.topK < k) {
      std::nth_element(idx.begin(), idx.begin() + req.topK, idx.begin() + k, byMass);
      k = req.topK;
    }
    if (req.topP < 1.0) {
      std::sort(idx.begin(), idx.begin() + k, byMass);
      double total = 0;
      for (uint32_t i = 0; i < k; ++i) total += row[idx[i]];
      double acc = 0;
      uint32_t keep = k;
      for (uint32_t i = 0; i < k; ++i) {
        acc += row[idx[i]];
        if (acc >= req.topP * total) {
          keep = i + 1;
          break;
        }
      }
      k = keep;
    }
    // Keep the kept ids in id order so the CDF layout is canonical.
    std::sort(idx.begin(), idx.begin() + k);
    en.key = key;
    en.ids.assign(idx.begin(), idx.begin() + k);
    en.cdf.resize(k);
    double acc = 0;
    for (uint32_t i = 0; i < k; ++i) {
      acc += row[idx[i]];
      en.cdf[i] = acc;
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
