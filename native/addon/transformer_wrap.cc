// Transformer: the Node-API face of cl::transformer::Model. Argument checks, typed-array views and
// promise plumbing only; every algorithm lives in native/transformer and native/kernels.
//
// The engine model is held by shared_ptr; each job captures it and takes its mutex on the worker
// thread, so jobs on one model run one after another (the TS wrapper also queues them). The
// synchronous parameter exchange refuses to run while a job holds the model.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "addon/args.hh"
#include "addon/async.hh"
#include "common/errors.hh"
#include "common/parallel.hh"
#include "kernels/cpu/kernels.hh"
#include "transformer/model.hh"

namespace cl::addon {

namespace {

namespace tf = cl::transformer;

double getNum(const Napi::Object& o, const char* key, double def) {
  if (!o.Has(key) || o.Get(key).IsUndefined()) return def;
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) fail("E_BAD_ARGUMENT", std::string(key) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (std::isnan(d)) fail("E_BAD_ARGUMENT", std::string(key) + " must not be NaN");
  return d;
}

uint64_t getInt(const Napi::Object& o, const char* key, double def, double lo, double hi) {
  const double d = getNum(o, key, def);
  if (!std::isfinite(d) || d != std::floor(d) || d < lo || d > hi)
    fail("E_BAD_ARGUMENT", std::string(key) + " must be an integer in [" + std::to_string(static_cast<uint64_t>(lo)) + ", " +
                               std::to_string(static_cast<uint64_t>(hi)) + "], got " + std::to_string(d));
  return static_cast<uint64_t>(d);
}

Napi::Object reportToJs(Napi::Env env, const tf::StepReport& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("step", static_cast<double>(r.step));
  o.Set("totalSteps", static_cast<double>(r.totalSteps));
  o.Set("epoch", static_cast<double>(r.epoch));
  o.Set("loss", r.loss);
  o.Set("lr", r.lr);
  o.Set("gradNorm", r.gradNorm);
  o.Set("tokens", static_cast<double>(r.tokens));
  return o;
}

}  // namespace

class TransformerWrap : public Napi::ObjectWrap<TransformerWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Transformer",
                       {InstanceMethod<&TransformerWrap::Init>("init"), InstanceMethod<&TransformerWrap::Train>("train"),
                        InstanceMethod<&TransformerWrap::Cancel>("cancel"), InstanceMethod<&TransformerWrap::Evaluate>("evaluate"),
                        InstanceMethod<&TransformerWrap::Sample>("sample"), InstanceMethod<&TransformerWrap::Conditional>("conditional"),
                        InstanceMethod<&TransformerWrap::ForwardBackward>("forwardBackward"),
                        InstanceMethod<&TransformerWrap::AdamwStep>("adamwStep"), InstanceMethod<&TransformerWrap::GetGrads>("getGrads"), InstanceMethod<&TransformerWrap::Loss>("loss"),
                        InstanceMethod<&TransformerWrap::GetParams>("getParams"), InstanceMethod<&TransformerWrap::SetParams>("setParams"),
                        InstanceMethod<&TransformerWrap::SetThreads>("setThreads"), InstanceMethod<&TransformerWrap::Info>("info")});
  }

  // new Transformer({ vocabSize, contextLength, hidden, layers, heads, window, intermediate, local: boolean[], bos, eos, threads })
  explicit TransformerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TransformerWrap>(info) {
    Napi::Env env = info.Env();
    guard(env, [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsObject()) fail("E_BAD_ARGUMENT", "Transformer expects an options object");
      Napi::Object o = info[0].As<Napi::Object>();
      tf::Config c;
      c.vocabSize = static_cast<uint32_t>(getInt(o, "vocabSize", 0, 2, 0x7FFFFFFF));
      c.contextLength = static_cast<uint32_t>(getInt(o, "contextLength", 0, 1, 1 << 20));
      c.hidden = static_cast<uint32_t>(getInt(o, "hidden", 0, 1, 1 << 16));
      c.layers = static_cast<uint32_t>(getInt(o, "layers", 0, 1, 1024));
      c.heads = static_cast<uint32_t>(getInt(o, "heads", 0, 1, 1 << 16));
      c.window = static_cast<uint32_t>(getInt(o, "window", 256, 1, 1 << 20));
      c.intermediate = static_cast<uint32_t>(getInt(o, "intermediate", 0, 0, 1 << 20));
      c.bos = static_cast<uint32_t>(getInt(o, "bos", 0, 0, 0x7FFFFFFF));
      c.eos = static_cast<uint32_t>(getInt(o, "eos", 0, 0, 0x7FFFFFFF));
      if (!o.Get("local").IsArray()) fail("E_BAD_ARGUMENT", "local must be an array of booleans, one per layer");
      Napi::Array loc = o.Get("local").As<Napi::Array>();
      for (uint32_t i = 0; i < loc.Length(); ++i) c.local.push_back(loc.Get(i).ToBoolean().Value() ? 1 : 0);
      const int threads = static_cast<int>(getInt(o, "threads", cl::hardwareThreads(), 1, 1024));
      model_ = std::make_shared<tf::Model>(c);
      model_->setThreads(threads);
      return env.Undefined();
    });
  }

 private:
  // A job on the model: runs `job` under the model's mutex on the worker thread.
  template <class Job, class Finish>
  PromiseWorker* makeJob(Napi::Env env, Job job, Finish finish) {
    auto model = model_;
    auto* w = new PromiseWorker(
        env,
        [model, job]() {
          std::lock_guard<std::mutex> lock(model->mutex());
          job(*model);
        },
        finish);
    w->keepAlive(Value());
    return w;
  }

  // init(seed) -> Promise<void>
  Napi::Value Init(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      const uint64_t seed = seedArg(info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1);
      auto* w = makeJob(env, [seed](tf::Model& m) { m.init(seed); }, [](Napi::Env e) { return e.Undefined(); });
      w->Queue();
      return w->promise();
    });
  }

  // train(tokens, offsets, options, onStep?) -> Promise<{ steps, lastLoss, cancelled }>
  Napi::Value Train(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      u32Array(info[0], "tokens");
      u32Array(info[1], "offsets");
      if (info.Length() < 3 || !info[2].IsObject()) fail("E_BAD_ARGUMENT", "train expects an options object");
      Napi::Object o = info[2].As<Napi::Object>();
      tf::TrainRequest r;
      r.epochs = static_cast<uint32_t>(getInt(o, "epochs", 1, 0, 1e9));
      r.steps = getInt(o, "steps", 0, 0, 1e15);
      r.batchSize = static_cast<uint32_t>(getInt(o, "batchSize", 8, 1, 1 << 20));
      r.seqLen = static_cast<uint32_t>(getInt(o, "seqLen", 128, 1, 1 << 20));
      r.lr = getNum(o, "lr", 1e-3);
      r.schedule = static_cast<int>(getInt(o, "schedule", 0, 0, 1));
      r.warmup = getInt(o, "warmup", 0, 0, 1e15);
      r.weightDecay = getNum(o, "weightDecay", 0.0);
      r.clip = getNum(o, "clip", 1.0);
      r.beta1 = getNum(o, "beta1", 0.9);
      r.beta2 = getNum(o, "beta2", 0.95);
      r.eps = getNum(o, "eps", 1e-8);
      r.seed = getInt(o, "seed", 0, 0, 9007199254740991.0);
      const bool hasCb = info.Length() > 3 && info[3].IsFunction();
      std::shared_ptr<Napi::ThreadSafeFunction> tsfn;
      if (hasCb) tsfn = std::make_shared<Napi::ThreadSafeFunction>(Napi::ThreadSafeFunction::New(env, info[3].As<Napi::Function>(), "collapse-lab train", 0, 1));
      auto cancel = std::make_shared<std::atomic<bool>>(false);
      cancel_ = cancel;
      const auto corpus = ownCorpus(info[0], info[1]);  // the worker reads this copy only
      auto result = std::make_shared<tf::TrainResult>();
      auto* w = makeJob(
          env,
          [corpus, r, tsfn, cancel, result](tf::Model& m) {
            struct Release {
              std::shared_ptr<Napi::ThreadSafeFunction> f;
              ~Release() {
                if (f) f->Release();
              }
            } release{tsfn};
            std::function<void(const tf::StepReport&)> progress;
            if (tsfn) {
              progress = [tsfn](const tf::StepReport& rep) {
                auto* copy = new tf::StepReport(rep);
                const napi_status s = tsfn->NonBlockingCall(copy, [](Napi::Env e, Napi::Function cb, tf::StepReport* d) {
                  std::unique_ptr<tf::StepReport> own(d);
                  if (e != nullptr && cb != nullptr) cb.Call({reportToJs(e, *d)});
                });
                if (s != napi_ok) delete copy;
              };
            }
            *result = m.train(corpus->view(), r, progress, cancel.get());
          },
          [result](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            o.Set("steps", static_cast<double>(result->steps));
            o.Set("lastLoss", result->lastLoss);
            o.Set("cancelled", Napi::Boolean::New(e, result->cancelled));
            return o;
          });
      w->Queue();
      return w->promise();
    });
  }

  // cancel(): asks the running train() to stop after its current step.
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    if (cancel_) cancel_->store(true);
    return info.Env().Undefined();
  }

  // evaluate(tokens, offsets, stride, perPosition) -> { promise: Promise<{ logLikelihood, positions }>, logProbs?: Float64Array }
  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      const auto corpus = ownCorpus(info[0], info[1]);  // the worker reads this copy only
      const double st = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0;
      if (!(st >= 0 && st <= 4294967295.0 && st == std::floor(st))) fail("E_BAD_ARGUMENT", "stride must be a non-negative integer");
      const uint32_t stride = static_cast<uint32_t>(st);
      const bool perPosition = info.Length() > 3 && info[3].ToBoolean().Value();
      Napi::Float64Array lp;
      double* lpData = nullptr;
      if (perPosition) {
        lp = Napi::Float64Array::New(env, corpus->view().positions());
        lpData = lp.Data();
      }
      auto res = std::make_shared<tf::EvalResult>();
      auto* w = makeJob(
          env, [corpus, stride, lpData, res](tf::Model& m) { *res = m.evaluate(corpus->view(), stride, lpData); },
          [res](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            o.Set("logLikelihood", res->logLikelihood);
            o.Set("positions", static_cast<double>(res->positions));
            return o;
          });
      if (perPosition) w->keepAlive(lp);
      w->Queue();
      Napi::Object pair = Napi::Object::New(env);
      pair.Set("promise", w->promise());
      if (perPosition) pair.Set("logProbs", lp);
      return pair;
    });
  }

  // sample({ sequences, tokens, maxLength, seed, temperature, topK, topP }) -> Promise<{ tokens, offsets, truncated }>
  Napi::Value Sample(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsObject()) fail("E_BAD_ARGUMENT", "sample expects an options object");
      Napi::Object o = info[0].As<Napi::Object>();
      tf::SampleRequest req;
      req.sequences = getInt(o, "sequences", 0, 0, 4e9);
      req.tokens = getInt(o, "tokens", 0, 0, 4e9);
      req.maxLength = static_cast<uint32_t>(getInt(o, "maxLength", 0, 1, 0xFFFFFFF0u));
      req.seed = getInt(o, "seed", 0, 0, 9007199254740991.0);
      req.temperature = getNum(o, "temperature", 1.0);
      req.topK = static_cast<uint32_t>(getInt(o, "topK", 0, 0, 0xFFFFFFFFu));
      req.topP = getNum(o, "topP", 1.0);
      auto out = std::make_shared<tf::SampleOutput>();
      auto* w = makeJob(
          env, [req, out](tf::Model& m) { *out = m.sample(req); },
          [out](Napi::Env e) -> Napi::Value { return sampleToJs(e, *out); });
      w->Queue();
      return w->promise();
    });
  }

  // conditional(flat, starts) -> { promise, rows: Float32Array (n × V) }; prefix i = flat[starts[i] .. starts[i+1])
  Napi::Value Conditional(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      // Copied first, then checked: the worker reads exactly what was validated.
      const OwnedU32 flat = ownU32(info[0], "prefixes");
      const OwnedU32 starts = ownU32(info[1], "starts");
      const size_t ns = starts->size();
      if (ns == 0) fail("E_BAD_ARGUMENT", "starts must have n + 1 entries");
      const size_t n = ns - 1;
      if ((*starts)[0] != 0 || (*starts)[ns - 1] != flat->size()) fail("E_BAD_ARGUMENT", "starts must begin at 0 and end at prefixes.length");
      const size_t V = model_->config().vocabSize;
      if (n * V > (size_t{1} << 31)) fail("E_BAD_ARGUMENT", "too many rows requested at once (rows × vocabSize > 2^31); ask in batches");
      auto rows = Napi::Float32Array::New(env, n * V);
      float* out = rows.Data();
      auto* w = makeJob(env, [flat, starts, n, out](tf::Model& m) { m.conditional(flat->data(), starts->data(), n, out); }, [](Napi::Env e) { return e.Undefined(); });
      w->keepAlive(rows);
      w->Queue();
      Napi::Object pair = Napi::Object::New(env);
      pair.Set("promise", w->promise());
      pair.Set("rows", rows);
      return pair;
    });
  }

  // Checks the owned copies (validated after the copy, so JS cannot change them afterwards).
  static void checkBatch(const std::vector<uint32_t>& in, const std::vector<uint32_t>& tg, double B, double T, uint32_t V) {
    if (!(B >= 1 && T >= 1 && B == std::floor(B) && T == std::floor(T))) fail("E_BAD_ARGUMENT", "B and T must be positive integers");
    if (in.size() != B * T || tg.size() != B * T) fail("E_BAD_ARGUMENT", "inputs and targets must hold B × T ids");
    for (size_t i = 0; i < in.size(); ++i)
      if (in[i] >= V) fail("E_TOKEN_RANGE", "input token " + std::to_string(in[i]) + " is outside the vocabulary");
    for (size_t i = 0; i < tg.size(); ++i)
      if (tg[i] >= V && tg[i] != kernels::kIgnore) fail("E_TOKEN_RANGE", "target " + std::to_string(tg[i]) + " is outside the vocabulary");
  }

  // forwardBackward(inputs, targets, B, T) -> Promise<number>: mean cross-entropy over non-ignored
  // targets (0xFFFFFFFF); the gradients stay in the model (getGrads, adamwStep). Tests and tools.
  Napi::Value ForwardBackward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      const OwnedU32 in = ownU32(info[0], "inputs");
      const OwnedU32 tg = ownU32(info[1], "targets");
      const double B = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0, T = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : 0;
      checkBatch(*in, *tg, B, T, model_->config().vocabSize);
      if (T > model_->config().contextLength) fail("E_BAD_ARGUMENT", "T is longer than the context");
      auto loss = std::make_shared<double>(0);
      auto* w = makeJob(
          env, [=](tf::Model& m) { *loss = m.forwardBackward(in->data(), tg->data(), static_cast<int>(B), static_cast<int>(T)); },
          [loss](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *loss); });
      w->Queue();
      return w->promise();
    });
  }

  // adamwStep({ lr, beta1, beta2, eps, weightDecay, clip, step }) -> Promise<number> (gradient norm)
  Napi::Value AdamwStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsObject()) fail("E_BAD_ARGUMENT", "adamwStep expects an options object");
      Napi::Object o = info[0].As<Napi::Object>();
      tf::TrainRequest r;
      r.lr = getNum(o, "lr", 1e-3);
      r.beta1 = getNum(o, "beta1", 0.9);
      r.beta2 = getNum(o, "beta2", 0.95);
      r.eps = getNum(o, "eps", 1e-8);
      r.weightDecay = getNum(o, "weightDecay", 0.0);
      r.clip = getNum(o, "clip", 0.0);
      const uint64_t step = getInt(o, "step", 1, 1, 1e15);
      auto norm = std::make_shared<double>(0);
      auto* w = makeJob(
          env, [r, step, norm](tf::Model& m) { *norm = m.optimizerStep(r, r.lr, step); },
          [norm](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *norm); });
      w->Queue();
      return w->promise();
    });
  }

  // loss(inputs, targets, B, T) -> Promise<number>: mean cross-entropy (double sum) over non-ignored targets.
  Napi::Value Loss(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      const OwnedU32 in = ownU32(info[0], "inputs");
      const OwnedU32 tg = ownU32(info[1], "targets");
      const double B = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : 0, T = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : 0;
      checkBatch(*in, *tg, B, T, model_->config().vocabSize);
      if (T > model_->config().contextLength) fail("E_BAD_ARGUMENT", "T is longer than the context");
      size_t count = 0;
      for (const uint32_t t : *tg) count += t != kernels::kIgnore;
      auto loss = std::make_shared<double>(0);
      auto* w = makeJob(
          env, [=](tf::Model& m) { *loss = m.forwardLoss(in->data(), tg->data(), static_cast<int>(B), static_cast<int>(T), nullptr) / std::max<size_t>(1, count); },
          [loss](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, *loss); });
      w->Queue();
      return w->promise();
    });
  }

  // getParams() -> [{ name, shape, data: Float32Array (a copy) }] in block order
  Napi::Value GetParams(const Napi::CallbackInfo& info) { return named(info, false); }
  // getGrads() -> the same for the gradients of the last forwardBackward()
  Napi::Value GetGrads(const Napi::CallbackInfo& info) { return named(info, true); }

  Napi::Value named(const Napi::CallbackInfo& info, bool grads) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      std::unique_lock<std::mutex> lock(model_->mutex(), std::try_to_lock);
      if (!lock.owns_lock()) fail("E_BAD_ARGUMENT", "the model is busy (a train/evaluate/sample job is running); wait for it first");
      const auto& ts = model_->tensors();
      Napi::Array out = Napi::Array::New(env, ts.size());
      for (size_t i = 0; i < ts.size(); ++i) {
        Napi::Object t = Napi::Object::New(env);
        t.Set("name", ts[i].name);
        Napi::Array shape = Napi::Array::New(env, ts[i].shape.size());
        for (size_t d = 0; d < ts[i].shape.size(); ++d) shape.Set(d, static_cast<double>(ts[i].shape[d]));
        t.Set("shape", shape);
        auto data = Napi::Float32Array::New(env, ts[i].size);
        const float* src = (grads ? model_->grads() : model_->params()) + ts[i].offset;
        std::copy(src, src + ts[i].size, data.Data());
        t.Set("data", data);
        out.Set(i, t);
      }
      return out;
    });
  }

  // setParams([{ name, data: Float32Array }]) -> void: copies each named tensor in (all checked first).
  Napi::Value SetParams(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      if (info.Length() < 1 || !info[0].IsArray()) fail("E_BAD_ARGUMENT", "setParams expects an array of { name, data }");
      std::unique_lock<std::mutex> lock(model_->mutex(), std::try_to_lock);
      if (!lock.owns_lock()) fail("E_BAD_ARGUMENT", "the model is busy (a train/evaluate/sample job is running); wait for it first");
      Napi::Array arr = info[0].As<Napi::Array>();
      const auto& ts = model_->tensors();
      std::vector<std::pair<size_t, Napi::Float32Array>> todo;
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value v = arr.Get(i);
        if (!v.IsObject()) fail("E_BAD_ARGUMENT", "setParams: entry " + std::to_string(i) + " is not an object");
        Napi::Object o = v.As<Napi::Object>();
        if (!o.Get("name").IsString()) fail("E_BAD_ARGUMENT", "setParams: entry " + std::to_string(i) + " has no name");
        const std::string name = o.Get("name").As<Napi::String>().Utf8Value();
        size_t idx = ts.size();
        for (size_t j = 0; j < ts.size(); ++j)
          if (ts[j].name == name) idx = j;
        if (idx == ts.size()) fail("E_BAD_ARGUMENT", "setParams: this model has no tensor named " + name);
        Napi::Value d = o.Get("data");
        if (!d.IsTypedArray() || d.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
          fail("E_BAD_ARGUMENT", "setParams: " + name + ".data must be a Float32Array");
        auto fa = d.As<Napi::Float32Array>();
        if (fa.ElementLength() != ts[idx].size)
          fail("E_BAD_ARGUMENT", "setParams: " + name + " needs " + std::to_string(ts[idx].size) + " values, got " + std::to_string(fa.ElementLength()));
        todo.emplace_back(idx, fa);
      }
      for (auto& [idx, fa] : todo) std::copy(fa.Data(), fa.Data() + fa.ElementLength(), model_->params() + ts[idx].offset);
      return env.Undefined();
    });
  }

  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return guard(env, [&]() -> Napi::Value {
      const double t = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : 0;
      if (!(t >= 1 && t <= 1024 && t == std::floor(t))) fail("E_BAD_ARGUMENT", "threads must be an integer in [1, 1024]");
      model_->setThreads(static_cast<int>(t));
      return env.Undefined();
    });
  }

  // info() -> { vocabSize, contextLength, hidden, layers, heads, window, intermediate, local, bos, eos, threads, parameters }
  Napi::Value Info(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const tf::Config& c = model_->config();
    Napi::Object o = Napi::Object::New(env);
    o.Set("vocabSize", c.vocabSize);
    o.Set("contextLength", c.contextLength);
    o.Set("hidden", c.hidden);
    o.Set("layers", c.layers);
    o.Set("heads", c.heads);
    o.Set("window", c.window);
    o.Set("intermediate", c.intermediate);
    Napi::Array loc = Napi::Array::New(env, c.local.size());
    for (size_t i = 0; i < c.local.size(); ++i) loc.Set(i, Napi::Boolean::New(env, c.local[i] != 0));
    o.Set("local", loc);
    o.Set("bos", c.bos);
    o.Set("eos", c.eos);
    o.Set("threads", model_->threads());
    o.Set("parameters", static_cast<double>(model_->numParams()));
    o.Set("avx2", Napi::Boolean::New(env, kernels::cpuHasAvx2()));
    o.Set("isa", Napi::String::New(env, kernels::isaName(kernels::Isa::Auto)));
    return o;
  }

  std::shared_ptr<tf::Model> model_;
  std::shared_ptr<std::atomic<bool>> cancel_;
};

// transformerMatmulSeconds(M, N, K, threads, reps[, isa]) -> best seconds of one forward matmul (benchmarks)
static Napi::Value MatmulSeconds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guard(env, [&]() -> Napi::Value {
    int v[5];
    for (int i = 0; i < 5; ++i) {
      if (info.Length() <= static_cast<size_t>(i) || !info[i].IsNumber()) fail("E_BAD_ARGUMENT", "transformerMatmulSeconds(M, N, K, threads, reps)");
      v[i] = info[i].As<Napi::Number>().Int32Value();
      if (v[i] < 1 || v[i] > 16384) fail("E_BAD_ARGUMENT", "dimensions, threads and reps must be in [1, 16384]");
    }
    // Optional 6th argument: the path, "auto" (default), "avx512", "avx2" or "generic".
    kernels::Isa isa = kernels::Isa::Auto;
    if (info.Length() > 5 && !info[5].IsUndefined()) {
      const std::string name = info[5].IsString() ? info[5].As<Napi::String>().Utf8Value() : "";
      if (name == "avx512") isa = kernels::Isa::Avx512;
      else if (name == "avx2") isa = kernels::Isa::Avx2;
      else if (name == "generic") isa = kernels::Isa::Generic;
      else if (name != "auto") fail("E_BAD_ARGUMENT", "transformerMatmulSeconds: isa must be \"auto\", \"avx512\", \"avx2\" or \"generic\"");
    }
    return Napi::Number::New(env, kernels::timeMatmul(v[0], v[1], v[2], v[3], v[4], isa));
  });
}

void registerTransformer(Napi::Env env, Napi::Object exports) {
  exports.Set("transformerMatmulSeconds", Napi::Function::New(env, MatmulSeconds, "transformerMatmulSeconds"));
  exports.Set("Transformer", TransformerWrap::Define(env));
}

}  // namespace cl::addon
