// Promise-returning AsyncWorker base: Execute() runs the job off the JS thread and never touches
// Node-API; a cl::Error becomes a rejected promise whose Error carries the engine's `code`.
#pragma once
#include <napi.h>

#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "common/errors.hh"

namespace cl::addon {

inline Napi::Error makeError(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Value().Set("code", Napi::String::New(env, code));
  return e;
}

// Runs `job` on the libuv pool and resolves with `finish(env)` on the JS thread. Objects that must
// stay alive while the job runs (typed arrays, the wrapper) are held as persistent references.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Job = std::function<void()>;
  using Finish = std::function<Napi::Value(Napi::Env)>;

  PromiseWorker(Napi::Env env, Job job, Finish finish)
      : Napi::AsyncWorker(env, "collapse-lab"), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)), finish_(std::move(finish)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  void keepAlive(Napi::Value v) {
    if (v.IsObject()) refs_.push_back(Napi::Persistent(v.As<Napi::Object>()));
  }

 protected:
  void Execute() override {
    try {
      job_();
    } catch (const cl::Error& e) {
      code_ = e.code();
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = "E_OUT_OF_MEMORY";
      SetError("out of memory");
    } catch (const std::exception& e) {
      code_ = "E_INTERNAL";
      SetError(std::string("internal error: ") + e.what());
    } catch (...) {
      code_ = "E_INTERNAL";
      SetError("internal error");
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(finish_(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const cl::Error& e) {
      deferred_.Reject(makeError(env, e.code(), e.what()).Value());
    }
    refs_.clear();
  }
  void OnError(const Napi::Error& e) override {
    Napi::Error err = makeError(Env(), code_.empty() ? "E_INTERNAL" : code_, e.Message());
    deferred_.Reject(err.Value());
    refs_.clear();
  }

 private:
  Napi::Promise::Deferred deferred_;
  Job job_;
  Finish finish_;
  std::string code_;
  std::vector<Napi::ObjectReference> refs_;
};

}  // namespace cl::addon
