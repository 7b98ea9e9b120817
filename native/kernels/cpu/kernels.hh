// CPU kernels of the transformer (no Node-API). Every fast kernel has a naive reference beside it
// (the *Naive functions, plain loops with double accumulation) that the tests compare it with.
//
// Conventions: tensors are row-major float32; shapes are written as in llm.c, e.g. `inp is
// (B,T,C)`. BT = B*T rows. A Linear layer's weight is (OC, IC), Hugging Face's layout, and
// computes out = inp · weightᵀ + bias.
//
// Determinism: every fast kernel splits its work by output rows/columns/heads into tasks whose
// boundaries do not depend on the thread count, and each output element is computed by one task
// in a fixed order, so results are bit-identical for any `threads`. (They differ between the AVX2
// and the portable path, which round differently, but each is reproducible; the AVX-512 path gives
// the AVX2 path's bits.)
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

namespace cl::kernels {

// Instruction set of a fast kernel, chosen per call (never process-wide). Auto takes the widest
// the CPU has: AVX-512 (F, BW, VL, DQ) where present, else AVX2+FMA, else portable C++; Generic,
// Avx2 and Avx512 ask for one path (a path the CPU lacks falls back to the widest it has), so the
// tests can check every path against the naive kernels. Kernels without an AVX-512 body run their
// AVX2 one on the Avx512 level. Every AVX-512 body computes each element with the same operations
// in the same order as its AVX2 twin (it only does 16 lanes per instruction where the AVX2 body
// does 8, folding sums back in the AVX2 lane order), so the two give identical bits: a model's
// results do not depend on which of the two a CPU offers.
enum class Isa : int { Auto = 0, Generic = 1, Avx2 = 2, Avx512 = 3 };
// Whether this CPU has AVX2 and FMA / AVX-512 F+BW+VL+DQ (with AVX2 and FMA) (what Isa::Auto runs;
// the environment variable COLLAPSE_MAX_ISA=avx2|generic caps cpuIsa(), for benchmarks).
bool cpuHasAvx2();
bool cpuHasAvx512();
// The widest path this CPU runs.
Isa cpuIsa();
// "avx512", "avx2" or "generic".
const char* isaName(Isa isa);
// How one kernel call runs: its threads and its instruction set. A plain thread count converts to
// Exec{threads, Isa::Auto}, so a model passes its thread count and gets the fastest path.
struct Exec {
  int threads = 1;
  Isa isa = Isa::Auto;
  Exec(int threads_, Isa isa_ = Isa::Auto) : threads(threads_), isa(isa_) {}  // NOLINT: implicit on purpose
  // The path this call runs: the requested one, or the widest below it that the CPU has.
  Isa level() const {
    const Isa best = cpuIsa();
    if (isa == Isa::Auto) return best;
    return static_cast<int>(isa) < static_cast<int>(best) ? isa : best;
  }
  bool avx2() const { return static_cast<int>(level()) >= static_cast<int>(Isa::Avx2); }
  bool avx512() const { return level() == Isa::Avx512; }
};

// --- matmul -----------------------------------------------------------------------------------
// General strided product: C(M,N) = init + op(A)·op(B), where element (i,k) of op(A) is
// A[i*rsA + k*csA] and element (k,j) of op(B) is B[k*rsB + j*csB]; C is dense row-major (ldc = N).
// init = C when `accumulate`, else bias[j] (or 0 when bias is null).
void gemm(Exec ex, int M, int N, int K, const float* A, size_t rsA, size_t csA, const float* B, size_t rsB,
          size_t csB, float* C, const float* bias, bool accumulate);
void gemmNaive(int M, int N, int K, const float* A, size_t rsA, size_t csA, const float* B, size_t rsB, size_t csB,
               float* C, const float* bias, bool accumulate);

// op(B) packed once for many products with the same B (decoding reuses every weight at each step).
class PackedB {
 public:
  PackedB() = default;
  // Packs op(B) (K×N), element (k,j) at B[k*rsB + j*csB].
  PackedB(int threads, int K, int N, const float* B, size_t rsB, size_t csB) { pack(threads, K, N, B, rsB, csB); }
  // The same into this object, reusing its memory when large enough.
  void pack(int threads, int K, int N, const float* B, size_t rsB, size_t csB);
  int k() const { return k_; }
  int n() const { return n_; }
  const float* data() const { return data_.get(); }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  int k_ = 0, n_ = 0;
  size_t capacity_ = 0;
  std::unique_ptr<float, Free> data_;
};
// gemm with a packed op(B): identical bits to gemm() on the same operands.
void gemmPacked(Exec ex, int M, const float* A, size_t rsA, size_t csA, const PackedB& B, float* C, const float* bias, bool accumulate);
// A Linear layer's weight (OC,IC) packed for matmulForward's op(B) = weightᵀ.
inline PackedB packLinear(int threads, const float* weight, int IC, int OC) { return PackedB(threads, IC, OC, weight, 1, static_cast<size_t>(IC)); }
inline void matmulForwardPacked(Exec ex, float* out, const float* inp, const PackedB& weight, const float* bias, int BT) {
  gemmPacked(ex, BT, inp, static_cast<size_t>(weight.k()), 1, weight, out, bias, false);
}

// Linear forward: out (BT,OC) = inp (BT,IC) · weight (OC,IC)ᵀ + bias (OC) [bias may be null].
inline void matmulForward(Exec ex, float* out, const float* inp, const float* weight, const float* bias, int BT, int IC, int OC) {
  gemm(ex, BT, OC, IC, inp, IC, 1, weight, 1, IC, out, bias, false);
}
// Linear backward, input: dinp (BT,IC) (+)= dout (BT,OC) · weight (OC,IC).
inline void matmulBackwardInput(Exec ex, float* dinp, const float* dout, const float* weight, int BT, int IC, int OC, bool accumulate) {
  gemm(ex, BT, IC, OC, dout, OC, 1, weight, IC, 1, dinp, nullptr, accumulate);
}
// Linear backward, weight: dweight (OC,IC) += dout (BT,OC)ᵀ · inp (BT,IC).
inline void matmulBackwardWeight(Exec ex, float* dweight, const float* dout, const float* inp, int BT, int IC, int OC) {
  gemm(ex, OC, IC, BT, dout, 1, OC, inp, IC, 1, dweight, nullptr, true);
}
// The same product computed as its transpose, inpᵀ · dout, with dout read in place and the
// result added transposed (same bits as matmulBackwardWeight): for a wide OC (the lm_head's
// vocabulary) this skips packing all of dout.
void matmulBackwardWeightT(Exec ex, float* dweight, const float* dout, const float* inp, int BT, int IC, int OC);
// dbias (OC) += Σ_rows dout (BT,OC).
void biasBackward(Exec ex, float* dbias, const float* dout, int BT, int OC);
void biasBackwardNaive(float* dbias, const float* dout, int BT, int OC);

// --- layernorm (ε = 1e-5) -----------------------------------------------------------------------
// out (N,C) = (inp - mean) * rstd * weight + bias; mean, rstd (N) are saved for the backward.
void layernormForward(Exec ex, float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias, int N, int C);
void layernormForwardNaive(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias, int N, int C);
// dinp (N,C) += ∂/∂inp; dweight, dbias (C) += their gradients.
void layernormBackward(Exec ex, float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                       const float* mean, const float* rstd, int N, int C);
void layernormBackwardNaive(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp, const float* weight,
                            const float* mean, const float* rstd, int N, int C);

// --- gelu_new: 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))) ---------------------------------------
void geluForward(Exec ex, float* out, const float* inp, size_t n);
void geluForwardNaive(float* out, const float* inp, size_t n);
// dinp = gelu'(inp) * dout (overwrites dinp).
void geluBackward(Exec ex, float* dinp, const float* inp, const float* dout, size_t n);
void geluBackwardNaive(float* dinp, const float* inp, const float* dout, size_t n);

// --- attention (GPT-Neo: scores NOT scaled by 1/sqrt(head_dim)) --------------------------------
// qkv is (B,T,3C): q | k | v per row, head h at columns [h*hd, (h+1)*hd) of each part.
// Query i sees key j iff j <= i and (window == 0 or j > i - window) — Hugging Face's
// `bias ^ tril(bias, -window_size)` for local layers; window 0 means global.
// out (B,T,C); lse (B,H,T) = log Σ_j exp(score_ij) of each query, saved for the backward.
void attentionForward(Exec ex, float* out, float* lse, const float* qkv, int B, int T, int C, int H, int window);
void attentionForwardNaive(float* out, float* lse, const float* qkv, int B, int T, int C, int H, int window);
// dqkv (B,T,3C) = gradient of the loss w.r.t. qkv (overwritten), from dout (B,T,C), the saved
// out and lse. Scores are recomputed (nothing of size T×T is stored).
void attentionBackward(Exec ex, float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int B, int T,
                       int C, int H, int window);
void attentionBackwardNaive(float* dqkv, const float* dout, const float* qkv, const float* out, const float* lse, int B, int T, int C,
                            int H, int window);

// One decoding step with a KV cache: row r's query is qkv[r*3C + h*hd ..] and its keys/values
// are positions 0..pos[r] of kcache[r] / vcache[r], each stored transposed, (C, ld): the key of
// position j, channel c (= h*hd + e) is kcache[r][c*ld + j], so each head's keys and values are
// contiguous along positions and the step vectorises over them. out (n, C).
void attentionDecode(Exec ex, float* out, const float* qkv, const float* const* kcache, const float* const* vcache, size_t ld, const int* pos,
                     int n, int C, int H, int window);
void attentionDecodeNaive(float* out, const float* qkv, const float* const* kcache, const float* const* vcache, size_t ld, const int* pos, int n,
                          int C, int H, int window);

// --- fused softmax + cross-entropy ----------------------------------------------------------------
// For each row r of logits (N,V): losses[r] = logsumexp(row) - row[target]; when dscale != 0 the
// row is overwritten by dscale * (softmax(row) - onehot(target)). A target of kIgnore gives loss
// 0 and a zero gradient row.
constexpr uint32_t kIgnore = 0xFFFFFFFFu;
void crossEntropy(Exec ex, float* logits, float* losses, const uint32_t* targets, int N, int V, float dscale);
void crossEntropyNaive(float* logits, float* losses, const uint32_t* targets, int N, int V, float dscale);

// out[i] = exp((z[i] - m) * scale) for i < n (float, vectorised; ~2 ulp): the sampler's weights.
void expShiftRow(float* out, const float* z, size_t n, float m, float scale, Isa isa = Isa::Auto);
// max of z[0..n).
float maxRow(const float* z, size_t n, Isa isa = Isa::Auto);

// Row softmax in place (N,V), for conditional(): p = exp(z - max) / Σ.
void softmaxRows(Exec ex, float* x, int N, int V);
void softmaxRowsNaive(float* x, int N, int V);

// Seconds per call of the forward matmul (M,K)·(N,K)ᵀ on constant data, best of `reps` (benchmarks).
double timeMatmul(int M, int N, int K, int threads, int reps, Isa isa = Isa::Auto);

}  // namespace cl::kernels
