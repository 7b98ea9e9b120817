// Stage 6, io: serialize → deserialize gives the same model (same bytes again, same rows, same
// samples); a truncated or corrupted file is a typed error, never a crash.
#include <doctest/doctest.h>

#include <vector>

#include "common/errors.hh"
#include "ngram_fixture.hh"

using namespace cl::tests;
using cl::ngram::Model;
using cl::ngram::Smoothing;

TEST_CASE("a model survives a round trip bit for bit") {
  const Corpus c = abc();
  for (const Smoothing s : {Smoothing::KneserNey, Smoothing::Mle, Smoothing::AddK}) {
    const auto m = Model::fit(options(3, s, 6), c.view());
    const auto bytes = m->serialize();
    const auto back = Model::deserialize(bytes.data(), bytes.size(), 2);
    CHECK(back->serialize() == bytes);
    const std::vector<uint32_t> ctx = {kBos, kA, kA, kB, kB, kC, 0, 0};
    std::vector<double> r1(4 * 6), r2(4 * 6);
    m->conditional<double>(ctx.data(), 4, 2, r1.data(), 1);
    back->conditional<double>(ctx.data(), 4, 2, r2.data(), 1);
    CHECK(r1 == r2);
    cl::ngram::SampleRequest req;
    req.sequences = 50;
    req.maxLength = 20;
    req.seed = 9;
    CHECK(m->sample(req, 1).tokens == back->sample(req, 1).tokens);
  }
}

TEST_CASE("truncated or corrupted files are E_BAD_MODEL_FILE") {
  const Corpus c = abc();
  const auto bytes = Model::fit(options(2, Smoothing::KneserNey, 6), c.view())->serialize();
  for (const size_t cut : {size_t{0}, size_t{3}, bytes.size() / 2, bytes.size() - 1}) {
    try {
      Model::deserialize(bytes.data(), cut, 1);
      FAIL("accepted a file cut at " << cut);
    } catch (const cl::Error& e) {
      CHECK(e.code() == "E_BAD_MODEL_FILE");
    }
  }
  std::vector<uint8_t> bad = bytes;
  bad[0] ^= 0xFF;  // the magic
  CHECK_THROWS_AS(Model::deserialize(bad.data(), bad.size(), 1), cl::Error);
}
