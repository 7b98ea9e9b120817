// Node-API glue for the error-accounting kernels (native/theory). Argument checks and typed-array
// views only.
#include <napi.h>

#include <algorithm>
#include <memory>

#include "addon/async.hh"
#include "common/errors.hh"
#include "theory/context_counts.hh"

namespace cl::addon {

namespace {
Napi::Uint32Array u32(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_uint32_array)
    fail("E_BAD_ARGUMENT", std::string(what) + " must be a Uint32Array");
  return v.As<Napi::Uint32Array>();
}
uint32_t u32arg(const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) fail("E_BAD_ARGUMENT", std::string(what) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 4294967295.0 && d == static_cast<double>(static_cast<uint64_t>(d)))) fail("E_BAD_ARGUMENT", std::string(what) + " must be a uint32");
  return static_cast<uint32_t>(d);
}
}  // namespace

// contextCounts(tokens, offsets, contexts, width, vocabSize, bos, eos)
//   -> Promise<{ rowPtr: Uint32Array, cols: Uint32Array, vals: Float64Array, totals: Float64Array }>
Napi::Value ContextCounts(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    auto tokens = u32(info[0], "tokens");
    auto offsets = u32(info[1], "offsets");
    auto contexts = u32(info[2], "contexts");
    const uint32_t width = u32arg(info[3], "width");
    const uint32_t V = u32arg(info[4], "vocabSize");
    const uint32_t bos = u32arg(info[5], "bos");
    const uint32_t eos = u32arg(info[6], "eos");
    if (width == 0 || contexts.ElementLength() % width != 0) fail("E_BAD_ARGUMENT", "contexts.length must be a positive multiple of width");
    ngram::CorpusView view;
    view.tokens = tokens.Data();
    view.ntokens = tokens.ElementLength();
    view.offsets = offsets.Data();
    view.noffsets = offsets.ElementLength();
    const uint32_t* ctx = contexts.Data();
    const size_t n = contexts.ElementLength() / width;
    auto out = std::make_shared<theory::SparseCounts>();
    auto* w = new PromiseWorker(
        env, [=] { *out = theory::contextCounts(view, ctx, n, width, V, bos, eos); },
        [out](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          auto rp = Napi::Uint32Array::New(e, out->rowPtr.size());
          std::copy(out->rowPtr.begin(), out->rowPtr.end(), rp.Data());
          auto cols = Napi::Uint32Array::New(e, out->cols.size());
          std::copy(out->cols.begin(), out->cols.end(), cols.Data());
          auto vals = Napi::Float64Array::New(e, out->vals.size());
          std::copy(out->vals.begin(), out->vals.end(), vals.Data());
          auto tot = Napi::Float64Array::New(e, out->totals.size());
          std::copy(out->totals.begin(), out->totals.end(), tot.Data());
          o.Set("rowPtr", rp);
          o.Set("cols", cols);
          o.Set("vals", vals);
          o.Set("totals", tot);
          return o;
        });
    w->keepAlive(tokens);
    w->keepAlive(offsets);
    w->keepAlive(contexts);
    w->Queue();
    return w->promise();
  } catch (const cl::Error& e) {
    throw makeError(env, e.code(), e.what());
  }
}

void registerTheory(Napi::Env env, Napi::Object exports) { exports.Set("contextCounts", Napi::Function::New(env, ContextCounts, "contextCounts")); }

}  // namespace cl::addon
