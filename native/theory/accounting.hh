// The error accounting of THEORY.md, per generation, on a fixed probe set X — the native twin of
// src/theory/index.ts (TheoryTracker), which stays as the readable reference: the same operations
// in the same order, so both give bit-identical records. This one runs off the JS thread, in
// parallel over probes, with deterministic (per-probe, then x-ordered) reductions.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "ngram/model.hh"
#include "theory/context_counts.hh"

namespace cl::theory {

struct AccountingConfig {
  std::vector<uint32_t> contexts;  // K × width
  size_t width = 2;
  std::vector<double> weights;     // π(x), K
  uint32_t vocabSize = 0;
  int generations = 1;             // G
  bool accumulating = false;       // accumulate / accumulate-subsample: sources add up
  bool equalShares = false;        // evaluate THEORY.md's equal-shares formula with `rate`
  double rate = 0;
  uint32_t bos = 1, eos = 2;
};

struct StepInput {
  int n = 0;
  std::shared_ptr<const ngram::Model> model;  // fitted on T_n
  ngram::CorpusView sample;                   // S_n
  bool trainIsPool = true;                    // T_n = C_n
  ngram::CorpusView train;                    // T_n (read when !trainIsPool)
  bool real = true;                           // D ⊂ C_n
  std::vector<int> synthetic;                 // k with S_k ⊂ C_n
  // Replace-with-real: T_n's real part is a fresh draw R_n from D, not D itself. Its counts stand
  // for the real source, and σ_n := (c_{R_n}(x,·) − c_{R_n}(x)·p0)/c_{T_n}(x) is that draw's
  // departure from p0, weighted by its share (T_n = C_n = R_n ∪ S_{n−1}).
  bool realDraw = false;
  ngram::CorpusView realPart;
};

struct StepResult {
  size_t probes = 0, valid = 0, vanished = 0, unseen = 0;
  double epsL1 = 0, deltaL1 = 0, sigmaL1 = 0, EL1 = 0, realShare = 0, residual = 0;
  double headE = 0, headEps = 0, headDelta = 0, headSigma = 0, tailE = 0, tailEps = 0, tailDelta = 0, tailSigma = 0;
  // The raw π-weighted sums behind the means above, and their weights Σπ (δ: over probes S_n has).
  double weight = 0, deltaWeight = 0, epsSum = 0, deltaSum = 0, sigmaSum = 0, ESum = 0, realShareSum = 0;
  // max |ε_n(v|x)| over the probes in the accounting (0 exactly for MLE).
  double epsMax = 0;
  double predictedL1 = 0, deviationL1 = 0;
  std::vector<double> coefEps, coefDelta, coefSigma;
};

class Accounting {
 public:
  // `real` is D itself (the counts at the probes are taken once here).
  Accounting(AccountingConfig cfg, const ngram::CorpusView& real);
  StepResult step(const StepInput& in, int threads);
  size_t bytes() const;

 private:
  AccountingConfig c_;
  size_t K_ = 0;
  SparseCounts realCounts_;
  std::vector<uint8_t> valid_, unseen_;
  std::vector<double> A_, Q_, Acoef_;
  std::vector<SparseCounts> sampleCounts_;
  std::vector<std::vector<uint32_t>> head_, tail_;
};

}  // namespace cl::theory
