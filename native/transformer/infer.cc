// Inference: scoring (evaluate), next-token distributions (conditional) and KV-cache sampling.
//
// Batching never changes a result: rows of a batch are independent (matmul rows, per-row
// layernorm, per-(row, head) attention), causal attention makes right-padding invisible to real
// positions, and each sequence draws from its own random stream.
#include <algorithm>
#include <limits>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numeric>

#include "common/errors.hh"
#include "common/rng.hh"
#include "kernels/cpu/kernels.hh"
#include "common/pool.hh"
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
  const LmHeadScope lmHead{this};
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
//
// Sampling runs in lanes, one per thread: each lane owns a few cache slots and decodes its
// sequences step after step with single-threaded kernels, taking the next sequence index from a
// shared counter whenever one of its sequences ends. One dispatch per sample() call instead of
// dozens per step (the per-step matmuls of decoding are far too small to split across threads),
// and a lane's KV cache stays small enough to live in cache between steps: decoding is otherwise
// bound by reading the cache from memory. The weights are packed once per call and shared.

struct Model::DecodeWeights {
  std::vector<k::PackedB> qkv, attproj, fc, proj;  // per layer
  k::PackedB lmHead;                               // wteᵀ
};

struct Model::DecodeState {
  int slots = 0, maxLen = 0;
  std::vector<float> kv;  // (slots, L, 2, C, maxLen): keys and values transposed, per head contiguous along positions
  std::vector<float> x, ln, qkv, att, fch, mean, rstd;
  std::vector<const float*> kp, vp;
  float* k(int slot, size_t l, size_t L, size_t C) { return kv.data() + ((static_cast<size_t>(slot) * L + l) * 2) * maxLen * C; }
  float* v(int slot, size_t l, size_t L, size_t C) { return k(slot, l, L, C) + static_cast<size_t>(maxLen) * C; }
};

// logits (n, V) for n rows: row r feeds tokens[r] at position pos[r] of cache slot slots[r].
// Single-threaded (a lane's step).
void Model::decodeStep(DecodeState& st, const DecodeWeights& w, const uint32_t* tokens, const int* slots, const int* pos, int n, float* logits) {
  constexpr int th = 1;
  const int C = static_cast<int>(C_), H = static_cast<int>(H_);
  float* x = st.x.data();
  for (int r = 0; r < n; ++r) {
    const float* te = p_.wte + static_cast<size_t>(tokens[r]) * C_;
    const float* pe = p_.wpe + static_cast<size_t>(pos[r]) * C_;
    for (size_t c = 0; c < C_; ++c) x[r * C_ + c] = te[c] + pe[c];
  }
  st.kp.resize(n);
  st.vp.resize(n);
  for (size_t l = 0; l < L_; ++l) {
    const LayerParams& p = p_.layer[l];
    k::layernormForward(th, st.ln.data(), st.mean.data(), st.rstd.data(), x, p.ln1w, p.ln1b, n, C);
    k::matmulForwardPacked(th, st.qkv.data(), st.ln.data(), w.qkv[l], nullptr, n);
    for (int r = 0; r < n; ++r) {
      float* kc = st.k(slots[r], l, L_, C_);
      float* vc = st.v(slots[r], l, L_, C_);
      const float* kn = st.qkv.data() + r * 3 * C_ + C_;
      const float* vn = st.qkv.data() + r * 3 * C_ + 2 * C_;
      for (size_t c = 0; c < C_; ++c) {
        kc[c * st.maxLen + pos[r]] = kn[c];
        vc[c * st.maxLen + pos[r]] = vn[c];
      }
      st.kp[r] = kc;
      st.vp[r] = vc;
    }
    k::attentionDecode(th, st.att.data(), st.qkv.data(), st.kp.data(), st.vp.data(), static_cast<size_t>(st.maxLen), pos, n, C, H,
                       cfg_.local[l] ? static_cast<int>(cfg_.window) : 0);
    // x += out_proj(att): init with x + bias, accumulate the product (in place over a copy).
    std::memcpy(st.ln.data(), x, sizeof(float) * n * C_);
    for (int r = 0; r < n; ++r)
      for (size_t c = 0; c < C_; ++c) x[r * C_ + c] = st.ln[r * C_ + c] + p.attprojb[c];
    k::gemmPacked(th, n, st.att.data(), C_, 1, w.attproj[l], x, nullptr, true);
    k::layernormForward(th, st.ln.data(), st.mean.data(), st.rstd.data(), x, p.ln2w, p.ln2b, n, C);
    k::matmulForwardPacked(th, st.fch.data(), st.ln.data(), w.fc[l], p.fcb, n);
    k::geluForward(th, st.fch.data(), st.fch.data(), static_cast<size_t>(n) * I_);
    for (int r = 0; r < n; ++r)
      for (size_t c = 0; c < C_; ++c) x[r * C_ + c] += p.projb[c];
    k::gemmPacked(th, n, st.fch.data(), I_, 1, w.proj[l], x, nullptr, true);
  }
  k::layernormForward(th, st.ln.data(), st.mean.data(), st.rstd.data(), x, p_.lnfw, p_.lnfb, n, C);
  k::matmulForwardPacked(th, logits, st.ln.data(), w.lmHead, nullptr, n);
}

namespace {

// The smallest prefix of ids[0..keep) (best first) whose weight q reaches `need` (at least one
// id); cum gets its weight.
size_t nucleus(const float* q, const uint32_t* ids, size_t keep, double need, double& cum) {
  cum = 0;
  size_t i = 0;
  while (i < keep) {
    cum += q[ids[i++]];
    if (cum >= need) break;
  }
  return std::max<size_t>(1, i);
}

// Draws one id from softmax(z / temperature) restricted by top-k then top-p (Hugging Face's
// order; ties by id), with one uniform r. z (V) is overwritten.
uint32_t drawToken(float* z, size_t V, double r, const SampleRequest& req, std::vector<uint32_t>& ids) {
  const float m = k::maxRow(z, V);
  const bool plain = req.topK == 0 && !(req.topP < 1.0);
  // Unnormalised weights q(v) = exp((z_v - max) / T): float, vectorised; sums in double.
  thread_local std::vector<float> q;
  q.resize(V);
  const double inv = 1.0 / req.temperature;
  if (!(inv <= static_cast<double>(std::numeric_limits<float>::max()))) {
    // T so small that 1/T overflows float: (z - max) · inf would be NaN at the max. This is the
    // T → 0 limit itself: all the mass on the argmax (shared equally by exact ties).
    for (size_t v = 0; v < V; ++v) q[v] = z[v] == m ? 1.0f : 0.0f;
  } else {
    k::expShiftRow(q.data(), z, V, m, static_cast<float>(inv));
  }
  // Sums of blocks of 64 weights (four interleaved double chains each): the total, and a walk
  // that skips whole blocks.
  constexpr size_t kBlock = 64;
  thread_local std::vector<double> blocks;
  const size_t nb = (V + kBlock - 1) / kBlock;
  blocks.resize(nb);
  double total = 0;
  for (size_t b = 0; b < nb; ++b) {
    const size_t v0 = b * kBlock, v1 = std::min(V, v0 + kBlock);
    double a[4] = {0, 0, 0, 0};
    size_t v = v0;
    for (; v + 4 <= v1; v += 4)
      for (int l = 0; l < 4; ++l) a[l] += q[v + l];
    for (int l = 0; v < v1; ++v, ++l) a[l] += q[v];
    blocks[b] = (a[0] + a[1]) + (a[2] + a[3]);
    total += blocks[b];
  }
  if (plain) {
    const double target = r * total;
    double cum = 0;
    size_t b = 0;
    while (b + 1 < nb && !(cum + blocks[b] > target)) cum += blocks[b++];
    // Within block b (a weight's own rounding may leave cum just short: then its last positive id).
    size_t last = V;
    for (size_t v = b * kBlock, v1 = std::min(V, v + kBlock); v < v1; ++v) {
      if (q[v] <= 0) continue;
      cum += q[v];
      last = v;
      if (cum > target) return static_cast<uint32_t>(v);
    }
    if (last < V) return static_cast<uint32_t>(last);
    for (size_t v = V; v-- > 0;)  // block b all zero (cannot happen when total > 0): the last positive id
      if (q[v] > 0) return static_cast<uint32_t>(v);
    return 0;
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
    keep = nucleus(q.data(), ids.data(), keep, need, cum);
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
    double cum = 0;
    keep = nucleus(q.data(), ids.data(), keep, req.topP * kept, cum);
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

// The sequences of one sample() call, shared by its lanes: which index to start next, the finished
// sequences, and (tokens mode) how many sequences the output keeps — the first count, in index
// order, whose positions reach the requested tokens. Each sequence's tokens depend only on its
// index, so the lanes' timing changes the work done (a lane may start a sequence past the final
// count, and drop it) but never the output.
class SequenceBook {
 public:
  SequenceBook(uint64_t sequences, uint64_t tokens) : tokens_(tokens), limit_(sequences > 0 ? sequences : UINT64_MAX) {}

  // The next index to draw, or false when no more are needed.
  bool claim(uint64_t& index) {
    std::lock_guard<std::mutex> lk(m_);
    if (next_ >= limit_) return false;
    index = next_++;
    return true;
  }
  bool needed(uint64_t index) {
    std::lock_guard<std::mutex> lk(m_);
    return index < limit_;
  }
  // A lane failed: the others stop at their next step (the call then reports the error).
  void abort() {
    std::lock_guard<std::mutex> lk(m_);
    limit_ = 0;
  }
  void finish(uint64_t index, std::vector<uint32_t>&& toks, bool truncated) {
    std::lock_guard<std::mutex> lk(m_);
    if (done_.size() <= index) {
      done_.resize(index + 1);
      truncated_.resize(index + 1, 0);
      finished_.resize(index + 1, 0);
    }
    done_[index] = std::move(toks);
    truncated_[index] = truncated;
    finished_[index] = 1;
    while (prefixDone_ < finished_.size() && finished_[prefixDone_]) {
      prefixPositions_ += done_[prefixDone_].size() + 1;
      ++prefixDone_;
      if (tokens_ > 0 && prefixPositions_ >= tokens_ && limit_ == UINT64_MAX) limit_ = prefixDone_;
    }
  }
  SampleOutput output() {
    SampleOutput out;
    const uint64_t count = std::min<uint64_t>(limit_, done_.size());
    out.offsets.reserve(count + 1);
    out.offsets.push_back(0);
    for (uint64_t i = 0; i < count; ++i) {
      out.tokens.insert(out.tokens.end(), done_[i].begin(), done_[i].end());
      out.offsets.push_back(static_cast<uint32_t>(out.tokens.size()));
      out.truncated += truncated_[i];
    }
    return out;
  }

 private:
  std::mutex m_;
  const uint64_t tokens_;
  uint64_t limit_, next_ = 0, prefixDone_ = 0, prefixPositions_ = 0;
  std::vector<std::vector<uint32_t>> done_;
  std::vector<uint8_t> truncated_, finished_;
};

SampleOutput Model::sample(const SampleRequest& req) {
  if (req.maxLength < 1 || req.maxLength > P_)
    fail("E_BAD_ARGUMENT", "maxLength must be in [1, contextLength = " + std::to_string(P_) + "], got " + std::to_string(req.maxLength));
  if (!(req.temperature > 0) || !std::isfinite(req.temperature)) fail("E_BAD_ARGUMENT", "temperature must be a finite number > 0");
  if (!(req.topP > 0 && req.topP <= 1)) fail("E_BAD_ARGUMENT", "topP must be in (0, 1]");
  if ((req.sequences > 0) == (req.tokens > 0)) fail("E_BAD_ARGUMENT", "sample needs exactly one of sequences or tokens");
  const int maxLen = static_cast<int>(req.maxLength);
  // Lanes and their slots. Each step of a lane reads its whole KV cache and all the weights, and
  // yields one token per slot: per token, weights/slots + one sequence's cache. A lane's cache is
  // kept near the larger of kLaneCacheBytes and the weights' size: small models then keep both in
  // cache (measured: S at 64 × 256 runs 2× faster with 4–6 slots per lane than with 16), large
  // ones spread the weights over more slots. At least kMinSlots, so the matmuls still fill most of
  // the micro-kernel's rows; at most kMaxCacheBytes of cache over all lanes.
  constexpr size_t kLaneCacheBytes = size_t{6} << 20, kMaxCacheBytes = size_t{512} << 20;
  constexpr size_t kMinSlots = 4, kMaxSlots = 64;
  const size_t perSlot = L_ * 2 * static_cast<size_t>(maxLen) * C_;
  const size_t weightBytes = sizeof(float) * (V_ * C_ + L_ * (4 * C_ * C_ + 2 * C_ * I_));
  size_t lanes = static_cast<size_t>(std::max(1, threads_));
  size_t slots = std::clamp<size_t>(std::max(kLaneCacheBytes, weightBytes) / (perSlot * sizeof(float)), kMinSlots, kMaxSlots);
  slots = std::max<size_t>(1, std::min(slots, kMaxCacheBytes / (perSlot * sizeof(float) * lanes)));
  if (req.sequences > 0) {
    lanes = std::min<size_t>(lanes, req.sequences);
    slots = std::min<size_t>(slots, (req.sequences + lanes - 1) / lanes);
  }
  DecodeWeights w;
  const int C = static_cast<int>(C_), I = static_cast<int>(I_);
  for (size_t l = 0; l < L_; ++l) {
    const LayerParams& p = p_.layer[l];
    w.qkv.push_back(k::packLinear(threads_, p.qkvw, C, 3 * C));
    w.attproj.push_back(k::packLinear(threads_, p.attprojw, C, C));
    w.fc.push_back(k::packLinear(threads_, p.fcw, C, I));
    w.proj.push_back(k::packLinear(threads_, p.projw, I, C));
  }
  w.lmHead = k::packLinear(threads_, p_.wte, C, static_cast<int>(V_));
  SequenceBook book(req.sequences, req.tokens);
  k::parallelRun(threads_, lanes, [&](size_t) {
    try {
      sampleLane(w, book, req, static_cast<int>(slots));
    } catch (...) {
      book.abort();  // else, in tokens mode, the other lanes would draw sequences forever
      throw;
    }
  });
  return book.output();
}

// One lane: `slots` sequences at a time until the book needs no more.
void Model::sampleLane(const DecodeWeights& w, SequenceBook& book, const SampleRequest& req, int slots) {
  const int maxLen = static_cast<int>(req.maxLength);
  DecodeState st;
  st.slots = slots;
  st.maxLen = maxLen;
  st.kv.assign(static_cast<size_t>(slots) * L_ * 2 * static_cast<size_t>(maxLen) * C_, 0.0f);
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
  auto start = [&](Seq& s) {
    if (!book.claim(s.index)) return;
    s.rng = SplitMix64(streamKey(req.seed, kSampleSequence, s.index));
    s.toks.clear();
    s.active = true;
  };
  for (auto& s : slot) start(s);
  std::vector<uint32_t> inTok(slots), ids;
  std::vector<int> inSlot(slots), inPos(slots);
  for (;;) {
    int n = 0;
    for (int s = 0; s < slots; ++s) {
      Seq& q = slot[s];
      if (q.active && !book.needed(q.index)) q.active = false;  // past the final count
      if (!q.active) continue;
      inTok[n] = q.toks.empty() ? cfg_.bos : q.toks.back();
      inSlot[n] = s;
      inPos[n] = static_cast<int>(q.toks.size());
      ++n;
    }
    if (n == 0) break;
    decodeStep(st, w, inTok.data(), inSlot.data(), inPos.data(), n, logits.data());
    for (int r = 0; r < n; ++r) {
      Seq& q = slot[inSlot[r]];
      const uint32_t t = drawToken(logits.data() + r * V_, V_, q.rng.uniform(), req, ids);
      const bool eos = t == cfg_.eos;
      if (!eos) q.toks.push_back(t);
      if (!eos && q.toks.size() < static_cast<size_t>(maxLen)) continue;
      book.finish(q.index, std::move(q.toks), !eos);
      q.toks = {};
      q.active = false;
      start(q);
    }
  }
}

}  // namespace cl::transformer
