// Node-API glue for the error-accounting kernels (native/theory). Argument checks and typed-array
// views only.
#include <napi.h>

#include <algorithm>
#include <memory>

#include "addon/args.hh"
#include "addon/async.hh"
#include "common/errors.hh"
#include "theory/accounting.hh"
#include "theory/context_counts.hh"

namespace cl::addon {

namespace {
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
    const auto corpus = ownCorpus(info[0], info[1]);         // the worker reads these copies only
    const OwnedU32 contexts = ownU32(info[2], "contexts");
    const uint32_t width = u32arg(info[3], "width");
    const uint32_t V = u32arg(info[4], "vocabSize");
    const uint32_t bos = u32arg(info[5], "bos");
    const uint32_t eos = u32arg(info[6], "eos");
    if (width == 0 ? contexts->size() != 0 : contexts->size() % width != 0)
      fail("E_BAD_ARGUMENT", "contexts.length must be a multiple of width (width 0: an empty array, the single empty context)");
    const size_t n = width == 0 ? 1 : contexts->size() / width;
    auto out = std::make_shared<theory::SparseCounts>();
    auto* w = new PromiseWorker(
        env, [=] { *out = theory::contextCounts(corpus->view(), contexts->data(), n, width, V, bos, eos); },
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
    w->Queue();
    return w->promise();
  } catch (const cl::Error& e) {
    throw makeError(env, e.code(), e.what());
  }
}

std::shared_ptr<const ngram::Model> ngramModelOf(const Napi::Value& v);

namespace {
// Copies a corpus into owned memory held by `keep` (the job captures `keep`) and returns its view.
ngram::CorpusView corpusArg(const Napi::Value& tokens, const Napi::Value& offsets, std::vector<std::shared_ptr<const OwnedCorpus>>& keep) {
  keep.push_back(ownCorpus(tokens, offsets));
  return keep.back()->view();
}
}  // namespace

// Accounting: the per-generation error accounting (native/theory/accounting.hh).
class AccountingWrap : public Napi::ObjectWrap<AccountingWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Accounting", {InstanceMethod<&AccountingWrap::Step>("step"), InstanceMethod<&AccountingWrap::Bytes>("bytes")});
  }

  // new Accounting({ contexts, width, weights, vocabSize, generations, accumulating, rate (or -1), bos, eos }, realTokens, realOffsets)
  explicit AccountingWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<AccountingWrap>(info) {
    Napi::Env env = info.Env();
    try {
      if (info.Length() < 3 || !info[0].IsObject()) fail("E_BAD_ARGUMENT", "Accounting expects (options, tokens, offsets)");
      Napi::Object o = info[0].As<Napi::Object>();
      theory::AccountingConfig c;
      auto ctx = u32Array(o.Get("contexts"), "contexts");
      c.contexts.assign(ctx.Data(), ctx.Data() + ctx.ElementLength());
      c.width = u32arg(o.Get("width"), "width");
      Napi::Value w = o.Get("weights");
      if (!w.IsTypedArray() || w.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) fail("E_BAD_ARGUMENT", "weights must be a Float64Array");
      auto wa = w.As<Napi::Float64Array>();
      c.weights.assign(wa.Data(), wa.Data() + wa.ElementLength());
      c.vocabSize = u32arg(o.Get("vocabSize"), "vocabSize");
      c.generations = static_cast<int>(u32arg(o.Get("generations"), "generations"));
      c.accumulating = o.Get("accumulating").ToBoolean().Value();
      const double rate = o.Get("rate").IsNumber() ? o.Get("rate").As<Napi::Number>().DoubleValue() : -1;
      c.equalShares = rate > 0;
      c.rate = rate > 0 ? rate : 0;
      c.bos = u32arg(o.Get("bos"), "bos");
      c.eos = u32arg(o.Get("eos"), "eos");
      std::vector<std::shared_ptr<const OwnedCorpus>> keep;
      auto real = corpusArg(info[1], info[2], keep);
      acc_ = std::make_shared<theory::Accounting>(std::move(c), real);
    } catch (const cl::Error& e) {
      throw makeError(env, e.code(), e.what());
    } catch (const std::bad_alloc&) {
      throw makeError(env, "E_OUT_OF_MEMORY", "out of memory for the error accounting; lower --probes");
    }
  }

 private:
  // step(n, ngram, sampleTokens, sampleOffsets, trainTokens|null, trainOffsets|null, real, synthetic: Uint32Array, threads,
  //      realPartTokens|null, realPartOffsets|null)
  Napi::Value Step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    try {
      theory::StepInput in;
      in.n = static_cast<int>(u32arg(info[0], "n"));
      in.model = ngramModelOf(info[1]);
      std::vector<std::shared_ptr<const OwnedCorpus>> keep;  // the worker reads these copies only
      in.sample = corpusArg(info[2], info[3], keep);
      in.trainIsPool = info[4].IsNull() || info[4].IsUndefined();
      if (!in.trainIsPool) in.train = corpusArg(info[4], info[5], keep);
      in.real = info[6].ToBoolean().Value();
      auto syn = u32Array(info[7], "synthetic");
      for (size_t i = 0; i < syn.ElementLength(); ++i) in.synthetic.push_back(static_cast<int>(syn[i]));
      const int threads = static_cast<int>(u32arg(info[8], "threads"));
      in.realDraw = info.Length() > 10 && !info[9].IsNull() && !info[9].IsUndefined();
      if (in.realDraw) in.realPart = corpusArg(info[9], info[10], keep);
      auto acc = acc_;
      auto out = std::make_shared<theory::StepResult>();
      auto* w = new PromiseWorker(
          env, [acc, in, keep, threads, out] { *out = acc->step(in, threads); },
          [out](Napi::Env e) -> Napi::Value {
            const auto& r = *out;
            Napi::Object o = Napi::Object::New(e);
            auto arr = [&](const std::vector<double>& v) {
              auto a = Napi::Array::New(e, v.size());
              for (size_t i = 0; i < v.size(); ++i) a.Set(i, v[i]);
              return a;
            };
            o.Set("probes", static_cast<double>(r.probes));
            o.Set("valid", static_cast<double>(r.valid));
            o.Set("vanished", static_cast<double>(r.vanished));
            o.Set("unseen", static_cast<double>(r.unseen));
            o.Set("headSigma", r.headSigma);
            o.Set("tailSigma", r.tailSigma);
            o.Set("weight", r.weight);
            o.Set("deltaWeight", r.deltaWeight);
            o.Set("epsSum", r.epsSum);
            o.Set("deltaSum", r.deltaSum);
            o.Set("sigmaSum", r.sigmaSum);
            o.Set("ESum", r.ESum);
            o.Set("realShareSum", r.realShareSum);
            o.Set("epsMax", r.epsMax);
            o.Set("epsL1", r.epsL1);
            o.Set("deltaL1", r.deltaL1);
            o.Set("sigmaL1", r.sigmaL1);
            o.Set("EL1", r.EL1);
            o.Set("realShare", r.realShare);
            o.Set("headE", r.headE);
            o.Set("headEps", r.headEps);
            o.Set("headDelta", r.headDelta);
            o.Set("tailE", r.tailE);
            o.Set("tailEps", r.tailEps);
            o.Set("tailDelta", r.tailDelta);
            o.Set("residual", r.residual);
            o.Set("predictedL1", r.predictedL1);
            o.Set("deviationL1", r.deviationL1);
            o.Set("coefEps", arr(r.coefEps));
            o.Set("coefDelta", arr(r.coefDelta));
            o.Set("coefSigma", arr(r.coefSigma));
            return o;
          });
      w->keepAlive(info[1]);
      w->keepAlive(Value());
      w->Queue();
      return w->promise();
    } catch (const cl::Error& e) {
      throw makeError(env, e.code(), e.what());
    }
  }

  Napi::Value Bytes(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(acc_->bytes())); }

  std::shared_ptr<theory::Accounting> acc_;
};

void registerTheory(Napi::Env env, Napi::Object exports) {
  exports.Set("contextCounts", Napi::Function::New(env, ContextCounts, "contextCounts"));
  exports.Set("Accounting", AccountingWrap::Define(env));
}

}  // namespace cl::addon
