// Counter-based randomness. Every random stream is keyed by (seed, purpose, index) through a hash,
// so a result never depends on thread count or scheduling (DESIGN.md "Randomness").
#pragma once
#include <cstdint>

namespace cl {

// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mixer.
inline uint64_t mix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Key of the stream (seed, purpose, index).
inline uint64_t streamKey(uint64_t seed, uint64_t purpose, uint64_t index) {
  return mix64(mix64(mix64(seed) ^ purpose) ^ index);
}

// Stream purposes (stable numbers: they are part of the reproducibility contract).
enum Purpose : uint64_t { kSampleSequence = 0x53414d50ull /* "SAMP" */ };

// SplitMix64 as a stream: the k-th output is mix64(key + k*gamma); counter-based and cheap.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t key) : state_(key) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace cl
