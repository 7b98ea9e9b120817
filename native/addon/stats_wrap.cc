// stats: the Node-API face of cl::stats (native/stats). Argument checks and typed-array views
// only; every algorithm lives in native/stats. Each call runs in a PromiseWorker off the JS thread;
// the token arrays are copied when a call starts, so the caller may reuse or transfer them at once.
//
// Raw surface (typed in src/native.ts, wrapped by src/metrics/native-metrics.ts):
//   supportBuild(tokens, offsets, orders: Uint32Array, bos, eos, threads)
//       -> Promise<{ handle, sizes: Float64Array, positions, bytes }>
//   supportCompare(tokens, offsets, handle, threads) -> Promise<Float64Array>   (4 per order:
//       order, sample, reference, both, in the handle's order)
//   diversity(tokens, offsets, threads)
//       -> Promise<{ ids: Uint32Array, counts: Float64Array, distinct2, total2, distinct3, total3, repeated }>
//   tailRetention(sampleTokens, referenceTokens, quantile, exclude: Uint32Array)
//       -> Promise<{ tail: Uint32Array, tailTypes, retained, types, maxTailCount, tieCut }>
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "addon/args.hh"
#include "addon/async.hh"
#include "common/errors.hh"
#include "common/parallel.hh"
#include "stats/stats.hh"

namespace cl::addon {

namespace {

// Tags the External that holds a reference support, so another External cannot pass for one.
constexpr napi_type_tag kSupportTag = {0x6c3f0e2a9b1d4c57ull, 0xa4e1d2c3b4a59687ull};

struct SupportHolder {
  std::shared_ptr<const stats::Support> support;
};

uint32_t u32Arg(const Napi::Value& v, const char* what, uint32_t lo, uint32_t hi) {
  if (!v.IsNumber()) fail("E_BAD_ARGUMENT", std::string(what) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < lo || d > hi)
    fail("E_BAD_ARGUMENT", std::string(what) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<uint32_t>(d);
}

int threadsArg(const Napi::CallbackInfo& info, size_t i) {
  if (info.Length() <= i || info[i].IsUndefined()) return cl::hardwareThreads();
  return static_cast<int>(u32Arg(info[i], "threads", 1, 1024));
}

// The corpus a job reads, copied into owned memory on the JS thread (see OwnedCorpus).
std::shared_ptr<const OwnedCorpus> ownedView(const Napi::Value& tokens, const Napi::Value& offsets) {
  auto c = ownCorpus(tokens, offsets);
  if (c->offsets.empty()) fail("E_OFFSETS", "offsets must hold at least one entry (0)");
  return c;
}

std::shared_ptr<const stats::Support> supportArg(const Napi::Value& v) {
  if (!v.IsExternal() || !v.As<Napi::External<SupportHolder>>().CheckTypeTag(&kSupportTag))
    fail("E_BAD_ARGUMENT", "expected a reference support handle made by supportBuild");
  return v.As<Napi::External<SupportHolder>>().Data()->support;
}

Napi::Value SupportBuild(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    u32Array(info[0], "tokens");
    u32Array(info[1], "offsets");
    auto ordersArr = u32Array(info[2], "orders");
    std::vector<int> orders(ordersArr.Data(), ordersArr.Data() + ordersArr.ElementLength());
    const uint32_t bos = u32Arg(info[3], "bos", 0, 0xFFFFFFFFu);
    const uint32_t eos = u32Arg(info[4], "eos", 0, 0xFFFFFFFFu);
    const int threads = threadsArg(info, 5);
    const auto c = ownedView(info[0], info[1]);
    auto result = std::make_shared<std::shared_ptr<const stats::Support>>();
    auto* w = new PromiseWorker(
        env, [c, orders, bos, eos, threads, result] { *result = std::make_shared<const stats::Support>(stats::buildSupport(c->view(), orders, bos, eos, threads)); },
        [result](Napi::Env e) -> Napi::Value {
          const auto& s = *result;
          const int64_t bytes = static_cast<int64_t>(s->bytes());
          auto handle = Napi::External<SupportHolder>::New(e, new SupportHolder{s}, [bytes](Napi::Env fe, SupportHolder* h) {
            Napi::MemoryManagement::AdjustExternalMemory(fe, -bytes);
            delete h;
          });
          handle.TypeTag(&kSupportTag);
          Napi::MemoryManagement::AdjustExternalMemory(e, bytes);
          std::vector<double> sizes;
          for (const auto& t : s->sets) sizes.push_back(static_cast<double>(t.size()));
          Napi::Object o = Napi::Object::New(e);
          o.Set("handle", handle);
          o.Set("sizes", toF64(e, sizes));
          o.Set("positions", static_cast<double>(s->positions));
          o.Set("bytes", static_cast<double>(bytes));
          return o;
        });
    w->Queue();
    return w->promise();
  });
}

Napi::Value SupportCompare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    u32Array(info[0], "tokens");
    u32Array(info[1], "offsets");
    auto ref = supportArg(info[2]);  // the job holds the support itself, whatever the GC does
    const int threads = threadsArg(info, 3);
    const auto c = ownedView(info[0], info[1]);
    auto out = std::make_shared<std::vector<stats::OrderStats>>();
    auto* w = new PromiseWorker(
        env, [c, ref, threads, out] { *out = stats::compareSupport(c->view(), *ref, threads); },
        [out](Napi::Env e) -> Napi::Value {
          auto a = Napi::Float64Array::New(e, out->size() * 4);
          for (size_t i = 0; i < out->size(); ++i) {
            const auto& s = (*out)[i];
            a[4 * i] = s.order;
            a[4 * i + 1] = static_cast<double>(s.sample);
            a[4 * i + 2] = static_cast<double>(s.reference);
            a[4 * i + 3] = static_cast<double>(s.both);
          }
          return a;
        });
    w->Queue();
    return w->promise();
  });
}

Napi::Value Diversity(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const auto c = ownedView(info[0], info[1]);
    const int threads = threadsArg(info, 2);
    auto out = std::make_shared<stats::DiversityCounts>();
    auto* w = new PromiseWorker(
        env, [c, threads, out] { *out = stats::diversityCounts(c->view(), threads); },
        [out](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          o.Set("ids", toU32(e, out->types.ids));
          o.Set("counts", toF64(e, out->types.counts));
          o.Set("distinct2", static_cast<double>(out->distinct2));
          o.Set("total2", static_cast<double>(out->total2));
          o.Set("distinct3", static_cast<double>(out->distinct3));
          o.Set("total3", static_cast<double>(out->total3));
          o.Set("repeated", static_cast<double>(out->repeated));
          return o;
        });
    w->Queue();
    return w->promise();
  });
}

Napi::Value TailRetention(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    const OwnedU32 sample = ownU32(info[0], "sample tokens");  // the worker reads these copies only
    const OwnedU32 reference = ownU32(info[1], "reference tokens");
    if (!info[2].IsNumber()) fail("E_BAD_ARGUMENT", "quantile must be a number");
    const double quantile = info[2].As<Napi::Number>().DoubleValue();
    if (!(quantile > 0 && quantile <= 1)) fail("E_BAD_ARGUMENT", "quantile must be in (0, 1]");
    auto exArr = u32Array(info[3], "exclude");
    std::vector<uint32_t> exclude(exArr.Data(), exArr.Data() + exArr.ElementLength());
    auto out = std::make_shared<stats::TailCounts>();
    auto* w = new PromiseWorker(
        env,
        [sample, reference, quantile, exclude, out] {
          *out = stats::tailRetention(sample->data(), sample->size(), reference->data(), reference->size(), quantile, exclude);
        },
        [out](Napi::Env e) -> Napi::Value {
          Napi::Object o = Napi::Object::New(e);
          o.Set("tail", toU32(e, out->tail));
          o.Set("tailTypes", static_cast<double>(out->tailTypes));
          o.Set("retained", static_cast<double>(out->retained));
          o.Set("types", static_cast<double>(out->types));
          o.Set("maxTailCount", out->maxTailCount);
          o.Set("tieCut", out->tieCut);
          return o;
        });
    w->Queue();
    return w->promise();
  });
}

}  // namespace

Napi::Object defineStats(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("supportBuild", Napi::Function::New(env, SupportBuild, "supportBuild"));
  o.Set("supportCompare", Napi::Function::New(env, SupportCompare, "supportCompare"));
  o.Set("diversity", Napi::Function::New(env, Diversity, "diversity"));
  o.Set("tailRetention", Napi::Function::New(env, TailRetention, "tailRetention"));
  return o;
}

}  // namespace cl::addon
