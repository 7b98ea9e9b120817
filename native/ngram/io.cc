// Model serialisation and statistics.
//
// Format (little-endian, version 1): magic "CLNGRAM\0", u32 version, u32 order, u32 smoothing,
// u32 vocabSize, u32 bos, u32 eos, f64 k, u64 positions, u64 sequences, per order 1..K the three
// discounts (f64) and the fallback flag (u8); then per level 0..K the arrays as (u64 length, data):
// parent, word, count, prob, cum, and for levels < K: suffix, childBegin, gamma; finally a u64
// checksum of everything before it. Every index is range-checked on load, so a corrupt file is
// reported, never dereferenced. Derived data (the lookup index, guide tables, level K's suffixes)
// is not saved but rebuilt on load, so the format is unchanged.
#include <cstring>
#include <string>

#include "common/errors.hh"
#include "common/rng.hh"
#include "ngram/model.hh"

namespace cl::ngram {

namespace {
constexpr char kMagic[8] = {'C', 'L', 'N', 'G', 'R', 'A', 'M', '\0'};
constexpr uint32_t kFormatVersion = 1;

template <class T>
void put(std::vector<uint8_t>& out, const T* data, size_t n) {
  const auto* p = reinterpret_cast<const uint8_t*>(data);
  out.insert(out.end(), p, p + n * sizeof(T));
}
template <class T>
void put(std::vector<uint8_t>& out, T v) {
  put(out, &v, 1);
}
template <class T>
void putVec(std::vector<uint8_t>& out, const std::vector<T>& v) {
  put<uint64_t>(out, v.size());
  put(out, v.data(), v.size());
}

uint64_t checksum(const uint8_t* data, size_t n) {
  uint64_t h = 0x636f6c6c61707365ull;  // "collapse"
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    h = mix64(h ^ w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, data + i, n - i);
  return mix64(h ^ tail ^ (static_cast<uint64_t>(n) << 56));
}

[[noreturn]] void corrupt(const std::string& what) {
  fail("E_BAD_MODEL_FILE", "not a valid collapse-lab n-gram model file (" + what + "); re-save the model");
}

class Reader {
 public:
  Reader(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  template <class T>
  T get() {
    need(sizeof(T));
    T v;
    std::memcpy(&v, d_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  template <class T>
  void vec(std::vector<T>& v, uint64_t expect) {
    const uint64_t n = get<uint64_t>();
    if (n != expect) corrupt("array length mismatch");
    if (n > (n_ - pos_) / sizeof(T)) corrupt("truncated");
    v.resize(n);
    if (n) std::memcpy(v.data(), d_ + pos_, n * sizeof(T));
    pos_ += n * sizeof(T);
  }
  uint64_t peekLength() {
    need(8);
    uint64_t v;
    std::memcpy(&v, d_ + pos_, 8);
    return v;
  }
  size_t pos() const { return pos_; }

 private:
  void need(size_t k) {
    if (k > n_ - pos_) corrupt("truncated");
  }
  const uint8_t* d_;
  size_t n_, pos_ = 0;
};
}  // namespace

std::vector<uint8_t> Model::serialize() const {
  std::vector<uint8_t> out;
  out.reserve(stats().bytes + 1024);
  put(out, kMagic, 8);
  put<uint32_t>(out, kFormatVersion);
  put<uint32_t>(out, static_cast<uint32_t>(opt_.order));
  put<uint32_t>(out, static_cast<uint32_t>(opt_.smoothing));
  put<uint32_t>(out, opt_.vocabSize);
  put<uint32_t>(out, opt_.bos);
  put<uint32_t>(out, opt_.eos);
  put<double>(out, opt_.k);
  put<uint64_t>(out, positions_);
  put<uint64_t>(out, sequences_);
  for (int n = 1; n <= opt_.order; ++n) {
    put(out, discounts_[n].data(), 3);
    put<uint8_t>(out, discountFallback_[n]);
  }
  for (int n = 0; n <= opt_.order; ++n) {
    const Level& l = levels_[n];
    putVec(out, l.parent);
    putVec(out, l.word);
    putVec(out, l.count);
    putVec(out, l.prob);
    putVec(out, l.cum);
    if (n < opt_.order) {
      putVec(out, l.suffix);
      putVec(out, l.childBegin);
      putVec(out, l.gamma);
    }
  }
  put<uint64_t>(out, checksum(out.data(), out.size()));
  return out;
}

std::shared_ptr<const Model> Model::deserialize(const uint8_t* data, size_t size, int threads) {
  if (size < 8 + 8 || std::memcmp(data, kMagic, 8) != 0) corrupt("bad magic: not written by collapse-lab");
  if (checksum(data, size - 8) != [&] {
        uint64_t c;
        std::memcpy(&c, data + size - 8, 8);
        return c;
      }())
    corrupt("checksum mismatch: the file is damaged or truncated");
  Reader r(data, size - 8);
  r.get<uint64_t>();  // magic
  const uint32_t version = r.get<uint32_t>();
  if (version != kFormatVersion) corrupt("format version " + std::to_string(version) + ", expected " + std::to_string(kFormatVersion));
  std::shared_ptr<Model> m(new Model());
  Options& o = m->opt_;
  o.order = static_cast<int>(r.get<uint32_t>());
  const uint32_t sm = r.get<uint32_t>();
  o.vocabSize = r.get<uint32_t>();
  o.bos = r.get<uint32_t>();
  o.eos = r.get<uint32_t>();
  o.k = r.get<double>();
  o.threads = threads;
  if (o.order < 1 || o.order > kMaxOrder || sm > 2 || o.vocabSize < 3 || o.bos >= o.vocabSize || o.eos >= o.vocabSize || o.bos == o.eos)
    corrupt("bad header");
  o.smoothing = static_cast<Smoothing>(sm);
  m->positions_ = r.get<uint64_t>();
  m->sequences_ = r.get<uint64_t>();
  const int K = o.order;
  m->discounts_.assign(K + 1, {0, 0, 0});
  m->discountFallback_.assign(K + 1, 0);
  for (int n = 1; n <= K; ++n) {
    for (int j = 0; j < 3; ++j) m->discounts_[n][j] = r.get<double>();
    m->discountFallback_[n] = r.get<uint8_t>();
  }
  m->levels_.resize(K + 1);
  for (int n = 0; n <= K; ++n) {
    Level& l = m->levels_[n];
    const uint64_t N = r.peekLength();
    if (n == 0 && N != 1) corrupt("root level");
    if (n == 1 && N != o.vocabSize) corrupt("unigram level does not match the vocabulary");
    r.vec(l.parent, N);
    r.vec(l.word, N);
    r.vec(l.count, N);
    r.vec(l.prob, n == 0 ? 0 : N);
    r.vec(l.cum, n == 0 ? 0 : N);
    if (n < K) {
      r.vec(l.suffix, n <= 1 ? (n == 1 ? N : 0) : N);
      r.vec(l.childBegin, N + 1);
      r.vec(l.gamma, N);
    }
  }
  if (r.pos() != size - 8) corrupt("trailing bytes");
  // Structural checks: every index in range, children runs consistent with parents.
  for (int n = 1; n <= K; ++n) {
    const Level& l = m->levels_[n];
    const Level& up = m->levels_[n - 1];
    const size_t P = up.word.size();
    if (up.childBegin.front() != 0 || up.childBegin.back() != l.word.size()) corrupt("children index");
    for (size_t p = 0; p < P; ++p) {
      if (up.childBegin[p + 1] < up.childBegin[p]) corrupt("children index");
      for (uint32_t i = up.childBegin[p]; i < up.childBegin[p + 1]; ++i) {
        if (l.parent[i] != p) corrupt("parent index");
        if (l.word[i] >= o.vocabSize) corrupt("word id");
        if (i > up.childBegin[p] && l.word[i] <= l.word[i - 1]) corrupt("children order");
      }
    }
    // Level 1's suffixes are the root (0); the sampler follows them, so they are checked too.
    if (n < K)
      for (uint32_t s : l.suffix)
        if (s >= up.word.size()) corrupt("suffix index");
  }
  m->buildIndex();
  // The top level's suffixes are not saved: the (K-1)-gram without the first word.
  if (K == 1) {
    // A unigram model's top level is level 1: its suffixes (the root) are not saved, but the
    // sampler reads them as fit() leaves them.
    m->levels_[1].suffix.assign(m->levels_[1].size(), 0);
  } else {
    Level& top = m->levels_[K];
    const Level& up = m->levels_[K - 1];
    top.suffix.resize(top.size());
    for (size_t i = 0; i < top.size(); ++i) {
      const uint32_t sfx = (K == 2) ? top.word[i] : m->child(K - 2, up.suffix[top.parent[i]], top.word[i]);
      if (sfx == kNone) corrupt("suffix of a top-level n-gram is missing");
      top.suffix[i] = sfx;
    }
  }
  return m;
}

Stats Model::stats() const {
  Stats s;
  s.positions = positions_;
  s.sequences = sequences_;
  for (int n = 1; n <= opt_.order; ++n) {
    const Level& l = levels_[n];
    uint64_t seen = 0;
    for (uint32_t c : l.count) seen += (c > 0);
    s.ngrams.push_back(seen);
    s.discounts.push_back(discounts_[n]);
    s.discountFallback.push_back(discountFallback_[n] != 0);
  }
  for (const Level& l : levels_) {
    s.bytes += l.parent.capacity() * 4 + l.word.capacity() * 4 + l.count.capacity() * 4 + l.prob.capacity() * 8 + l.cum.capacity() * 8 +
               l.suffix.capacity() * 4 + l.childBegin.capacity() * 4 + l.gamma.capacity() * 8;
  }
  for (const ChildIndex& ix : index_) s.bytes += ix.slots.capacity() * sizeof(Slot);
  for (const auto& v : guideOff_) s.bytes += v.capacity() * 4;
  for (const auto& v : guide_) s.bytes += v.capacity() * 4;
  s.bytes += p1_.capacity() * 8;
  return s;
}

}  // namespace cl::ngram
