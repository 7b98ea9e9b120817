// Training: the corpus becomes one token stream with BOS/EOS inserted per sequence
// (BOS t1..tm EOS BOS …; when BOS = EOS, as GPT-2's <|endoftext|>, one separator between
// sequences: EOS t1..tm EOS t1..), cut into contiguous windows of seqLen+1 tokens (inputs and
// next-token targets) that overlap by one token. Each epoch visits every window once, in the order
// of a Fisher–Yates shuffle drawn from the stream (seed, BATCH, epoch); batches are consecutive
// groups of batchSize windows (the last one may be smaller). When BOS ≠ EOS, the target BOS after
// an EOS is not scored (it is implied, as in evaluate()). AdamW state is fresh at every call.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <sstream>

#include "common/errors.hh"
#include "common/rng.hh"
#include "kernels/cpu/kernels.hh"
#include "transformer/model.hh"

namespace cl::transformer {

namespace {
constexpr uint64_t kBatchPurpose = 0x42415443ull;  // "BATC"

double scheduledLr(const TrainRequest& r, uint64_t step /*0-based*/, uint64_t total) {
  if (r.warmup > 0 && step < r.warmup) return r.lr * static_cast<double>(step + 1) / static_cast<double>(r.warmup);
  if (r.schedule == 1) {
    const double span = static_cast<double>(std::max<uint64_t>(1, total - std::min(total, r.warmup)));
    const double progress = std::min(1.0, static_cast<double>(step - r.warmup) / span);
    return r.lr * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  return r.lr;
}
}  // namespace

TrainResult Model::train(const CorpusView& corpus, const TrainRequest& req, const std::function<void(const StepReport&)>& progress,
                         const std::atomic<bool>* cancel) {
  validateCorpus(corpus);
  if (corpus.sequences() == 0) fail("E_CORPUS_EMPTY", "the training corpus holds no sequences");
  if (req.batchSize < 1) fail("E_BAD_ARGUMENT", "batchSize must be at least 1");
  if (req.seqLen < 1 || req.seqLen > P_)
    fail("E_BAD_ARGUMENT", "seqLen must be in [1, contextLength = " + std::to_string(P_) + "], got " + std::to_string(req.seqLen));
  if (!(req.lr >= 0) || !std::isfinite(req.lr)) fail("E_BAD_ARGUMENT", "lr must be a finite number >= 0");

  const LmHeadScope lmHead{this};
  // Token stream.
  const uint32_t bos = cfg_.bos, eos = cfg_.eos;
  std::vector<uint32_t> stream;
  stream.reserve(corpus.ntokens + 2 * corpus.sequences() + 1);
  if (bos == eos) stream.push_back(eos);
  for (size_t s = 0; s < corpus.sequences(); ++s) {
    if (bos != eos) stream.push_back(bos);
    stream.insert(stream.end(), corpus.tokens + corpus.offsets[s], corpus.tokens + corpus.offsets[s + 1]);
    stream.push_back(eos);
  }
  const size_t T = std::min<size_t>(req.seqLen, stream.size() - 1);
  const size_t windows = (stream.size() - 1) / T;
  const size_t batchesPerEpoch = (windows + req.batchSize - 1) / req.batchSize;
  const uint64_t total = req.steps > 0 ? req.steps : static_cast<uint64_t>(req.epochs) * batchesPerEpoch;

  m_.assign(params_.size(), 0.0f);
  v_.assign(params_.size(), 0.0f);
  std::vector<uint32_t> order(windows), inputs(static_cast<size_t>(req.batchSize) * T), targets(inputs.size());
  TrainResult res;
  uint64_t step = 0, tokens = 0;
  for (uint32_t epoch = 0; step < total; ++epoch) {
    for (size_t i = 0; i < windows; ++i) order[i] = static_cast<uint32_t>(i);
    SplitMix64 g(streamKey(req.seed, kBatchPurpose, epoch));
    for (size_t i = windows; i > 1; --i) std::swap(order[i - 1], order[g.next() % i]);
    for (size_t b0 = 0; b0 < windows && step < total; b0 += req.batchSize) {
      if (cancel && cancel->load()) {
        res.cancelled = true;
        return res;
      }
      const int B = static_cast<int>(std::min<size_t>(req.batchSize, windows - b0));
      for (int b = 0; b < B; ++b) {
        const uint32_t* w = stream.data() + static_cast<size_t>(order[b0 + b]) * T;
        for (size_t t = 0; t < T; ++t) {
          inputs[b * T + t] = w[t];
          const uint32_t y = w[t + 1];
          targets[b * T + t] = (bos != eos && y == bos) ? kernels::kIgnore : y;
        }
      }
      const double loss = forwardBackward(inputs.data(), targets.data(), B, static_cast<int>(T));
      const double lr = scheduledLr(req, step, total);
      // A diverged step is an error naming the step, never a silent NaN model: a non-finite loss
      // stops before the update; a non-finite gradient norm after it (the update is then spoilt).
      auto diverged = [&](const char* what, double x) {
        std::ostringstream m;
        m << "training diverged at step " << step + 1 << " of " << total << ": the " << what << " is "
          << (std::isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity") << " (learning rate " << lr
          << "; lower lr, or keep clip > 0)";
        fail("E_DIVERGED", m.str());
      };
      if (!std::isfinite(loss)) diverged("loss", loss);
      double norm = 0;
      adamw(req, lr, step + 1, &norm);
      if (!std::isfinite(norm)) diverged("gradient norm", norm);
      ++step;
      tokens += static_cast<uint64_t>(B) * T;
      res.steps = step;
      res.lastLoss = loss;
      if (progress) {
        StepReport r;
        r.step = step;
        r.totalSteps = total;
        r.epoch = epoch;
        r.loss = loss;
        r.lr = lr;
        r.gradNorm = norm;
        r.tokens = tokens;
        progress(r);
      }
    }
  }
  return res;
}

}  // namespace cl::transformer
