// A borrowed CSR corpus, shared by the engines: tokens[offsets[i] .. offsets[i+1]) is sequence i,
// without BOS/EOS. Not owned; noffsets = sequences + 1 (>= 1 for a valid corpus).
#pragma once
#include <cstddef>
#include <cstdint>

namespace cl {

struct CorpusView {
  const uint32_t* tokens = nullptr;
  size_t ntokens = 0;
  const uint32_t* offsets = nullptr;
  size_t noffsets = 0;
  size_t sequences() const { return noffsets == 0 ? 0 : noffsets - 1; }
  // Tokens plus one EOS per sequence.
  uint64_t positions() const { return ntokens + sequences(); }
};

}  // namespace cl
