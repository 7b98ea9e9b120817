// Argument helpers shared by every Node-API wrapper: typed-array checks, JS-thread error
// conversion, and vector → typed-array copies. Node-API glue only.
#pragma once
#include <napi.h>

#include <algorithm>
#include <cstdint>
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
