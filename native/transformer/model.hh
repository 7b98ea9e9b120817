// The GPT-Neo transformer engine (no Node-API): Hugging Face's modeling_gpt_neo.py, float32, CPU.
//
//   x = wte[tokens] + wpe[positions]                       (learned absolute positions, 0..T-1)
//   for each block l:                                       (pre-LayerNorm, ε = 1e-5)
//     x = x + out_proj(attn_l(q_proj(ln_1 x), k_proj(ln_1 x), v_proj(ln_1 x)))
//     x = x + c_proj(gelu_new(c_fc(ln_2 x)))
//   logits = ln_f(x) · wteᵀ                                 (lm_head tied to wte)
// attn_l: softmax(q·kᵀ) v per head with NO 1/sqrt(head_dim) scaling (a GPT-Neo quirk); global
// layers are causal, local layers see key j from query i iff i - window < j <= i (HF's
// `bias ^ tril(bias, -window_size)`). q/k/v have no bias, out_proj has one.
//
// Memory (llm.c style): parameters, gradients, AdamW moments and activations each live in one
// contiguous float block with named views. The parameter block is a sequence of tensors with
// Hugging Face's names and Linear layout (weight is (out, in)), listed by tensors() as (name,
// shape, offset), so a safetensors file maps onto it by plain copies. q, k and v of a layer are
// adjacent, so together they are one (3C, C) weight and one matmul computes all three.
//
// Thread safety: a Model is used by one job at a time (the addon serialises with mutex()).
// Determinism: every result is identical for any thread count (see kernels/cpu/kernels.hh); every
// random stream is keyed by (seed, purpose, index) (common/rng.hh).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "common/corpus.hh"
#include "kernels/cpu/kernels.hh"

namespace cl::transformer {

struct Config {
  uint32_t vocabSize = 0;      // V
  uint32_t contextLength = 0;  // P: max_position_embeddings (rows of wpe)
  uint32_t hidden = 0;         // C
  uint32_t layers = 0;         // L
  uint32_t heads = 0;          // H (divides C)
  uint32_t window = 256;       // window_size of local layers
  uint32_t intermediate = 0;   // I (0: 4C)
  std::vector<uint8_t> local;  // per layer: 1 = local attention, 0 = global (size L)
  uint32_t bos = 0, eos = 0;   // special ids (< V; may be equal, as GPT-2's <|endoftext|>)
  // Throws cl::Error(E_BAD_ARGUMENT) with an actionable message when inconsistent.
  void validate() const;
};

struct TensorInfo {
  std::string name;           // Hugging Face name, e.g. transformer.h.0.attn.attention.q_proj.weight
  std::vector<size_t> shape;  // e.g. {C, C}
  size_t offset = 0;          // in floats, into the parameter block
  size_t size = 0;            // elements
  bool decay = false;         // AdamW weight decay applies (2-D weights only)
  int init = 0;               // 0: normal(0, 0.02), 1: ones, 2: zeros
};

using CorpusView = cl::CorpusView;

struct TrainRequest {
  uint32_t epochs = 1;       // used when steps == 0
  uint64_t steps = 0;        // > 0: exactly this many optimizer steps (cycling epochs)
  uint32_t batchSize = 8;    // B windows per step
  uint32_t seqLen = 128;     // T tokens per window (<= contextLength)
  double lr = 1e-3;
  int schedule = 0;          // 0: constant, 1: cosine decay to 0 after warm-up
  uint64_t warmup = 0;       // linear warm-up steps
  double weightDecay = 0.0;  // decoupled (AdamW), 2-D weights only
  double clip = 1.0;         // global gradient-norm clip (0: off)
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  uint64_t seed = 0;         // batch order of epoch e is the stream (seed, BATCH, e)
};

struct StepReport {
  uint64_t step = 0, totalSteps = 0;  // step is 1-based
  uint32_t epoch = 0;
  double loss = 0, lr = 0, gradNorm = 0;
  uint64_t tokens = 0;  // tokens seen so far
};

struct TrainResult {
  uint64_t steps = 0;
  double lastLoss = 0;
  bool cancelled = false;
};

struct EvalResult {
  double logLikelihood = 0;  // Σ natural-log probabilities
  uint64_t positions = 0;    // tokens + one EOS per sequence
};

struct SampleRequest {
  uint64_t sequences = 0;  // exactly this many (if > 0)
  uint64_t tokens = 0;     // else whole sequences (index order) until >= tokens positions
  uint32_t maxLength = 0;  // tokens without BOS/EOS; <= contextLength
  uint64_t seed = 0;
  double temperature = 1.0;
  uint32_t topK = 0;       // 0: off
  double topP = 1.0;       // 1: off
};

struct SampleOutput {
  std::vector<uint32_t> tokens;
  std::vector<uint32_t> offsets;
  uint64_t truncated = 0;
};

class SequenceBook;  // infer.cc

class Model {
 public:
  explicit Model(const Config& config);  // validates; parameters are zero until init()/setParams
  const Config& config() const { return cfg_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  size_t numParams() const { return params_.size(); }
  float* params() { return params_.data(); }
  const float* params() const { return params_.data(); }
  const float* grads() const { return grads_.data(); }
  int threads() const { return threads_; }
  void setThreads(int t) { threads_ = t < 1 ? 1 : t; }
  std::mutex& mutex() { return mutex_; }

  // HF-style init from a seed: normal(0, 0.02) weights and embeddings, LayerNorm 1/0, biases 0.
  // Element e of tensor t is drawn from the counter (seed, INIT, t, e).
  void init(uint64_t seed);

  // Mean cross-entropy over the non-ignored targets of a (B,T) batch, and every gradient
  // (grads() is overwritten). targets may hold kernels::kIgnore.
  double forwardBackward(const uint32_t* inputs, const uint32_t* targets, int B, int T);
  // Forward only: losses (B*T, may be null) receives -log p(target) per position (0 where
  // ignored); returns their sum (double).
  double forwardLoss(const uint32_t* inputs, const uint32_t* targets, int B, int T, float* losses);

  // One AdamW step with the gradients of the last forwardBackward(): step t (1-based) of the
  // bias correction; t == 1 resets the moments. Returns the gradient norm before clipping.
  double optimizerStep(const TrainRequest& req, double lr, uint64_t t);

  // Trains on a corpus with AdamW (fresh optimizer state each call). progress(report) after every
  // step; returns early (cancelled = true) when *cancel becomes true between steps.
  TrainResult train(const CorpusView& corpus, const TrainRequest& req, const std::function<void(const StepReport&)>& progress,
                    const std::atomic<bool>* cancel);

  // Scores every position (tokens and the EOS) of every sequence, each read as BOS t1..tm EOS.
  // A sequence longer than the context is scored by sliding windows of contextLength positions
  // moved by `stride` (Hugging Face's perplexity recipe: each window scores only the positions the
  // previous one did not, with up to contextLength - stride positions of history). logProbs (may
  // be null) gets one entry per position, in corpus order.
  EvalResult evaluate(const CorpusView& corpus, uint32_t stride, double* logProbs);

  // p(·|prefix) for n prefixes (ids as given; at least one token each; only the last
  // contextLength tokens are read): prefix i is flat[starts[i] .. starts[i+1]). out: n × V.
  void conditional(const uint32_t* flat, const uint32_t* starts, size_t n, float* out);

  // Draws sequences BOS → EOS with a KV cache, many at once; sequence i uses only the random
  // stream (seed, SAMP, i), so it does not depend on batching or threads.
  SampleOutput sample(const SampleRequest& req);

  // Throws E_TOKEN_RANGE / E_OFFSETS when a corpus does not fit this model.
  void validateCorpus(const CorpusView& c) const;

 private:
  struct LayerParams {
    float* ln1w;      // (C)
    float* ln1b;      // (C)
    float* qkvw;      // (3C, C): q_proj | k_proj | v_proj weights, each (C, C)
    float* attprojw;  // (C, C) out_proj.weight
    float* attprojb;  // (C)
    float* ln2w;      // (C)
    float* ln2b;      // (C)
    float* fcw;       // (I, C) c_fc.weight
    float* fcb;       // (I)
    float* projw;     // (C, I) c_proj.weight
    float* projb;     // (C)
  };
  struct ParamViews {
    float* wte;  // (V, C)
    float* wpe;  // (P, C)
    std::vector<LayerParams> layer;
    float* lnfw;  // (C)
    float* lnfb;  // (C)
  };
  // Activations of one (B,T) batch, BT = B*T, one block.
  struct Acts {
    float* encoded;  // (BT, C)
    float* ln1;      // (L, BT, C)
    float* ln1mean;  // (L, BT)
    float* ln1rstd;  // (L, BT)
    float* qkv;      // (L, BT, 3C)
    float* atty;     // (L, BT, C)
    float* lse;      // (L, B, H, T)
    float* res2;     // (L, BT, C) residual after attention
    float* ln2;      // (L, BT, C)
    float* ln2mean;  // (L, BT)
    float* ln2rstd;  // (L, BT)
    float* fch;      // (L, BT, I)
    float* fchg;     // (L, BT, I) gelu(fch)
    float* res3;     // (L, BT, C) residual after the MLP (block output)
    float* lnf;      // (BT, C)
    float* lnfmean;  // (BT)
    float* lnfrstd;  // (BT)
    float* losses;   // (BT)
    float* logits;   // (chunk, V) a row chunk of logits / dlogits
    // backward scratch, one layer at a time
    float* dres;   // (BT, C) gradient of the residual stream
    float* dln;    // (BT, C)
    float* datty;  // (BT, C)
    float* dqkv;   // (BT, 3C)
    float* dfch;   // (BT, I)
  };
  struct DecodeState;
  struct DecodeWeights;

  void layoutParams();
  void bindActs(int B, int T, bool backward);
  void forward(const uint32_t* inputs, int B, int T);  // up to acts_.lnf
  int logitChunk(int BT) const;
  void packLmHead(bool backward);
  // Frees the packed lm_head when a train() or evaluate() call ends (2 × V × C floats: 300 MB for
  // TinyStories-33M), however it ends.
  struct LmHeadScope {
    Model* m;
    ~LmHeadScope() {
      m->wteT_ = {};
      m->wteN_ = {};
    }
  };
  float* layerInput(int l, size_t BTC) { return l == 0 ? acts_.encoded : acts_.res3 + static_cast<size_t>(l - 1) * BTC; }
  double adamw(const TrainRequest& req, double lr, uint64_t t, double* gradNorm);
  void decodeStep(DecodeState& st, const DecodeWeights& w, const uint32_t* tokens, const int* slots, const int* pos, int n, float* logits);
  void sampleLane(const DecodeWeights& w, SequenceBook& book, const SampleRequest& req, int slots);

  Config cfg_;
  size_t C_, I_, H_, L_, V_, P_;
  std::vector<TensorInfo> tensors_;
  std::vector<float> params_, grads_, m_, v_;
  ParamViews p_{}, g_{};
  std::vector<float> actMem_;
  Acts acts_{};
  size_t actCapacity_ = 0;
  int threads_ = 1;
  cl::kernels::PackedB wteT_, wteN_;  // packLmHead
  std::mutex mutex_;
};

}  // namespace cl::transformer
