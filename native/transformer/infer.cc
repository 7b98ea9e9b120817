// Inference: scoring (evaluate), next-token distributions (conditional) and KV-cache sampling.
//
// Batching never changes a result: rows of a batch are independent (matmul rows, per-row
// layernorm, per-(row, head) attention), causal attention makes right-padding invisible to real
// positions, and each sequence draws from its own random stream.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "common/errors.hh"
#include "common/rng.hh"
#include "kernels/cpu/kernels.hh"
#include "kernels/cpu/pool.hh"
#include "transformer/model.hh"

namespace cl::transformer {

namespace k = cl::kernels;

namespace {
constexpr size_t kBatchTokens = 8192;  // padded tokens per forward batch (evaluate, conditional)
constexpr size_t kMaxRows = 64;

struct Window {
  size_t seq;    // sequence index
  size_t begin;  // first input position in the sequence's stream BOS t1..tm
  size_t len;    // inputs in this window
  size_t score;  // positions [begin + score, begin + len) are scored here
};
}  // namespace

EvalResult Model::evaluate(const CorpusView& corpus, uint32_t stride, double* logProbs) {
  validateCorpus(corpus);
  const size_t nseq = corpus.sequences();
  const size_t ctx = P_;
  if (stride == 0 || stride > ctx) stride = static_cast<uint32_t>(std::max<size_t>(1, ctx / 2));
  // Windows over each sequence's inputs BOS t1..tm (targets t1..tm EOS): L = m + 1 positions.
  std::vector<Window> windows;
  for (size_t s = 0; s < nseq; ++s) {
    const size_t L = corpus.offsets[s + 1] - corpus.offsets[s] + 1;
    if (L <= ctx) {
      windows.push_back({s, 0, L, 0});
      continue;
    }
    size_t prevEnd = 0;
    for (size_t begin = 0;; begin += stride) {
      const size_t end = std::min(begin + ctx, L);
      windows.push_back({s, begin, end - begin, prevEnd - begin});
      prevEnd = end;
      if (end == L) break;
    }
  }
  const size_t npos = corpus.ntokens + nseq;
  std::vector<double> lp(npos, 0.0);
  // Longest first, so a batch pads little.
  std::vector<size_t> idx(windows.size());
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return windows[a].len > windows[b].len; });
  std::vector<uint32_t> inputs, targets;
  std::vector<float> losses;
  for (size_t i0 = 0; i0 < idx.size();) {
    const size_t T = windows[idx[i0]].len;
    const size_t B = std::max<size_t>(1, std::min({kMaxRows, kBatchTokens / T, idx.size() - i0}));
    inputs.assign(B * T, cfg_.eos);
    targets.assign(B * T, k::kIgnore);
    for (size_t b = 0; b < B; ++b) {
      const Window& w = windows[idx[i0 + b]];
      const uint32_t* tok = corpus.tokens + corpus.offsets[w.seq];
      const size_t m = corpus.offsets[w.seq + 1] - corpus.offsets[w.seq];
      for (size_t t = 0; t < w.len; ++t) {
        const size_t p = w.begin + t;  // input position: 0 = BOS, p = token p-1
        inputs[b * T + t] = p == 0 ? cfg_.bos : tok[p - 1];
        if (t >= w.score) targets[b * T + t] = p < m ? tok[p] : cfg_.eos;
      }
    }
    losses.resize(B * T);
    forwardLoss(inputs.data(), targets.data(), static_cast<int>(B), static_cast<int>(T), losses.data());
    for (size_t b = 0; b < B; ++b) {
      const Window& w = windows[idx[i0 + b]];
      const size_t base = corpus.offsets[w.seq] + w.seq;
      for (size_t t = w.score; t < w.len; ++t) lp[base + w.begin + t] = -static_cast<double>(losses[b * T + t]);
    }
    i0 += B;
  }
  EvalResult r;
  r.positions = npos;
  for (size_t i = 0; i < npos; ++i) r.logLikelihood += lp[i];
  if (logProbs) std::memcpy(logProbs, lp.data(), sizeof(double) * npos);
  return r;
}

void Model::conditional(const uint32_t* flat, const uint32_t* starts, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) {
    if (starts[i + 1] <= starts[i]) fail("E_BAD_ARGUMENT", "prefix " + std::to_string(i) + " is empty: a prefix needs at least one token");
    for (uint32_t j = starts[i]; j < starts[i + 1]; ++j)
      if (flat[j] >= V_) fail("E_TOKEN_RANGE", "token " + std::to_string(flat[j]) + " in prefix " + std::to_string(i) + " is outside the vocabulary");
  }
  auto len = [&](size_t i) { return std::min<size_t>(P_, starts[i + 1] - starts[i]); };
  std::vector<size_t> idx(n);
  std::iota(idx.begin(), idx.end(), size_t{0});
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return len(a) > len(b); });
  std::vector<uint32_t> inputs;
  std::vector<float> rows;
  for (size_t i0 = 0; i0 < n;) {
    const size_t T = len(idx[i0]);
    const size_t B = std::max<size_t>(1, std::min({kMaxRows, kBatchTokens / T, n - i0}));
    inputs.assign(B * T, cfg_.eos);
    for (size_t b = 0; b < B; ++b) {
      const size_t i = idx[i0 + b], l = len(i);
      const uint32_t* src = flat + starts[i + 1] - l;  // the last l tokens
      std::copy(src, src + l, inputs.begin() + b * T);
    }
    bindActs(static_cast<int>(B), static_cast<int>(T), false);
    forward(inputs.data(), static_cast<int>(B), static_cast<int>(T));
    rows.resize(B * C_);
    for (size_t b = 0; b < B; ++b) std::memcpy(rows.data() + b * C_, acts_.lnf + (b * T + len(idx[i0 + b]) - 1) * C_, sizeof(float) * C_);
    // Rows go straight to their place in out when the batch is contiguous there; else via scratch.
    std::vector<float> probs(B * V_);
    k::matmulForward(threads_, probs.data(), rows.data(), p_.wte, nullptr, static_cast<int>(B), static_cast<int>(C_), static_cast<int>(V_));
    k::softmaxRows(threads_, probs.data(), static_cast<int>(B), static_cast<int>(V_));
    for (size_t b = 0; b < B; ++b) std::memcpy(out + idx[i0 + b] * V_, probs.data() + b * V_, sizeof(float) * V_);
    i0 += B;
  }
}

// --- sampling ---------------------------------------------------------------------------------------

struct Model::DecodeState {
  int slots = 0, maxLen = 0;
  std::vector<float> kv;  // (slots, L, 2, C, maxLen): keys and values transposed, per head contiguous along positions
  std::vector<float> x, ln, qkv, att, fch, mean, rstd;
  float* k(int slot, size_t l, size_t L, size_t C) { return kv.data() + ((static_cast<size_t>(slot) * L + l) * 2) * maxLen * C; }
  float* v(int slot, size_t l, size_t L, size_t C) { return k(slot, l, L, C) + static_cast<size_t>(maxLen) * C; }
};

// logits (n, V) for n rows: row r feeds tokens[r] at position pos[r] of cache slot slots[r].
void Model::decodeStep(DecodeState& st, const uint32_t* tokens, const int* slots, const int* pos, int n, float* logits) {
  const int th = threads_;
  const int C = static_cast<int>(C_), I = static_cast<int>(I_), H = static_cast<int>(H_);
  float* x = st.x.data();
  for (int r = 0; r < n; ++r) {
    const float* te = p_.wte + static_cast<size_t>(tokens[r]) * C_;
    const float* pe = p_.wpe + static_cast<size_t>(pos[r]) * C_;
    for (size_t c = 0; c < C_; ++c) x[r * C_ + c] = te[c] + pe[c];
  }
  std::vector<const float*> kp(n), vp(n);
  for (size_t l = 0; l < L_; ++l) {
    const LayerParams& p = p_.layer[l];
    k::layernormForward(th, st.ln.data(), st.mean.data(), st.rstd.data(), x, p.ln1w, p.ln1b, n, C);
    k::matmulForward(th, st.qkv.data(), st.ln.data(), p.qkvw, nullptr, n, C, 3 * C);
    for (int r = 0; r < n; ++r) {
      float* kc = st.k(slots[r], l, L_, C_);
      float* vc = st.v(slots[r], l, L_, C_);
      const float* kn = st.qkv.data() + r * 3 * C_ + C_;
      const float* vn = st.qkv.data() + r * 3 * C_ + 2 * C_;
      for (size_t c = 0; c < C_; ++c) {
        kc[c * st.maxLen + pos[r]] = kn[c];
        vc[c * st.maxLen + pos[r]] = vn[c];
      }
      kp[r] = kc;
      vp[r] = vc;
    }
    k::attentionDecode(th, st.att.data(), st.qkv.data(), kp.data(), vp.data(), static_cast<size_t>(st.maxLen), pos, n, C, H, cfg_.local[l] ? static_cast<int>(cfg_.window) : 0);
    // x += out_proj(att): init with x + bias, accumulate the product (in place over a copy).
    std::memcpy(st.ln.data(), x, sizeof(float) * n * C_);
    for (int r = 0; r < n; ++r)
      for (size_t c = 0; c < C_; ++c) x[r * C_ + c] = st.ln[r * C_ + c] + p.attprojb[c];
    k::gemm(th, n, C, C, st.att.data(), C, 1, p.attprojw, 1, C, x, nullptr, true);
    k::layernormForward(th, st.ln.data(), st.mean.data(), st.rstd.data(), x, p.ln2w, p.ln2b, n, C);
    k::matmulForward(th, st.fch.data(), st.ln.data(), p.fcw, p.fcb, n, C, I);
    k::geluForward(th, st.fch.data(), st.fch.data(), static_cast<size_t>(n) * I_);
    for (int r = 0; r < n; ++r)
      for (size_t c = 0; c < C_; ++c) x[r * C_ + c] += p.projb[c];
    k::gemm(th, n, C, I, st.fch.data(), I, 1, p.projw, 1, I, x, nullptr, true);
  }
  k::layernormForward(th, st.ln.data(), st.mean.data(), st.rstd.data(), x, p_.lnfw, p_.lnfb, n, C);
  k::matmulForward(th, logits, st.ln.data(), p_.wte, nullptr, n, C, static_cast<int>(V_));
}

namespace {

// Draws one id from softmax(z / temperature) restricted by top-k then top-p (Hugging Face's
// order; ties by id), with one uniform r. z (V) is overwritten.
uint32_t drawToken(float* z, size_t V, double r, const SampleRequest& req, std::vector<uint32_t>& ids) {
  const float m = k::maxRow(z, V);
  const bool plain = req.topK == 0 && !(req.topP < 1.0);
  // Unnormalised weights q(v) = exp((z_v - max) / T): float, vectorised; sums in double.
  thread_local std::vector<float> q;
  q.resize(V);
  k::expShiftRow(q.data(), z, V, m, static_cast<float>(1.0 / req.temperature));
  double total = 0;
  for (size_t v = 0; v < V; ++v) total += q[v];
  if (plain) {
    const double target = r * total;
    double cum = 0;
    size_t last = 0;
    for (size_t v = 0; v < V; ++v) {
      if (q[v] <= 0) continue;
      cum += q[v];
      last = v;
      if (cum > target) return static_cast<uint32_t>(v);
    }
    return static_cast<uint32_t>(last);
  }
  ids.resize(V);
  std::iota(ids.begin(), ids.end(), 0u);
  auto better = [&](uint32_t a, uint32_t b) { return q[a] > q[b] || (q[a] == q[b] && a < b); };
  size_t keep = V;
  if (req.topK > 0 && req.topK < V) {
    keep = req.topK;
    std::nth_element(ids.begin(), ids.begin() + keep - 1, ids.end(), better);
    std::sort(ids.begin(), ids.begin() + keep, better);
  } else if (req.topP < 1.0) {
    // Only the head of the descending order is needed: sort the best 64, 256, … ids (the same
    // elements in the same order as a full sort: `better` is a strict total order) until their
    // mass reaches topP of the total.
    const double need = req.topP * total;
    for (size_t head = std::min<size_t>(V, 64);; head = std::min(V, head * 4)) {
      std::partial_sort(ids.begin(), ids.begin() + head, ids.end(), better);
      double cum = 0;
      for (size_t i = 0; i < head; ++i) cum += q[ids[i]];
      if (cum >= need || head == V) {
        keep = head;
        break;
      }
    }
    // The smallest prefix whose mass reaches topP of the total mass, then a draw within it.
    double cum = 0;
    size_t i = 0;
    while (i < keep) {
      cum += q[ids[i++]];
      if (cum >= need) break;
    }
    keep = std::max<size_t>(1, i);
    const double target = r * cum;
    double c2 = 0;
    for (size_t j = 0; j < keep; ++j) {
      c2 += q[ids[j]];
      if (c2 > target) return ids[j];
    }
    return ids[keep - 1];
  }
  double kept = 0;
  for (size_t i = 0; i < keep; ++i) kept += q[ids[i]];
  if (req.topP < 1.0) {
    // The smallest prefix (by probability, descending) whose mass reaches topP of the kept mass.
    const double need = req.topP * kept;
    double cum = 0;
    size_t i = 0;
    while (i < keep) {
      cum += q[ids[i++]];
      if (cum >= need) break;
    }
    keep = std::max<size_t>(1, i);
    kept = cum;
  }
  const double target = r * kept;
  double cum = 0;
  for (size_t i = 0; i < keep; ++i) {
    cum += q[ids[i]];
    if (cum > target) return ids[i];
  }
  return ids[keep - 1];
}

}  // namespace

SampleOutput Model::sample(const SampleRequest& req) {
  if (req.maxLength < 1 || req.maxLength > P_)
    fail("E_BAD_ARGUMENT", "maxLength must be in [1, contextLength = " + std::to_string(P_) + "], got " + std::to_string(req.maxLength));
  if (!(req.temperature > 0) || !std::isfinite(req.temperature)) fail("E_BAD_ARGUMENT", "temperature must be a finite number > 0");
  if (!(req.topP > 0 && req.topP <= 1)) fail("E_BAD_ARGUMENT", "topP must be in (0, 1]");
  if ((req.sequences > 0) == (req.tokens > 0)) fail("E_BAD_ARGUMENT", "sample needs exactly one of sequences or tokens");
  const int maxLen = static_cast<int>(req.maxLength);
  // Slots: up to 64 sequences at once, fewer if their KV cache would pass 512 MiB.
  const size_t perSlot = L_ * 2 * static_cast<size_t>(maxLen) * C_;
  size_t slots = std::min<size_t>(64, std::max<size_t>(1, (size_t{128} << 20) / perSlot));
  if (req.sequences > 0) slots = std::min<size_t>(slots, req.sequences);
  DecodeState st;
  st.slots = static_cast<int>(slots);
  st.maxLen = maxLen;
  st.kv.assign(slots * perSlot, 0.0f);
  st.x.resize(slots * C_);
  st.ln.resize(slots * C_);
  st.qkv.resize(slots * 3 * C_);
  st.att.resize(slots * C_);
  st.fch.resize(slots * I_);
  st.mean.resize(slots);
  st.rstd.resize(slots);
  std::vector<float> logits(slots * V_);

  struct Seq {
    uint64_t index = 0;
    SplitMix64 rng{0};
    std::vector<uint32_t> toks;
    bool active = false;
  };
  std::vector<Seq> slot(slots);
  std::vector<std::vector<uint32_t>> done;  // by sequence index
  std::vector<uint8_t> truncated, finished;
  uint64_t nextIndex = 0;
  // tokens mode: the first sequence count whose positions reach req.tokens, once known.
  uint64_t limit = req.sequences > 0 ? req.sequences : UINT64_MAX;
  uint64_t prefixDone = 0, prefixPositions = 0;
  auto start = [&](Seq& s) {
    s.index = nextIndex++;
    s.rng = SplitMix64(streamKey(req.seed, kSampleSequence, s.index));
    s.toks.clear();
    s.active = true;
  };
  for (auto& s : slot)
    if (nextIndex < limit) start(s);
  std::vector<uint32_t> inTok(slots);
  std::vector<int> inSlot(slots), inPos(slots), rowOf(slots);
  std::vector<double> u(slots);
  std::vector<uint32_t> drawn(slots);
  for (;;) {
    int n = 0;
    for (size_t s = 0; s < slots; ++s) {
      if (!slot[s].active) continue;
      inTok[n] = slot[s].toks.empty() ? cfg_.bos : slot[s].toks.back();
      inSlot[n] = static_cast<int>(s);
      inPos[n] = static_cast<int>(slot[s].toks.size());
      rowOf[n] = static_cast<int>(s);
      u[n] = slot[s].rng.uniform();
      ++n;
    }
    if (n == 0) break;
    decodeStep(st, inTok.data(), inSlot.data(), inPos.data(), n, logits.data());
    k::parallelRun(threads_, static_cast<size_t>(n), [&](size_t r) {
      thread_local std::vector<uint32_t> ids;
      drawn[r] = drawToken(logits.data() + r * V_, V_, u[r], req, ids);
    });
    for (int r = 0; r < n; ++r) {
      Seq& s = slot[rowOf[r]];
      const bool eos = drawn[r] == cfg_.eos;
      if (!eos) s.toks.push_back(drawn[r]);
      if (!eos && s.toks.size() < static_cast<size_t>(maxLen)) continue;
      // finished
      if (done.size() <= s.index) {
        done.resize(s.index + 1);
        truncated.resize(s.index + 1, 0);
        finished.resize(s.index + 1, 0);
      }
      done[s.index] = std::move(s.toks);
      truncated[s.index] = !eos;
      finished[s.index] = 1;
      s.toks = {};
      s.active = false;
      while (prefixDone < finished.size() && finished[prefixDone]) {
        prefixPositions += done[prefixDone].size() + 1;
        ++prefixDone;
        if (req.tokens > 0 && prefixPositions >= req.tokens && limit == UINT64_MAX) limit = prefixDone;
      }
      if (nextIndex < limit) start(s);
    }
    // Sequences past the limit are not needed any more.
    for (auto& s : slot)
      if (s.active && s.index >= limit) s.active = false;
  }
  SampleOutput out;
  const uint64_t count = std::min<uint64_t>(limit, done.size());
  out.offsets.reserve(count + 1);
  out.offsets.push_back(0);
  for (uint64_t i = 0; i < count; ++i) {
    out.tokens.insert(out.tokens.end(), done[i].begin(), done[i].end());
    out.offsets.push_back(static_cast<uint32_t>(out.tokens.size()));
    out.truncated += truncated[i];
  }
  return out;
}

}  // namespace cl::transformer
