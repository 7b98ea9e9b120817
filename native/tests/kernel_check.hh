// Test support: one fast kernel against its naive reference on seeded random inputs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu/kernels.hh"

namespace cl::tests {

struct CheckResult {
  double maxError = 0;       // largest |fast - naive| / (1 + |naive|)
  size_t compared = 0;       // values compared
  uint64_t digest = 0xcbf29ce484222325ull;  // FNV-1a of the fast outputs' bits
};

// `kernel` names one of: matmul_nt, matmul_nn, matmul_tn, weight_grad_t, bias_backward,
// layernorm_forward, layernorm_backward, gelu_forward, gelu_backward, attention_forward,
// attention_backward, attention_decode, cross_entropy, softmax. dims: matmul (M,N,K);
// weight_grad_t (BT,IC,OC: also bit-identical to matmulBackwardWeight); bias_backward (BT,OC);
// layernorm (N,C); gelu (n); attention (B,T,C,H,window); attention_decode (n,T,C,H,window);
// cross_entropy/softmax (N,V). Throws cl::Error on an unknown kernel or a bad dimension.
CheckResult checkKernel(const std::string& kernel, const std::vector<int>& dims, uint64_t seed, kernels::Exec exec);

// Runs checkKernel for 1 and 3 threads on every instruction-set path the CPU offers (portable,
// AVX2, AVX-512) and checks with doctest that
// each stays within 1e-4 of the naive kernel and that the thread count never changes a bit.
void checkAllPaths(const std::string& kernel, const std::vector<int>& dims);

}  // namespace cl::tests
