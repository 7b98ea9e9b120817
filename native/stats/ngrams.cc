// Distinct n-gram sets (TupleSet): key generation, radix sort + unique, set intersection, and the
// reference support built once per run. See stats.hh for the definitions.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>

#include "common/errors.hh"
#include "common/parallel.hh"
#include "stats/stats.hh"

namespace cl::stats {

void checkCorpus(const CorpusView& c, const char* name) {
  if (c.noffsets < 1 || c.offsets[0] != 0) fail("E_OFFSETS", std::string(name) + ": offsets must start with 0");
  for (size_t i = 1; i < c.noffsets; ++i) {
    if (c.offsets[i] < c.offsets[i - 1]) fail("E_OFFSETS", std::string(name) + ": offsets decrease at sequence " + std::to_string(i - 1));
  }
  if (c.offsets[c.noffsets - 1] != c.ntokens) {
    fail("E_OFFSETS", std::string(name) + ": last offset " + std::to_string(c.offsets[c.noffsets - 1]) + " differs from the token count " +
                          std::to_string(c.ntokens));
  }
}

namespace {

int bitWidth64(uint64_t x) {
  int b = 0;
  while (x) {
    ++b;
    x >>= 1;
  }
  return b;
}

// LSD radix sort of 64-bit keys whose set bits all lie in `allBits` (the OR of the keys): the
// B = bitWidth(allBits) low bits are cut into as few digits of at most 11 bits as cover them,
// of about equal width (B = 42: 4 passes of 11 bits; 14-bit digits measured no faster here).
// All digit histograms come from one pass; a digit that every key shares is skipped.
void radixSort(std::vector<uint64_t>& a, uint64_t allBits) {
  const size_t n = a.size();
  if (n < 1024) {
    std::sort(a.begin(), a.end());
    return;
  }
  const int bits = bitWidth64(allBits);
  if (bits == 0) return;  // every key is 0
  constexpr int kMaxDigit = 11;
  const int passes = (bits + kMaxDigit - 1) / kMaxDigit;
  const int digit = (bits + passes - 1) / passes;
  const size_t buckets = size_t{1} << digit;
  const uint64_t mask = buckets - 1;
  std::vector<size_t> hist(static_cast<size_t>(passes) * buckets, 0);
  for (const uint64_t x : a) {
    for (int p = 0; p < passes; ++p) ++hist[p * buckets + ((x >> (p * digit)) & mask)];
  }
  std::vector<uint64_t> tmp(n);
  uint64_t* src = a.data();
  uint64_t* dst = tmp.data();
  for (int p = 0; p < passes; ++p) {
    size_t* h = &hist[p * buckets];
    const int shift = p * digit;
    if (h[(src[0] >> shift) & mask] == n) continue;  // one bucket holds every key: nothing to do
    size_t sum = 0;
    for (size_t b = 0; b < buckets; ++b) {
      const size_t c = h[b];
      h[b] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; ++i) {
      const uint64_t x = src[i];
      dst[h[(x >> shift) & mask]++] = x;
    }
    std::swap(src, dst);
  }
  if (src != a.data()) a.swap(tmp);
}

// Sorted (lexicographic) unique tuples of `width` ids, from a flat array of tuples.
std::vector<uint32_t> sortUniqueTuples(const std::vector<uint32_t>& flat, int width) {
  const size_t w = static_cast<size_t>(width);
  const size_t n = flat.size() / w;
  std::vector<uint32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0u);
  const uint32_t* d = flat.data();
  auto less = [d, w](uint32_t a, uint32_t b) { return std::lexicographical_compare(d + a * w, d + a * w + w, d + b * w, d + b * w + w); };
  std::sort(idx.begin(), idx.end(), less);
  std::vector<uint32_t> out;
  for (size_t r = 0; r < n; ++r) {
    const uint32_t* t = d + idx[r] * w;
    if (!out.empty() && std::equal(t, t + w, out.end() - static_cast<std::ptrdiff_t>(w))) continue;
    out.insert(out.end(), t, t + w);
  }
  return out;
}

uint32_t maxId(const uint32_t* t, size_t n, uint32_t atLeast) {
  uint32_t m = atLeast;
  for (size_t i = 0; i < n; ++i) m = std::max(m, t[i]);
  return m;
}

// Collects tuples of `order` ids (all ids <= maxId) into a TupleSet. Three modes, same result:
//   dense:     order 1 with ids small enough: a presence array, read out in id order;
//   compact:   every id fits the canonical packing: keys packed with just bitWidth(maxId) bits per
//              id (fewer radix passes), repacked to the canonical layout after sorting (packing is
//              monotone, so the order is kept);
//   canonical: some id may not fit: canonical packing, tuples that do not fit kept as ids.
class Collector {
 public:
  Collector(int order, size_t expected, uint32_t maxId) : order_(order), canonBits_(packBits(order)) {
    const int need = std::max(1, bitWidth64(maxId));
    if (order == 1 && uint64_t{maxId} + 1 <= std::max<uint64_t>(uint64_t{1} << 20, 4 * uint64_t{expected})) {
      mode_ = kDense;
      seen_.assign(size_t{maxId} + 1, 0);
    } else if (need <= canonBits_) {
      mode_ = kCompact;
      bits_ = need;
      keys_.reserve(expected);
    } else {
      mode_ = kCanonical;
      bits_ = canonBits_;
      highMask_ = ~((uint32_t{1} << bits_) - 1);  // canonBits_ < 32 here: order >= 3
      keys_.reserve(expected);
    }
  }
  void add(const uint32_t* t) {
    if (mode_ == kDense) {
      seen_[t[0]] = 1;
      return;
    }
    uint64_t k = t[0];
    uint32_t any = t[0];
    for (int i = 1; i < order_; ++i) {
      any |= t[i];
      k = (k << bits_) | t[i];
    }
    if (mode_ == kCanonical && (any & highMask_)) {
      wide_.insert(wide_.end(), t, t + order_);
    } else {
      keys_.push_back(k);
      allBits_ |= k;
    }
  }
  TupleSet finish() {
    TupleSet s;
    s.order = order_;
    if (mode_ == kDense) {
      for (size_t v = 0; v < seen_.size(); ++v)
        if (seen_[v]) s.packed.push_back(v);
      return s;
    }
    radixSort(keys_, allBits_);
    if (mode_ == kCompact && bits_ != canonBits_) {
      // Unique and repack in one pass (in place: the write index never passes the read index).
      const uint64_t mask = (uint64_t{1} << bits_) - 1;
      size_t w = 0;
      uint64_t prev = 0;
      for (size_t r = 0; r < keys_.size(); ++r) {
        const uint64_t k = keys_[r];
        if (r > 0 && k == prev) continue;
        prev = k;
        uint64_t c = 0;
        for (int i = order_ - 1; i >= 0; --i) c = (c << canonBits_) | ((k >> (i * bits_)) & mask);
        keys_[w++] = c;
      }
      keys_.resize(w);
    } else {
      keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
    }
    s.packed = std::move(keys_);
    if (!wide_.empty()) s.wide = sortUniqueTuples(wide_, order_);
    return s;
  }

 private:
  enum Mode { kDense, kCompact, kCanonical };
  int order_, canonBits_, bits_ = 0;
  Mode mode_ = kCompact;
  uint32_t highMask_ = 0;
  uint64_t allBits_ = 0;  // OR of the packed keys
  std::vector<uint8_t> seen_;
  std::vector<uint64_t> keys_;
  std::vector<uint32_t> wide_;
};

void checkOrder(int order) {
  if (order < 1 || order > kMaxOrder) fail("E_BAD_ARGUMENT", "order must be an integer in [1, " + std::to_string(kMaxOrder) + "], got " + std::to_string(order));
}

}  // namespace

TupleSet supportNgrams(const CorpusView& c, int order, uint32_t bos, uint32_t eos) {
  checkOrder(order);
  const size_t pad = static_cast<size_t>(order - 1);
  Collector col(order, c.positions(), maxId(c.tokens, c.ntokens, std::max(bos, eos)));
  std::vector<uint32_t> buf(pad + 1);
  std::fill(buf.begin(), buf.end(), bos);
  for (size_t i = 0; i < c.sequences(); ++i) {
    const size_t s = c.offsets[i], e = c.offsets[i + 1], m = e - s;
    // buf = BOS×pad t1 .. tm EOS; the n-gram of position j is buf[j .. j+order).
    buf.resize(pad + m + 1);
    if (m > 0) std::memcpy(buf.data() + pad, c.tokens + s, m * sizeof(uint32_t));  // tokens may be null when empty
    buf[pad + m] = eos;
    for (size_t j = 0; j <= m; ++j) col.add(buf.data() + j);
  }
  return col.finish();
}

TupleSet insideNgrams(const CorpusView& c, int order, uint64_t* total) {
  checkOrder(order);
  const size_t n = static_cast<size_t>(order);
  size_t count = 0;
  for (size_t i = 0; i < c.sequences(); ++i) {
    const size_t m = c.offsets[i + 1] - c.offsets[i];
    if (m >= n) count += m - n + 1;
  }
  Collector col(order, count, maxId(c.tokens, c.ntokens, 0));
  for (size_t i = 0; i < c.sequences(); ++i) {
    const size_t s = c.offsets[i], e = c.offsets[i + 1];
    if (e - s < n) continue;
    for (size_t j = s; j + n <= e; ++j) col.add(c.tokens + j);
  }
  if (total) *total = count;
  return col.finish();
}

uint64_t intersectionSize(const TupleSet& a, const TupleSet& b) {
  if (a.order != b.order) fail("E_INTERNAL", "intersectionSize: sets of different orders");
  uint64_t both = 0;
  {
    const uint64_t *x = a.packed.data(), *xe = x + a.packed.size();
    const uint64_t *y = b.packed.data(), *ye = y + b.packed.size();
    while (x != xe && y != ye) {
      if (*x < *y) ++x;
      else if (*y < *x) ++y;
      else {
        ++both;
        ++x;
        ++y;
      }
    }
  }
  const size_t w = static_cast<size_t>(a.order);
  const uint32_t *x = a.wide.data(), *xe = x + a.wide.size();
  const uint32_t *y = b.wide.data(), *ye = y + b.wide.size();
  while (x != xe && y != ye) {
    const int cmp = std::lexicographical_compare(x, x + w, y, y + w) ? -1 : std::equal(x, x + w, y) ? 0 : 1;
    if (cmp < 0) x += w;
    else if (cmp > 0) y += w;
    else {
      ++both;
      x += w;
      y += w;
    }
  }
  return both;
}

size_t Support::bytes() const {
  size_t b = sizeof(Support);
  for (const auto& s : sets) b += s.bytes();
  return b;
}

namespace {
// Task order: highest orders (the heaviest) first, so two threads balance.
std::vector<size_t> heaviestFirst(const std::vector<int>& orders) {
  std::vector<size_t> t(orders.size());
  std::iota(t.begin(), t.end(), size_t{0});
  std::stable_sort(t.begin(), t.end(), [&](size_t a, size_t b) { return orders[a] > orders[b]; });
  return t;
}
}  // namespace

Support buildSupport(const CorpusView& c, const std::vector<int>& orders, uint32_t bos, uint32_t eos, int threads) {
  if (orders.empty()) fail("E_BAD_ARGUMENT", "orders must be a non-empty array of n-gram orders");
  for (size_t i = 0; i < orders.size(); ++i) {
    checkOrder(orders[i]);
    for (size_t j = 0; j < i; ++j)
      if (orders[j] == orders[i]) fail("E_BAD_ARGUMENT", "order " + std::to_string(orders[i]) + " is listed twice");
  }
  checkCorpus(c, "ngramSupport");
  Support s;
  s.orders = orders;
  s.bos = bos;
  s.eos = eos;
  s.positions = c.positions();
  s.sets.resize(orders.size());
  const auto tasks = heaviestFirst(orders);
  parallelFor(threads, tasks.size(), [&](size_t k, int) {
    const size_t i = tasks[k];
    s.sets[i] = supportNgrams(c, orders[i], bos, eos);
    s.sets[i].packed.shrink_to_fit();  // held for the whole run
  });
  return s;
}

std::vector<OrderStats> compareSupport(const CorpusView& sample, const Support& ref, int threads) {
  checkCorpus(sample, "supportStats sample");
  std::vector<OrderStats> out(ref.orders.size());
  const auto tasks = heaviestFirst(ref.orders);
  parallelFor(threads, tasks.size(), [&](size_t k, int) {
    const size_t i = tasks[k];
    const TupleSet s = supportNgrams(sample, ref.orders[i], ref.bos, ref.eos);
    out[i].order = ref.orders[i];
    out[i].sample = s.size();
    out[i].reference = ref.sets[i].size();
    out[i].both = intersectionSize(s, ref.sets[i]);
  });
  return out;
}

}  // namespace cl::stats
