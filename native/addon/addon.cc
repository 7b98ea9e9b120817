// Module entry: registers the native classes. Node-API glue only.
#include <napi.h>

namespace cl::addon {
Napi::Function defineNGram(Napi::Env env);
Napi::Object defineStats(Napi::Env env);
void registerTheory(Napi::Env env, Napi::Object exports);
void registerTransformer(Napi::Env env, Napi::Object exports);
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NGram", cl::addon::defineNGram(env));
  exports.Set("stats", cl::addon::defineStats(env));
  cl::addon::registerTheory(env, exports);
  cl::addon::registerTransformer(env, exports);
  exports.Set("abiVersion", Napi::Number::New(env, 1));
#ifdef COLLAPSE_WITH_CUDA
  exports.Set("cuda", Napi::Boolean::New(env, true));
#else
  exports.Set("cuda", Napi::Boolean::New(env, false));
#endif
  return exports;
}

NODE_API_MODULE(collapse_native, Init)
