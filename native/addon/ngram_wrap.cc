// NGram: the Node-API face of cl::ngram::Model. Argument checks and typed-array views only; every
// algorithm lives in native/ngram. The fitted model is immutable and held by shared_ptr: each call
// captures the current one, and fit() lets the old one go when it starts and sets the new one when
// it completes, so concurrent calls never race.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "addon/args.hh"
#include "addon/async.hh"
#include "common/errors.hh"
#include "common/parallel.hh"
#include "ngram/model.hh"

namespace cl::addon {

namespace {

uint32_t getU32(const Napi::Object& o, const char* key, uint32_t def, uint32_t lo, uint32_t hi) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return def;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail("E_BAD_ARGUMENT", std::string(key) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::floor(d) || d < lo || d > hi)
    fail("E_BAD_ARGUMENT", std::string(key) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + std::to_string(d));
  return static_cast<uint32_t>(d);
}

double getF64(const Napi::Object& o, const char* key, double def) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return def;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail("E_BAD_ARGUMENT", std::string(key) + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

}  // namespace

class NGramWrap : public Napi::ObjectWrap<NGramWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    Napi::Function f = DefineClass(env, "NGram",
                       {InstanceMethod<&NGramWrap::Fit>("fit"), InstanceMethod<&NGramWrap::Extend>("extend"), InstanceMethod<&NGramWrap::Evaluate>("evaluate"),
                        InstanceMethod<&NGramWrap::Sample>("sample"), InstanceMethod<&NGramWrap::Conditional>("conditional"),
                        InstanceMethod<&NGramWrap::Counts>("counts"), InstanceMethod<&NGramWrap::Serialize>("serialize"),
                        InstanceMethod<&NGramWrap::Load>("load"), InstanceMethod<&NGramWrap::Info>("info"),
                        InstanceMethod<&NGramWrap::SetThreads>("setThreads")});
    constructor() = Napi::Persistent(f);
    constructor().SuppressDestruct();
    return f;
  }

  static Napi::FunctionReference& constructor() {
    static Napi::FunctionReference ref;
    return ref;
  }

  // The fitted model behind a JS NGram object (for other native components, e.g. the accounting).
  static std::shared_ptr<const ngram::Model> modelOf(const Napi::Value& v) {
    if (!v.IsObject() || constructor().IsEmpty() || !v.As<Napi::Object>().InstanceOf(constructor().Value()))
      fail("E_BAD_ARGUMENT", "expected a native NGram object");
    return NGramWrap::Unwrap(v.As<Napi::Object>())->require();
  }

  // new NGram({ order, smoothing: 0|1|2, k, vocabSize, bos, eos, threads })
  explicit NGramWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NGramWrap>(info) {
    Napi::Env env = info.Env();
    guard(env, [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsObject()) fail("E_BAD_ARGUMENT", "NGram expects an options object");
      Napi::Object o = info[0].As<Napi::Object>();
      opt_.order = static_cast<int>(getU32(o, "order", 3, 1, ngram::kMaxOrder));
      opt_.smoothing = static_cast<ngram::Smoothing>(getU32(o, "smoothing", 2, 0, 2));
      opt_.k = getF64(o, "k", 1.0);
      if (!(opt_.k > 0) || !std::isfinite(opt_.k)) fail("E_BAD_ARGUMENT", "k must be a finite number > 0");
      opt_.vocabSize = getU32(o, "vocabSize", 0, 3, 0x7FFFFFFF);
      opt_.bos = getU32(o, "bos", 1, 0, opt_.vocabSize - 1);
      opt_.eos = getU32(o, "eos", 2, 0, opt_.vocabSize - 1);
      if (opt_.bos == opt_.eos) fail("E_BAD_ARGUMENT", "bos and eos must be different ids for an n-gram model");
      opt_.threads = static_cast<int>(getU32(o, "threads", cl::hardwareThreads(), 1, 1024));
      return env.Undefined();
    });
  }

 private:
  std::shared_ptr<const ngram::Model> require() const {
    if (!model_) fail("E_NOT_FITTED", "the model has not been fitted or loaded yet: call fit() or load() first");
    return model_;
  }

  // fit(tokens, offsets) -> Promise<void>
  Napi::Value Fit(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      const auto corpus = ownCorpus(info[0], info[1]);  // the worker reads this copy only
      const ngram::Options opt = opt_;
      // The previous model is let go now, not when the new one is in: holding both doubled the
      // peak of every refit (an --order 5 run on a growing Accumulate corpus peaked at 3.9 GB).
      // Calls already running keep the model they captured; until the fit completes (or if it
      // fails) this object is unfitted.
      return replaceModel(env, [opt, corpus] { return ngram::Model::fit(opt, corpus->view()); });
    });
  }

  // extend(tokens, offsets) -> Promise<void>: the model of the current training corpus followed by
  // this one (ngram::Model::extend: the full refit's model, from the counts of the new part only).
  Napi::Value Extend(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto base = require();
      const auto corpus = ownCorpus(info[0], info[1]);  // the worker reads this copy only
      const int threads = opt_.threads;
      // As fit(): this object is unfitted until the new model is in; the worker holds the base
      // and lets it go before the estimate.
      return replaceModel(env, [base, corpus, threads]() mutable { return ngram::Model::extend(std::move(base), corpus->view(), threads); });
    });
  }

  // fit() and extend(): this object is unfitted from now on; `make` runs on a worker and its model
  // becomes this object's when the promise resolves.
  template <class Make>
  Napi::Value replaceModel(Napi::Env env, Make make) {
    model_.reset();
    auto result = std::make_shared<std::shared_ptr<const ngram::Model>>();
    auto* w = new PromiseWorker(
        env, [make, result]() mutable { *result = make(); },
        [this, result](Napi::Env e) -> Napi::Value {
          model_ = *result;
          return e.Undefined();
        });
    w->keepAlive(Value());
    w->Queue();
    return w->promise();
  }

  // evaluate(tokens, offsets, perPosition) -> Promise<{ logLikelihood, positions, zeroProbability, logProbs? }>
  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = require();
      const auto corpus = ownCorpus(info[0], info[1]);  // the worker reads this copy only
      const bool perPosition = info.Length() > 2 && info[2].ToBoolean().Value();
      const int threads = opt_.threads;
      Napi::Float64Array lp;
      double* lpData = nullptr;
      if (perPosition) {
        lp = Napi::Float64Array::New(env, corpus->view().positions());
        lpData = lp.Data();
      }
      auto res = std::make_shared<ngram::EvalResult>();
      auto* w = new PromiseWorker(
          env, [model, corpus, lpData, threads, res] { *res = model->evaluate(corpus->view(), lpData, threads); },
          [res, perPosition](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            o.Set("logLikelihood", res->logLikelihood);
            o.Set("positions", static_cast<double>(res->positions));
            o.Set("zeroProbability", static_cast<double>(res->zeroProbability));
            return o;
          });
      if (perPosition) w->keepAlive(lp);
      w->Queue();
      if (!perPosition) return w->promise();
      // Attach the preallocated array once the promise resolves (done in TS: return both).
      Napi::Object pair = Napi::Object::New(env);
      pair.Set("promise", w->promise());
      pair.Set("logProbs", lp);
      return pair;
    });
  }

  // sample({ sequences, tokens, maxLength, seed, temperature, topK, topP }) -> Promise<{ tokens, offsets, truncated }>
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = require();
      if (info.Length() < 1 || !info[0].IsObject()) fail("E_BAD_ARGUMENT", "sample expects an options object");
      Napi::Object o = info[0].As<Napi::Object>();
      ngram::SampleRequest req;
      const double seqs = getF64(o, "sequences", 0), toks = getF64(o, "tokens", 0), seed = getF64(o, "seed", 0);
      if (!(seqs >= 0 && seqs <= 4e9 && seqs == std::floor(seqs))) fail("E_BAD_ARGUMENT", "sequences must be a non-negative integer");
      if (!(toks >= 0 && toks <= 4e9 && toks == std::floor(toks))) fail("E_BAD_ARGUMENT", "tokens must be a non-negative integer");
      req.sequences = static_cast<uint64_t>(seqs);
      req.tokens = static_cast<uint64_t>(toks);
      req.seed = seedArg(seed);
      req.maxLength = getU32(o, "maxLength", 0, 1, 0xFFFFFFF0u);
      req.temperature = getF64(o, "temperature", 1.0);
      req.topK = getU32(o, "topK", 0, 0, 0xFFFFFFFFu);
      req.topP = getF64(o, "topP", 1.0);
      const int threads = opt_.threads;
      auto out = std::make_shared<ngram::SampleOutput>();
      auto* w = new PromiseWorker(
          env, [model, req, threads, out] { *out = model->sample(req, threads); },
          [out](Napi::Env e) -> Napi::Value { return sampleToJs(e, *out); });
      w->Queue();
      return w->promise();
    });
  }

  // conditional(contexts, width, float64) -> Promise<Float32Array | Float64Array> (n × V)
  Napi::Value Conditional(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = require();
      const OwnedU32 ctx = ownU32(info[0], "contexts");  // the worker reads this copy only
      const uint32_t width = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
      const bool f64 = info.Length() > 2 && info[2].ToBoolean().Value();
      const size_t len = ctx->size();
      if (width == 0 && len > 0) fail("E_BAD_ARGUMENT", "context width must be at least 1");
      if (width > 0 && len % width != 0) fail("E_BAD_ARGUMENT", "contexts.length must be a multiple of the context width");
      const size_t n = width ? len / width : 0;
      const size_t V = model->options().vocabSize;
      if (n * V > (size_t{1} << 31)) fail("E_BAD_ARGUMENT", "too many rows requested at once (rows × vocabSize > 2^31); ask in batches");
      const int threads = opt_.threads;
      Napi::Value outArr;
      PromiseWorker* w;
      if (f64) {
        auto out = Napi::Float64Array::New(env, n * V);
        double* d = out.Data();
        w = new PromiseWorker(env, [=] { model->conditional<double>(ctx->data(), n, width, d, threads); }, [](Napi::Env e) { return e.Undefined(); });
        outArr = out;
      } else {
        auto out = Napi::Float32Array::New(env, n * V);
        float* d = out.Data();
        w = new PromiseWorker(env, [=] { model->conditional<float>(ctx->data(), n, width, d, threads); }, [](Napi::Env e) { return e.Undefined(); });
        outArr = out;
      }
      w->keepAlive(outArr);
      w->Queue();
      Napi::Object pair = Napi::Object::New(env);
      pair.Set("promise", w->promise());
      pair.Set("rows", outArr);
      return pair;
    });
  }

  // counts(contexts, width) -> { promise, rows: Float64Array n×V, totals: Float64Array n }
  Napi::Value Counts(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = require();
      const OwnedU32 ctx = ownU32(info[0], "contexts");  // the worker reads this copy only
      const uint32_t width = info[1].IsNumber() ? info[1].As<Napi::Number>().Uint32Value() : 0;
      const size_t len = ctx->size();
      if (width == 0 && len > 0) fail("E_BAD_ARGUMENT", "context width must be at least 1");
      if (width > 0 && len % width != 0) fail("E_BAD_ARGUMENT", "contexts.length must be a multiple of the context width");
      const size_t n = width ? len / width : 0;
      const size_t V = model->options().vocabSize;
      if (n * V > (size_t{1} << 31)) fail("E_BAD_ARGUMENT", "too many rows requested at once; ask in batches");
      auto rows = Napi::Float64Array::New(env, n * V);
      auto totals = Napi::Float64Array::New(env, n);
      double *rd = rows.Data(), *td = totals.Data();
      const int threads = opt_.threads;
      auto* w = new PromiseWorker(env, [=] { model->counts(ctx->data(), n, width, rd, td, threads); }, [](Napi::Env e) { return e.Undefined(); });
      w->keepAlive(rows);
      w->keepAlive(totals);
      w->Queue();
      Napi::Object o = Napi::Object::New(env);
      o.Set("promise", w->promise());
      o.Set("rows", rows);
      o.Set("totals", totals);
      return o;
    });
  }

  // serialize() -> Promise<Buffer>
  Napi::Value Serialize(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      auto model = require();
      auto bytes = std::make_shared<std::vector<uint8_t>>();
      auto* w = new PromiseWorker(
          env, [model, bytes] { *bytes = model->serialize(); },
          [bytes](Napi::Env e) -> Napi::Value { return Napi::Buffer<uint8_t>::Copy(e, bytes->data(), bytes->size()); });
      w->Queue();
      return w->promise();
    });
  }

  // load(buffer) -> Promise<void>: replaces this object's model and options with the file's.
  Napi::Value Load(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsBuffer()) fail("E_BAD_ARGUMENT", "load expects a Buffer");
      auto buf = info[0].As<Napi::Buffer<uint8_t>>();
      // The worker parses an owned copy (JS could detach or rewrite the Buffer meanwhile).
      auto bytes = std::make_shared<const std::vector<uint8_t>>(buf.Data(), buf.Data() + buf.Length());
      const int threads = opt_.threads;
      auto result = std::make_shared<std::shared_ptr<const ngram::Model>>();
      auto* w = new PromiseWorker(
          env, [=] { *result = ngram::Model::deserialize(bytes->data(), bytes->size(), threads); },
          [this, result, threads](Napi::Env e) -> Napi::Value {
            model_ = *result;
            opt_ = model_->options();
            opt_.threads = threads;
            return e.Undefined();
          });
      w->keepAlive(Value());
      w->Queue();
      return w->promise();
    });
  }

  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsNumber()) fail("E_BAD_ARGUMENT", "threads must be a number");
      const double t = info[0].As<Napi::Number>().DoubleValue();
      if (!(t >= 1 && t <= 1024 && t == std::floor(t))) fail("E_BAD_ARGUMENT", "threads must be an integer in [1, 1024]");
      opt_.threads = static_cast<int>(t);
      return env.Undefined();
    });
  }

  // info() -> { fitted, order, smoothing, k, vocabSize, bos, eos, threads, ngrams?, discounts?, ... }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("fitted", Napi::Boolean::New(env, model_ != nullptr));
    o.Set("order", opt_.order);
    o.Set("smoothing", static_cast<int>(opt_.smoothing));
    o.Set("k", opt_.k);
    o.Set("vocabSize", opt_.vocabSize);
    o.Set("bos", opt_.bos);
    o.Set("eos", opt_.eos);
    o.Set("threads", opt_.threads);
    if (model_) {
      auto s = model_->stats();
      auto ng = Napi::Array::New(env, s.ngrams.size());
      auto ds = Napi::Array::New(env, s.discounts.size());
      auto fb = Napi::Array::New(env, s.discountFallback.size());
      for (size_t i = 0; i < s.ngrams.size(); ++i) {
        ng.Set(i, static_cast<double>(s.ngrams[i]));
        auto d = Napi::Array::New(env, 3);
        for (uint32_t j = 0; j < 3; ++j) d.Set(j, s.discounts[i][j]);
        ds.Set(i, d);
        fb.Set(i, Napi::Boolean::New(env, s.discountFallback[i]));
      }
      o.Set("ngrams", ng);
      o.Set("discounts", ds);
      o.Set("discountFallback", fb);
      o.Set("positions", static_cast<double>(s.positions));
      o.Set("sequences", static_cast<double>(s.sequences));
      o.Set("bytes", static_cast<double>(s.bytes));
    }
    return o;
  }

  ngram::Options opt_;
  std::shared_ptr<const ngram::Model> model_;
};

Napi::Function defineNGram(Napi::Env env) { return NGramWrap::Define(env); }
std::shared_ptr<const ngram::Model> ngramModelOf(const Napi::Value& v) { return NGramWrap::modelOf(v); }

}  // namespace cl::addon
