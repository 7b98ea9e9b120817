// GPT-Neo: parameter layout, init, forward, backward (llm.c structure: one call per layer op, the
// backward in reverse order), and the AdamW update.
#include "transformer/model.hh"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/errors.hh"
#include "common/rng.hh"
#include "kernels/cpu/kernels.hh"
#include "common/pool.hh"

namespace cl::transformer {

namespace k = cl::kernels;

namespace {
constexpr uint64_t kInitPurpose = 0x494e4954ull;  // "INIT"
constexpr size_t kMaxElements = size_t{1} << 34;  // sanity bound for any one block (64 GiB)
}  // namespace

void Config::validate() const {
  auto bad = [](const std::string& m) { fail("E_BAD_ARGUMENT", m); };
  if (vocabSize < 2) bad("vocabSize must be at least 2");
  if (hidden < 1) bad("hidden must be at least 1");
  if (layers < 1) bad("layers must be at least 1");
  if (heads < 1) bad("heads must be at least 1");
  if (hidden % heads != 0) bad("heads (" + std::to_string(heads) + ") must divide hidden (" + std::to_string(hidden) + ")");
  if (contextLength < 1) bad("contextLength must be at least 1");
  if (window < 1) bad("window must be at least 1");
  if (local.size() != layers) bad("attention must list one type per layer (" + std::to_string(layers) + "), got " + std::to_string(local.size()));
  if (bos >= vocabSize || eos >= vocabSize) bad("bos and eos must be ids below vocabSize");
  const double I = intermediate ? intermediate : 4.0 * hidden;
  const double n = static_cast<double>(vocabSize) * hidden + static_cast<double>(contextLength) * hidden +
                   layers * (4.0 * hidden * hidden + 2.0 * I * hidden + I + 7.0 * hidden);
  if (n > static_cast<double>(kMaxElements)) bad("the model is too large for this engine (more than 2^34 parameters)");
}

Model::Model(const Config& config) : cfg_(config) {
  cfg_.validate();
  C_ = cfg_.hidden;
  I_ = cfg_.intermediate ? cfg_.intermediate : 4 * C_;
  cfg_.intermediate = static_cast<uint32_t>(I_);
  H_ = cfg_.heads;
  L_ = cfg_.layers;
  V_ = cfg_.vocabSize;
  P_ = cfg_.contextLength;
  layoutParams();
}

void Model::layoutParams() {
  size_t off = 0;
  auto add = [&](std::string name, std::vector<size_t> shape, int init) {
    TensorInfo t;
    t.name = std::move(name);
    t.size = 1;
    for (size_t d : shape) t.size *= d;
    t.shape = std::move(shape);
    t.offset = off;
    t.decay = t.shape.size() == 2;
    t.init = init;
    off += t.size;
    tensors_.push_back(std::move(t));
  };
  add("transformer.wte.weight", {V_, C_}, 0);
  add("transformer.wpe.weight", {P_, C_}, 0);
  for (size_t l = 0; l < L_; ++l) {
    const std::string h = "transformer.h." + std::to_string(l) + ".";
    add(h + "ln_1.weight", {C_}, 1);
    add(h + "ln_1.bias", {C_}, 2);
    add(h + "attn.attention.q_proj.weight", {C_, C_}, 0);
    add(h + "attn.attention.k_proj.weight", {C_, C_}, 0);
    add(h + "attn.attention.v_proj.weight", {C_, C_}, 0);
    add(h + "attn.attention.out_proj.weight", {C_, C_}, 0);
    add(h + "attn.attention.out_proj.bias", {C_}, 2);
    add(h + "ln_2.weight", {C_}, 1);
    add(h + "ln_2.bias", {C_}, 2);
    add(h + "mlp.c_fc.weight", {I_, C_}, 0);
    add(h + "mlp.c_fc.bias", {I_}, 2);
    add(h + "mlp.c_proj.weight", {C_, I_}, 0);
    add(h + "mlp.c_proj.bias", {C_}, 2);
  }
  add("transformer.ln_f.weight", {C_}, 1);
  add("transformer.ln_f.bias", {C_}, 2);
  params_.assign(off, 0.0f);
  grads_.assign(off, 0.0f);
  auto bind = [&](float* base, ParamViews& v) {
    size_t i = 0;
    auto next = [&]() { return base + tensors_[i++].offset; };
    v.wte = next();
    v.wpe = next();
    v.layer.resize(L_);
    for (size_t l = 0; l < L_; ++l) {
      LayerParams& p = v.layer[l];
      p.ln1w = next();
      p.ln1b = next();
      p.qkvw = next();
      next();  // k_proj: rows C..2C of qkvw
      next();  // v_proj: rows 2C..3C of qkvw
      p.attprojw = next();
      p.attprojb = next();
      p.ln2w = next();
      p.ln2b = next();
      p.fcw = next();
      p.fcb = next();
      p.projw = next();
      p.projb = next();
    }
    v.lnfw = next();
    v.lnfb = next();
  };
  bind(params_.data(), p_);
  bind(grads_.data(), g_);
}

void Model::init(uint64_t seed) {
  for (size_t t = 0; t < tensors_.size(); ++t) {
    const TensorInfo& ti = tensors_[t];
    float* dst = params_.data() + ti.offset;
    if (ti.init == 1) {
      std::fill(dst, dst + ti.size, 1.0f);
      continue;
    }
    if (ti.init == 2) {
      std::fill(dst, dst + ti.size, 0.0f);
      continue;
    }
    const uint64_t key = streamKey(seed, kInitPurpose, t);
    constexpr size_t chunk = 1 << 16;
    k::parallelRun(threads_, (ti.size + chunk - 1) / chunk, [&](size_t c) {
      const size_t e1 = std::min(ti.size, (c + 1) * chunk);
      for (size_t e = c * chunk; e < e1; ++e) {
        // Box–Muller on two 26-bit uniforms of one counter hash: normal(0, 0.02).
        const uint64_t h = mix64(key ^ mix64(e));
        const double u1 = (static_cast<double>(h >> 38) + 0.5) * 0x1.0p-26;
        const double u2 = static_cast<double>((h >> 12) & 0x3FFFFFF) * 0x1.0p-26;
        dst[e] = static_cast<float>(0.02 * std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
      }
    });
  }
}

void Model::validateCorpus(const CorpusView& c) const {
  if (c.noffsets == 0) {
    if (c.ntokens != 0) fail("E_OFFSETS", "offsets is empty but tokens is not");
    return;
  }
  if (c.offsets[0] != 0) fail("E_OFFSETS", "offsets[0] must be 0");
  for (size_t i = 1; i < c.noffsets; ++i)
    if (c.offsets[i] < c.offsets[i - 1]) fail("E_OFFSETS", "offsets must be non-decreasing (at index " + std::to_string(i) + ")");
  if (c.offsets[c.noffsets - 1] != c.ntokens) fail("E_OFFSETS", "the last offset must equal tokens.length");
  for (size_t i = 0; i < c.ntokens; ++i)
    if (c.tokens[i] >= V_)
      fail("E_TOKEN_RANGE", "token " + std::to_string(c.tokens[i]) + " at index " + std::to_string(i) + " is outside the vocabulary (size " +
                                std::to_string(V_) + ")");
}

// Rows of logits at a time: about 8 MiB of them, and at least 256 rows (a large vocabulary
// would otherwise cut the lm_head products into slivers too thin to run fast).
int Model::logitChunk(int BT) const { return std::max(1, std::min(BT, static_cast<int>(std::max<size_t>(256, (size_t{1} << 21) / V_)))); }

// wte packed for the lm_head's products (once per forward: the weights change every step).
void Model::packLmHead(bool backward) {
  const int C = static_cast<int>(C_), V = static_cast<int>(V_);
  wteT_.pack(threads_, C, V, p_.wte, 1, C_);  // logits = lnf · wteᵀ
  if (backward) wteN_.pack(threads_, V, C, p_.wte, C_, 1);  // dlnf = dlogits · wte
}

void Model::bindActs(int B, int T, bool backward) {
  const size_t BT = static_cast<size_t>(B) * T, C = C_, I = I_, L = L_;
  const size_t sizes[] = {
      BT * C,                     // encoded
      L * BT * C, L * BT, L * BT,  // ln1, mean, rstd
      L * BT * 3 * C,              // qkv
      L * BT * C,                  // atty
      L * BT * H_,                 // lse (L,B,H,T)
      L * BT * C,                  // res2
      L * BT * C, L * BT, L * BT,  // ln2, mean, rstd
      L * BT * I, L * BT * I,      // fch, fchg
      L * BT * C,                  // res3
      BT * C, BT, BT,              // lnf, mean, rstd
      BT,                          // losses
      static_cast<size_t>(logitChunk(static_cast<int>(BT))) * V_,  // logits chunk
      backward ? BT * C : 0, backward ? BT * C : 0, backward ? BT * C : 0, backward ? BT * 3 * C : 0, backward ? BT * I : 0,
  };
  size_t total = 0;
  for (size_t s : sizes) total += s;
  if (total > kMaxElements) fail("E_BAD_ARGUMENT", "the batch is too large for memory (B×T too big for this model)");
  if (total > actCapacity_) {
    actMem_.clear();
    actMem_.shrink_to_fit();
    actMem_.resize(total);
    actCapacity_ = total;
  }
  float* ptrs[sizeof(sizes) / sizeof(sizes[0])];
  float* base = actMem_.data();
  for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); ++i) {
    ptrs[i] = sizes[i] ? base : nullptr;
    base += sizes[i];
  }
  Acts& a = acts_;
  size_t i = 0;
  a.encoded = ptrs[i++];
  a.ln1 = ptrs[i++];
  a.ln1mean = ptrs[i++];
  a.ln1rstd = ptrs[i++];
  a.qkv = ptrs[i++];
  a.atty = ptrs[i++];
  a.lse = ptrs[i++];
  a.res2 = ptrs[i++];
  a.ln2 = ptrs[i++];
  a.ln2mean = ptrs[i++];
  a.ln2rstd = ptrs[i++];
  a.fch = ptrs[i++];
  a.fchg = ptrs[i++];
  a.res3 = ptrs[i++];
  a.lnf = ptrs[i++];
  a.lnfmean = ptrs[i++];
  a.lnfrstd = ptrs[i++];
  a.losses = ptrs[i++];
  a.logits = ptrs[i++];
  a.dres = ptrs[i++];
  a.dln = ptrs[i++];
  a.datty = ptrs[i++];
  a.dqkv = ptrs[i++];
  a.dfch = ptrs[i++];
}

namespace {
// out (N,C) = res (N,C) + bias (C): the residual add is then a matmul accumulating into out.
void residualInit(int threads, float* out, const float* res, const float* bias, size_t N, size_t C) {
  k::parallelRun(threads, (N + 63) / 64, [&](size_t t) {
    const size_t r1 = std::min(N, (t + 1) * 64);
    for (size_t r = t * 64; r < r1; ++r)
      for (size_t c = 0; c < C; ++c) out[r * C + c] = res[r * C + c] + bias[c];
  });
}
}  // namespace

void Model::forward(const uint32_t* inputs, int B, int T) {
  const int th = threads_;
  const int C = static_cast<int>(C_), I = static_cast<int>(I_), H = static_cast<int>(H_);
  const int BT = B * T;
  const size_t BTC = static_cast<size_t>(BT) * C_;
  Acts& a = acts_;
  // encoder: encoded (B,T,C) = wte[token] + wpe[t]
  for (int r = 0; r < BT; ++r) {
    const float* te = p_.wte + static_cast<size_t>(inputs[r]) * C_;
    const float* pe = p_.wpe + static_cast<size_t>(r % T) * C_;
    float* o = a.encoded + static_cast<size_t>(r) * C_;
    for (size_t c = 0; c < C_; ++c) o[c] = te[c] + pe[c];
  }
  for (size_t l = 0; l < L_; ++l) {
    const LayerParams& p = p_.layer[l];
    const float* resin = layerInput(static_cast<int>(l), BTC);
    float* ln1 = a.ln1 + l * BTC;
    float* qkv = a.qkv + l * 3 * BTC;
    float* atty = a.atty + l * BTC;
    float* res2 = a.res2 + l * BTC;
    float* ln2 = a.ln2 + l * BTC;
    float* fch = a.fch + l * static_cast<size_t>(BT) * I_;
    float* fchg = a.fchg + l * static_cast<size_t>(BT) * I_;
    float* res3 = a.res3 + l * BTC;
    const int window = cfg_.local[l] ? static_cast<int>(cfg_.window) : 0;
    k::layernormForward(th, ln1, a.ln1mean + l * BT, a.ln1rstd + l * BT, resin, p.ln1w, p.ln1b, BT, C);
    k::matmulForward(th, qkv, ln1, p.qkvw, nullptr, BT, C, 3 * C);
    k::attentionForward(th, atty, a.lse + l * static_cast<size_t>(BT) * H_, qkv, B, T, C, H, window);
    residualInit(th, res2, resin, p.attprojb, BT, C_);
    k::gemm(th, BT, C, C, atty, C, 1, p.attprojw, 1, C, res2, nullptr, true);
    k::layernormForward(th, ln2, a.ln2mean + l * BT, a.ln2rstd + l * BT, res2, p.ln2w, p.ln2b, BT, C);
    k::matmulForward(th, fch, ln2, p.fcw, p.fcb, BT, C, I);
    k::geluForward(th, fchg, fch, static_cast<size_t>(BT) * I_);
    residualInit(th, res3, res2, p.projb, BT, C_);
    k::gemm(th, BT, C, I, fchg, I, 1, p.projw, 1, I, res3, nullptr, true);
  }
  k::layernormForward(th, a.lnf, a.lnfmean, a.lnfrstd, a.res3 + (L_ - 1) * BTC, p_.lnfw, p_.lnfb, BT, C);
}

double Model::forwardLoss(const uint32_t* inputs, const uint32_t* targets, int B, int T, float* losses) {
  bindActs(B, T, false);
  forward(inputs, B, T);
  const int BT = B * T, chunk = logitChunk(BT);
  packLmHead(false);
  for (int r0 = 0; r0 < BT; r0 += chunk) {
    const int n = std::min(chunk, BT - r0);
    k::matmulForwardPacked(threads_, acts_.logits, acts_.lnf + static_cast<size_t>(r0) * C_, wteT_, nullptr, n);
    k::crossEntropy(threads_, acts_.logits, acts_.losses + r0, targets + r0, n, static_cast<int>(V_), 0.0f);
  }
  double sum = 0;
  for (int r = 0; r < BT; ++r) sum += acts_.losses[r];
  if (losses) std::memcpy(losses, acts_.losses, sizeof(float) * BT);
  return sum;
}

double Model::forwardBackward(const uint32_t* inputs, const uint32_t* targets, int B, int T) {
  bindActs(B, T, true);
  forward(inputs, B, T);
  const int th = threads_;
  const int C = static_cast<int>(C_), I = static_cast<int>(I_), H = static_cast<int>(H_), V = static_cast<int>(V_);
  const int BT = B * T;
  const size_t BTC = static_cast<size_t>(BT) * C_;
  Acts& a = acts_;
  std::fill(grads_.begin(), grads_.end(), 0.0f);
  size_t count = 0;
  for (int r = 0; r < BT; ++r) count += targets[r] != k::kIgnore;
  const float dscale = count ? 1.0f / static_cast<float>(count) : 0.0f;

  // lm_head + softmax–cross-entropy, fused by row chunks: logits (n,V) = lnf · wteᵀ, overwritten
  // by dlogits; dlnf = dlogits · wte; dwte += dlogitsᵀ · lnf.
  const int chunk = logitChunk(BT);
  packLmHead(true);
  for (int r0 = 0; r0 < BT; r0 += chunk) {
    const int n = std::min(chunk, BT - r0);
    const float* lnf = a.lnf + static_cast<size_t>(r0) * C_;
    k::matmulForwardPacked(th, a.logits, lnf, wteT_, nullptr, n);
    k::crossEntropy(th, a.logits, a.losses + r0, targets + r0, n, V, dscale);
    k::gemmPacked(th, n, a.logits, V_, 1, wteN_, a.dln + static_cast<size_t>(r0) * C_, nullptr, false);
    k::matmulBackwardWeightT(th, g_.wte, a.logits, lnf, n, C, V);
  }
  double loss = 0;
  for (int r = 0; r < BT; ++r) loss += a.losses[r];
  loss = count ? loss / static_cast<double>(count) : 0.0;

  std::memset(a.dres, 0, sizeof(float) * BTC);
  k::layernormBackward(th, a.dres, g_.lnfw, g_.lnfb, a.dln, a.res3 + (L_ - 1) * BTC, p_.lnfw, a.lnfmean, a.lnfrstd, BT, C);
  for (size_t l = L_; l-- > 0;) {
    const LayerParams& p = p_.layer[l];
    const LayerParams& g = g_.layer[l];
    const float* resin = layerInput(static_cast<int>(l), BTC);
    const float* ln1 = a.ln1 + l * BTC;
    const float* qkv = a.qkv + l * 3 * BTC;
    const float* atty = a.atty + l * BTC;
    const float* res2 = a.res2 + l * BTC;
    const float* ln2 = a.ln2 + l * BTC;
    const float* fch = a.fch + l * static_cast<size_t>(BT) * I_;
    const float* fchg = a.fchg + l * static_cast<size_t>(BT) * I_;
    const int window = cfg_.local[l] ? static_cast<int>(cfg_.window) : 0;
    // MLP: res3 = res2 + c_proj(gelu(c_fc(ln_2(res2)))); dres holds dres3.
    k::matmulBackwardInput(th, a.dfch, a.dres, p.projw, BT, I, C, false);
    k::matmulBackwardWeight(th, g.projw, a.dres, fchg, BT, I, C);
    k::biasBackward(th, g.projb, a.dres, BT, C);
    k::geluBackward(th, a.dfch, fch, a.dfch, static_cast<size_t>(BT) * I_);
    k::matmulBackwardInput(th, a.dln, a.dfch, p.fcw, BT, C, I, false);
    k::matmulBackwardWeight(th, g.fcw, a.dfch, ln2, BT, C, I);
    k::biasBackward(th, g.fcb, a.dfch, BT, I);
    k::layernormBackward(th, a.dres, g.ln2w, g.ln2b, a.dln, res2, p.ln2w, a.ln2mean + l * BT, a.ln2rstd + l * BT, BT, C);
    // attention: res2 = resin + out_proj(attn(qkv(ln_1(resin)))); dres holds dres2.
    k::matmulBackwardInput(th, a.datty, a.dres, p.attprojw, BT, C, C, false);
    k::matmulBackwardWeight(th, g.attprojw, a.dres, atty, BT, C, C);
    k::biasBackward(th, g.attprojb, a.dres, BT, C);
    k::attentionBackward(th, a.dqkv, a.datty, qkv, atty, a.lse + l * static_cast<size_t>(BT) * H_, B, T, C, H, window);
    k::matmulBackwardInput(th, a.dln, a.dqkv, p.qkvw, BT, C, 3 * C, false);
    k::matmulBackwardWeight(th, g.qkvw, a.dqkv, ln1, BT, C, 3 * C);
    k::layernormBackward(th, a.dres, g.ln1w, g.ln1b, a.dln, resin, p.ln1w, a.ln1mean + l * BT, a.ln1rstd + l * BT, BT, C);
  }
  // encoder: dwte[token] += dres row, dwpe[t] += dres row (rows in order: deterministic).
  for (int r = 0; r < BT; ++r) {
    const float* d = a.dres + static_cast<size_t>(r) * C_;
    float* te = g_.wte + static_cast<size_t>(inputs[r]) * C_;
    float* pe = g_.wpe + static_cast<size_t>(r % T) * C_;
    for (size_t c = 0; c < C_; ++c) {
      te[c] += d[c];
      pe[c] += d[c];
    }
  }
  return loss;
}

double Model::optimizerStep(const TrainRequest& req, double lr, uint64_t t) {
  if (t <= 1 || m_.size() != params_.size()) {
    m_.assign(params_.size(), 0.0f);
    v_.assign(params_.size(), 0.0f);
  }
  double norm = 0;
  adamw(req, lr, t < 1 ? 1 : t, &norm);
  return norm;
}

// One AdamW step (PyTorch's torch.optim.AdamW arithmetic) after clipping the global gradient norm.
// Returns the norm before clipping.
double Model::adamw(const TrainRequest& req, double lr, uint64_t t, double* gradNorm) {
  const size_t n = grads_.size();
  constexpr size_t chunk = 1 << 16;
  const size_t chunks = (n + chunk - 1) / chunk;
  std::vector<double> partial(chunks, 0.0);
  k::parallelRun(threads_, chunks, [&](size_t c) {
    const size_t e1 = std::min(n, (c + 1) * chunk);
    double s = 0;
    for (size_t e = c * chunk; e < e1; ++e) s += static_cast<double>(grads_[e]) * grads_[e];
    partial[c] = s;
  });
  double sq = 0;
  for (double s : partial) sq += s;
  const double norm = std::sqrt(sq);
  if (gradNorm) *gradNorm = norm;
  const float scale = (req.clip > 0 && norm > req.clip) ? static_cast<float>(req.clip / (norm + 1e-6)) : 1.0f;
  const float b1 = static_cast<float>(req.beta1), b2 = static_cast<float>(req.beta2), eps = static_cast<float>(req.eps);
  const double bc1 = 1.0 - std::pow(req.beta1, static_cast<double>(t)), bc2 = 1.0 - std::pow(req.beta2, static_cast<double>(t));
  const float stepSize = static_cast<float>(lr / bc1), bc2sqrt = static_cast<float>(std::sqrt(bc2));
  for (const TensorInfo& ti : tensors_) {
    const float decay = ti.decay ? static_cast<float>(1.0 - lr * req.weightDecay) : 1.0f;
    float* p = params_.data() + ti.offset;
    const float* g = grads_.data() + ti.offset;
    float* m = m_.data() + ti.offset;
    float* v = v_.data() + ti.offset;
    k::parallelRun(threads_, (ti.size + chunk - 1) / chunk, [&](size_t c) {
      const size_t e1 = std::min(ti.size, (c + 1) * chunk);
      for (size_t e = c * chunk; e < e1; ++e) {
        const float gr = g[e] * scale;
        m[e] = b1 * m[e] + (1.0f - b1) * gr;
        v[e] = b2 * v[e] + (1.0f - b2) * gr * gr;
        const float denom = std::sqrt(v[e]) / bc2sqrt + eps;
        p[e] = p[e] * decay - stepSize * m[e] / denom;
      }
    });
  }
  return norm;
}

}  // namespace cl::transformer
