// Argument helpers shared by every Node-API wrapper: typed-array checks, JS-thread error
// conversion, and vector → typed-array copies. Node-API glue only.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "addon/async.hh"
#include "common/corpus.hh"
#include "common/errors.hh"

namespace cl::addon {

inline Napi::Uint32Array u32Array(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    fail("E_BAD_ARGUMENT", std::string(what) + " must be a Uint32Array");
  return v.As<Napi::Uint32Array>();
}

// A corpus view over two typed arrays (the caller keeps them alive while the view is in use).
inline cl::CorpusView corpusView(const Napi::Uint32Array& tokens, const Napi::Uint32Array& offsets) {
  cl::CorpusView c;
  c.tokens = tokens.Data();
  c.ntokens = tokens.ElementLength();
  c.offsets = offsets.Data();
  c.noffsets = offsets.ElementLength();
  return c;
}

// An owned copy of a Uint32Array, taken on the JS thread when a call starts (the "baton"): a
// persistent reference keeps a buffer alive but not unchanged, since JS can still transfer
// (detach) or overwrite it while a worker reads. A worker thread reads only these copies.
using OwnedU32 = std::shared_ptr<const std::vector<uint32_t>>;

inline OwnedU32 ownU32(const Napi::Value& v, const char* what) {
  const auto a = u32Array(v, what);
  const uint32_t* d = a.Data();
  return std::make_shared<const std::vector<uint32_t>>(d, d + a.ElementLength());
}

// A corpus copied into owned memory; view() stays valid while the object lives.
struct OwnedCorpus {
  std::vector<uint32_t> tokens, offsets;
  cl::CorpusView view() const {
    cl::CorpusView c;
    c.tokens = tokens.data();
    c.ntokens = tokens.size();
    c.offsets = offsets.data();
    c.noffsets = offsets.size();
    return c;
  }
};

inline std::shared_ptr<const OwnedCorpus> ownCorpus(const Napi::Value& tokens, const Napi::Value& offsets) {
  const auto t = u32Array(tokens, "tokens");
  const auto o = u32Array(offsets, "offsets");
  auto c = std::make_shared<OwnedCorpus>();
  c->tokens.assign(t.Data(), t.Data() + t.ElementLength());
  c->offsets.assign(o.Data(), o.Data() + o.ElementLength());
  return c;
}

// A run seed: an integer in [0, 2^53) (what a JS number holds exactly).
inline uint64_t seedArg(double s) {
  if (!(s >= 0 && s <= 9007199254740991.0 && s == static_cast<double>(static_cast<uint64_t>(s))))
    fail("E_BAD_ARGUMENT", "seed must be an integer in [0, 2^53)");
  return static_cast<uint64_t>(s);
}

// Runs f on the JS thread, turning cl::Error (and out-of-memory) into a JS exception with a code.
template <class F>
Napi::Value guard(Napi::Env env, F&& f) {
  try {
    return f();
  } catch (const cl::Error& e) {
    throw makeError(env, e.code(), e.what());
  } catch (const std::bad_alloc&) {
    throw makeError(env, "E_OUT_OF_MEMORY", "out of memory");
  }
}

template <class T>
Napi::Uint32Array toU32(Napi::Env env, const std::vector<T>& v) {
  auto a = Napi::Uint32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

inline Napi::Float64Array toF64(Napi::Env env, const std::vector<double>& v) {
  auto a = Napi::Float64Array::New(env, v.size());
  std::copy(v.begin(), v.end(), a.Data());
  return a;
}

// A sampled corpus as JS: { tokens: Uint32Array, offsets: Uint32Array, truncated }.
template <class Out>
Napi::Object sampleToJs(Napi::Env env, const Out& out) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("tokens", toU32(env, out.tokens));
  o.Set("offsets", toU32(env, out.offsets));
  o.Set("truncated", static_cast<double>(out.truncated));
  return o;
}

}  // namespace cl::addon
