// Sampling whole sequences from a fitted model: the driver (work split, streams, assembly) and the
// per-token loop. The draws themselves live in sample_exact.cc (T = 1), sample_temperature.cc
// (T != 1) and sample_truncated.cc (top-k / top-p); sampler.hh says which does what.
//
// Sequence i uses the random stream (seed, SAMP, i) only, so the output never depends on the
// thread count or on how sequences are split into work items.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <tuple>

#include "common/errors.hh"
#include "common/parallel.hh"
#include "common/rng.hh"
#include "ngram/sampler.hh"

namespace cl::ngram {

Sampler::Sampler(const Model& model, const SampleRequest& r)
    : m(model), req(r), truncated(r.topK > 0 || r.topP < 1.0), tempered(!truncated && r.temperature != 1.0) {
  if (truncated) {
    cache.resize(size_t(1) << 18);
    mark.assign(m.opt_.vocabSize, 0);
  }
}

// Next context after emitting w from the deepest context (n, id).
std::pair<int, uint32_t> Sampler::advance(int n, uint32_t id, uint32_t w) const {
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

uint32_t Sampler::uniformId(double r) const {
  const uint64_t Vm1 = m.opt_.vocabSize - 1;
  uint64_t j = static_cast<uint64_t>(r * static_cast<double>(Vm1));
  if (j >= Vm1) j = Vm1 - 1;
  return static_cast<uint32_t>(j >= m.opt_.bos ? j + 1 : j);
}

// Draws sequence `index` into out (tokens without BOS/EOS). Returns true if cut at maxLength.
bool Sampler::sequence(uint64_t index, std::vector<uint32_t>& out) {
  SplitMix64 rng(streamKey(req.seed, kSampleSequence, index));
  const uint32_t eos = m.opt_.eos;
  int n = m.opt_.order >= 2 ? 1 : 0;
  uint32_t id = n == 1 ? m.opt_.bos : 0;
  for (uint32_t t = 0; t < req.maxLength; ++t) {
    if (tempered) {
      const uint32_t w = drawTempered(n, id, rng);
      if (w == eos) return false;
      out.push_back(w);
      continue;
    }
    const uint32_t w = truncated ? drawTruncated(n, id, rng.uniform()) : drawExact(n, id, rng.uniform());
    if (w == eos) return false;
    out.push_back(w);
    std::tie(n, id) = advance(n, id, w);
  }
  return true;
}

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
  TruncationBase bases[2];
  TemperatureTables temp;
  if (samplers[0].truncated) {
    // p1: the unigram-level mixture, as denseRow builds it (uniform, then the root's children).
    const uint32_t V = opt_.vocabSize;
    const double invT = 1.0 / req.temperature;
    std::vector<double> uni(V, uniformMass());
    uni[opt_.bos] = 0;
    bases[0].build(p1_, invT);
    if (opt_.smoothing != Smoothing::KneserNey) bases[1].build(std::move(uni), invT);
    for (auto& s : samplers) {
      s.tb[0] = &bases[0];
      s.tb[1] = &bases[1];
    }
  } else if (samplers[0].tempered) {
    temp.build(*this, req.temperature, t);
    for (auto& s : samplers) s.tt = &temp;
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
      if (!s.truncated && !s.tempered && i1 > i0) {
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
