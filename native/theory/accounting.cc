// See accounting.hh. Every expression mirrors src/theory/index.ts so the two agree bit for bit;
// this file is compiled without floating-point contraction (see CMakeLists.txt / binding.gyp).
#include "theory/accounting.hh"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/errors.hh"
#include "common/parallel.hh"

namespace cl::theory {

namespace {
void scatter(const SparseCounts& r, size_t x, double* dense) {
  for (uint32_t i = r.rowPtr[x]; i < r.rowPtr[x + 1]; ++i) dense[r.cols[i]] = dense[r.cols[i]] + r.vals[i];
}
void clearRow(const SparseCounts& r, size_t x, double* dense) {
  for (uint32_t i = r.rowPtr[x]; i < r.rowPtr[x + 1]; ++i) dense[r.cols[i]] = 0;
}
struct Signed {
  double E = 0, eps = 0, delta = 0, sigma = 0;
};
Signed signedMeans(const std::vector<uint32_t>& ids, const double* ph, const double* p0, const double* t, const double* s, const double* sg,
                   double kp0, double kt, double ks, bool hasS) {
  Signed r;
  for (uint32_t v : ids) {
    r.E += ph[v] - p0[v] * kp0;
    r.eps += ph[v] - t[v] * kt;
    if (hasS) r.delta += s[v] * ks - ph[v];
    r.sigma += sg[v];
  }
  const double n = ids.empty() ? 1.0 : static_cast<double>(ids.size());
  r.E /= n;
  r.eps /= n;
  r.delta /= n;
  r.sigma /= n;
  return r;
}
// Per-probe partial results, combined in probe order after the parallel loop.
struct Row {
  bool counted = false, hasS = false, vanished = false, unseen = false;
  double pi = 0, eps1 = 0, sig1 = 0, E1 = 0, del1 = 0, pred1 = 0, dev1 = 0, res = 0, wD = 0, epsMax = 0;
  Signed hs, ts;
};
}  // namespace

Accounting::Accounting(AccountingConfig cfg, const ngram::CorpusView& real) : c_(std::move(cfg)) {
  // width 0: the order-1 model's single, empty context (contexts is then empty and K = 1).
  if (c_.width == 0 ? !c_.contexts.empty() : c_.contexts.size() % c_.width != 0) fail("E_BAD_ARGUMENT", "theory: contexts must be rows of `width` ids");
  K_ = c_.width == 0 ? 1 : c_.contexts.size() / c_.width;
  if (c_.weights.size() != K_) fail("E_BAD_ARGUMENT", "theory: contexts and weights disagree on K");
  if (c_.generations < 1) fail("E_BAD_ARGUMENT", "theory: generations must be ≥ 1");
  const size_t V = c_.vocabSize;
  realCounts_ = contextCounts(real, c_.contexts.data(), K_, c_.width, c_.vocabSize, c_.bos, c_.eos);
  valid_.resize(K_);
  unseen_.resize(K_);
  // A probe D never shows (one taken from H) has no p0: it is never in the accounting ("unseen").
  for (size_t x = 0; x < K_; ++x) {
    valid_[x] = realCounts_.totals[x] > 0 ? 1 : 0;
    unseen_[x] = valid_[x] ? 0 : 1;
  }
  A_.assign(K_ * V, 0.0);
  if (c_.equalShares) Q_.assign(K_ * V, 0.0);
  Acoef_.assign(K_ * 3 * static_cast<size_t>(c_.generations), 0.0);
  head_.resize(K_);
  tail_.resize(K_);
  for (size_t x = 0; x < K_; ++x) {
    std::vector<std::pair<uint32_t, double>> ids;
    for (uint32_t i = realCounts_.rowPtr[x]; i < realCounts_.rowPtr[x + 1]; ++i) ids.emplace_back(realCounts_.cols[i], realCounts_.vals[i]);
    std::sort(ids.begin(), ids.end(), [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
    const size_t m = (ids.size() + 9) / 10;
    for (size_t i = 0; i < m; ++i) head_[x].push_back(ids[i].first);
    for (size_t i = ids.size() - m; i < ids.size(); ++i) tail_[x].push_back(ids[i].first);
  }
}

size_t Accounting::bytes() const { return (A_.capacity() + Q_.capacity() + Acoef_.capacity()) * sizeof(double); }

StepResult Accounting::step(const StepInput& in, int threads) {
  const size_t K = K_, V = c_.vocabSize, G = static_cast<size_t>(c_.generations);
  const int n = in.n;
  if (n < 0 || static_cast<size_t>(n) >= G) fail("E_BAD_ARGUMENT", "theory: generation out of range");
  if (static_cast<size_t>(n) != sampleCounts_.size()) fail("E_BAD_ARGUMENT", "theory: generations must be stepped in order");
  if (!in.model) fail("E_NOT_FITTED", "theory: the model is not fitted");
  if (in.model->options().vocabSize != V) fail("E_BAD_ARGUMENT", "theory: the model's vocabulary differs from the probes'");
  for (int k : in.synthetic)
    if (k < 0 || k >= n) fail("E_BAD_ARGUMENT", "theory: a synthetic source must be an earlier generation");
  SparseCounts S = contextCounts(in.sample, c_.contexts.data(), K, c_.width, c_.vocabSize, c_.bos, c_.eos);
  SparseCounts T;
  if (!in.trainIsPool) T = contextCounts(in.train, c_.contexts.data(), K, c_.width, c_.vocabSize, c_.bos, c_.eos);
  if (in.realDraw && !in.trainIsPool) fail("E_BAD_ARGUMENT", "theory: a real draw makes T_n its own pool");
  SparseCounts RD;
  if (in.realDraw) RD = contextCounts(in.realPart, c_.contexts.data(), K, c_.width, c_.vocabSize, c_.bos, c_.eos);
  const SparseCounts& realSrc = in.realDraw ? RD : realCounts_;
  std::vector<const SparseCounts*> sources;
  if (in.real) sources.push_back(&realSrc);
  for (int k : in.synthetic) sources.push_back(&sampleCounts_[k]);
  const bool hasR = c_.equalShares;
  const double r = c_.rate;

  std::vector<Row> rows(K);
  std::vector<double> coefRows(K * 3 * G, 0.0);  // π·coef per probe, summed in probe order below
  const size_t chunk = 16;
  parallelFor(threads, (K + chunk - 1) / chunk, [&](size_t ck, int) {
    std::vector<double> ph(V), p0r(V, 0.0), tr(V, 0.0), cr(V, 0.0), sr(V, 0.0), rr(V, 0.0), sg(V), coefTmp(3 * G);
    for (size_t x = ck * chunk; x < std::min(K, (ck + 1) * chunk); ++x) {
      Row& R = rows[x];
      if (unseen_[x]) {
        R.unseen = true;
        continue;
      }
      double cC = 0;
      for (const SparseCounts* src : sources) cC += src->totals[x];
      const double cT = in.trainIsPool ? cC : T.totals[x];
      if (valid_[x] && (cT == 0 || cC == 0)) valid_[x] = 0;
      if (!valid_[x]) {
        R.vanished = true;
        continue;
      }
      const double cS = S.totals[x];
      const double cD = realCounts_.totals[x];
      const double cR = in.realDraw ? RD.totals[x] : 0;
      const double pi = c_.weights[x];
      in.model->conditional<double>(c_.contexts.data() + x * c_.width, 1, c_.width, ph.data(), 1);
      double* A = A_.data() + x * V;
      double* Q = hasR ? Q_.data() + x * V : nullptr;
      scatter(realCounts_, x, p0r.data());
      for (const SparseCounts* src : sources) scatter(*src, x, cr.data());
      if (!in.trainIsPool) scatter(T, x, tr.data());
      if (cS > 0) scatter(S, x, sr.data());
      if (in.realDraw) scatter(RD, x, rr.data());
      const double* tc = in.trainIsPool ? cr.data() : tr.data();
      const double invD = 1 / cD, invT = 1 / cT, invS = cS > 0 ? 1 / cS : 0;
      const double invC = 1 / cC;
      double eps1 = 0, sig1 = 0, E1 = 0, del1 = 0, pred1 = 0, dev1 = 0, res = 0, epsMax = 0;
      const double r1 = hasR ? 1 / (1 + (n + 1) * r) : 0;
      for (size_t v = 0; v < V; ++v) {
        const double p = ph[v];
        const double t = tc[v] * invT;
        const double eps = p - t;
        const double sig = in.realDraw ? (rr[v] - cR * (p0r[v] * invD)) * invC : t - cr[v] * invC;
        sg[v] = sig;
        const double del = cS > 0 ? sr[v] * invS - p : 0;
        const double E = p - p0r[v] * invD;
        const double Ecf = A[v] * invC + sig + eps;
        const double d = std::fabs(E - Ecf);
        if (d > res) res = d;
        if (std::fabs(eps) > epsMax) epsMax = std::fabs(eps);
        eps1 += std::fabs(eps);
        sig1 += std::fabs(sig);
        E1 += std::fabs(E);
        del1 += std::fabs(del);
        const double B = cS * (Ecf + del);
        A[v] = c_.accumulating ? A[v] + B : B;
        if (Q) {
          const double Eeq = eps + sig + r * Q[v];
          pred1 += std::fabs(Eeq);
          dev1 += std::fabs(Eeq - E);
          Q[v] = Q[v] + (eps + del + sig) * r1;
        }
      }
      R.hs = signedMeans(head_[x], ph.data(), p0r.data(), tc, sr.data(), sg.data(), invD, invT, invS, cS > 0);
      R.ts = signedMeans(tail_[x], ph.data(), p0r.data(), tc, sr.data(), sg.data(), invD, invT, invS, cS > 0);
      clearRow(realCounts_, x, p0r.data());
      for (const SparseCounts* src : sources) clearRow(*src, x, cr.data());
      if (!in.trainIsPool) clearRow(T, x, tr.data());
      if (cS > 0) clearRow(S, x, sr.data());
      if (in.realDraw) clearRow(RD, x, rr.data());
      double* Ac = Acoef_.data() + x * 3 * G;
      for (size_t j = 0; j < 3 * G; ++j) coefTmp[j] = Ac[j] * invC;
      coefTmp[n] = coefTmp[n] + 1;
      coefTmp[2 * G + n] = coefTmp[2 * G + n] + 1;
      for (size_t j = 0; j < 3 * G; ++j) {
        coefRows[x * 3 * G + j] = pi * coefTmp[j];
        const double b = cS * (coefTmp[j] + (j == G + static_cast<size_t>(n) ? 1 : 0));
        Ac[j] = c_.accumulating ? Ac[j] + b : b;
      }
      R.counted = true;
      R.hasS = cS > 0;
      R.pi = pi;
      R.eps1 = eps1;
      R.sig1 = sig1;
      R.E1 = E1;
      R.del1 = del1;
      R.pred1 = pred1;
      R.dev1 = dev1;
      R.res = res;
      R.epsMax = epsMax;
      R.wD = in.real ? (in.realDraw ? cR : cD) / cC : 0;
    }
  });
  sampleCounts_.push_back(std::move(S));

  // Reductions in probe order (as the TS reference does).
  double wSum = 0, epsSum = 0, sigSum = 0, ESum = 0, delSum = 0, delW = 0, wD = 0, residual = 0, predSum = 0, devSum = 0;
  Signed head, tail;
  std::vector<double> coefMean(3 * G, 0.0);
  StepResult out;
  out.probes = K;
  for (size_t x = 0; x < K; ++x) {
    const Row& R = rows[x];
    if (R.unseen) {
      out.unseen++;
      continue;
    }
    if (R.vanished) {
      out.vanished++;
      continue;
    }
    for (size_t j = 0; j < 3 * G; ++j) coefMean[j] = coefMean[j] + coefRows[x * 3 * G + j];
    const double pi = R.pi;
    wSum += pi;
    epsSum += pi * R.eps1;
    sigSum += pi * R.sig1;
    ESum += pi * R.E1;
    if (R.hasS) {
      delSum += pi * R.del1;
      delW += pi;
    }
    wD += pi * R.wD;
    if (R.res > residual) residual = R.res;
    if (R.epsMax > out.epsMax) out.epsMax = R.epsMax;
    predSum += pi * R.pred1;
    devSum += pi * R.dev1;
    head.E += pi * R.hs.E;
    head.eps += pi * R.hs.eps;
    tail.E += pi * R.ts.E;
    tail.eps += pi * R.ts.eps;
    head.sigma += pi * R.hs.sigma;
    tail.sigma += pi * R.ts.sigma;
    if (R.hasS) {
      head.delta += pi * R.hs.delta;
      tail.delta += pi * R.ts.delta;
    }
  }
  auto m = [](double a, double w) { return w > 0 ? a / w : 0.0; };
  out.valid = K - out.vanished - out.unseen;
  out.weight = wSum;
  out.deltaWeight = delW;
  out.epsSum = epsSum;
  out.deltaSum = delSum;
  out.sigmaSum = sigSum;
  out.ESum = ESum;
  out.realShareSum = wD;
  out.headSigma = m(head.sigma, wSum);
  out.tailSigma = m(tail.sigma, wSum);
  out.epsL1 = m(epsSum, wSum);
  out.deltaL1 = m(delSum, delW);
  out.sigmaL1 = m(sigSum, wSum);
  out.EL1 = m(ESum, wSum);
  out.realShare = m(wD, wSum);
  out.headE = m(head.E, wSum);
  out.headEps = m(head.eps, wSum);
  out.headDelta = m(head.delta, delW);
  out.tailE = m(tail.E, wSum);
  out.tailEps = m(tail.eps, wSum);
  out.tailDelta = m(tail.delta, delW);
  out.residual = residual;
  out.predictedL1 = m(predSum, wSum);
  out.deviationL1 = m(devSum, wSum);
  for (int j = 0; j <= n; ++j) out.coefEps.push_back(m(coefMean[j], wSum));
  for (int j = 0; j < n; ++j) out.coefDelta.push_back(m(coefMean[G + j], wSum));
  for (int j = 0; j <= n; ++j) out.coefSigma.push_back(m(coefMean[2 * G + j], wSum));
  return out;
}

}  // namespace cl::theory
