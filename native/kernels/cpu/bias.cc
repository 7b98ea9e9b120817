// A Linear layer's bias gradient: column sums of dout, split by blocks of 64 columns (each
// column summed by one task in row order, so the bits never depend on the thread count).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/pool.hh"
#include "kernels/cpu/kernels.hh"
#include "kernels/cpu/simd.hh"

namespace cl::kernels {

namespace {

// --- bias backward ---------------------------------------------------------------------------------
CL_INLINE void biasCols(float* db, const float* dout, int BT, int OC, int c0, int c1) {
  float acc[64];
  const int w = c1 - c0;
  for (int i = 0; i < w; ++i) acc[i] = 0.0f;
  for (int r = 0; r < BT; ++r) {
    const float* g = dout + static_cast<size_t>(r) * OC + c0;
    for (int i = 0; i < w; ++i) acc[i] += g[i];
  }
  for (int i = 0; i < w; ++i) db[c0 + i] += acc[i];
}
CL_AVX2 void biasColsAvx2(float* db, const float* dout, int BT, int OC, int c0, int c1) { biasCols(db, dout, BT, OC, c0, c1); }
void biasColsGeneric(float* db, const float* dout, int BT, int OC, int c0, int c1) { biasCols(db, dout, BT, OC, c0, c1); }

}  // namespace

void biasBackward(Exec ex, float* dbias, const float* dout, int BT, int OC) {
  auto f = ex.avx2() ? biasColsAvx2 : biasColsGeneric;
  parallelRun(ex.threads, (OC + 63) / 64, [&](size_t t) {
    const int c0 = static_cast<int>(t) * 64;
    f(dbias, dout, BT, OC, c0, std::min(OC, c0 + 64));
  });
}

}  // namespace cl::kernels
