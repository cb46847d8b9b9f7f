// NativeEngine and NativeKvCache: the engine (native/engine) as JavaScript classes. Every argument is
// checked here (types, typed-array lengths, enums) and every engine error becomes a JS Error, so bad input
// never crashes the process. Calls run synchronously on the calling thread; hook callbacks (interventions
// of kind 'callback') are JS functions called in the middle of a pass.
#include "engine_binding.h"

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "engine/cuda_loader.h"
#include "engine/engine.h"
#include "engine/errors.h"

namespace {

using soo::EngineError;

// ---- argument helpers ----

[[noreturn]] void type_error(Napi::Env env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }

Napi::Object object_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (info.Length() <= i || !info[i].IsObject()) type_error(info.Env(), std::string(name) + ": expected an object");
  return info[i].As<Napi::Object>();
}

double number_field(Napi::Object o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) type_error(o.Env(), where + "." + key + ": expected a number");
  return v.As<Napi::Number>().DoubleValue();
}

int int_field(Napi::Object o, const char* key, const std::string& where, int min, int max) {
  double d = number_field(o, key, where);
  if (!(d >= min && d <= max) || std::floor(d) != d)
    throw Napi::RangeError::New(o.Env(), where + "." + key + ": expected an integer in [" + std::to_string(min) +
                                             ", " + std::to_string(max) + "]");
  return static_cast<int>(d);
}

bool bool_field(Napi::Object o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsBoolean()) type_error(o.Env(), where + "." + key + ": expected a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::string string_field(Napi::Object o, const char* key, const std::string& where) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) type_error(o.Env(), where + "." + key + ": expected a string");
  return v.As<Napi::String>().Utf8Value();
}

template <typename T, napi_typedarray_type K>
const T* typed(Napi::Env env, Napi::Value v, size_t expected, const std::string& what, const char* type_name) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != K)
    type_error(env, what + ": expected a " + type_name);
  auto arr = v.As<Napi::TypedArrayOf<T>>();
  if (expected != SIZE_MAX && arr.ElementLength() != expected)
    throw Napi::RangeError::New(env, what + ": expected " + std::to_string(expected) + " values, got " +
                                         std::to_string(arr.ElementLength()));
  return arr.Data();
}

const float* f32(Napi::Env env, Napi::Value v, size_t n, const std::string& what) {
  return typed<float, napi_float32_array>(env, v, n, what, "Float32Array");
}
const int32_t* i32(Napi::Env env, Napi::Value v, size_t n, const std::string& what) {
  return typed<int32_t, napi_int32_array>(env, v, n, what, "Int32Array");
}
const uint8_t* u8(Napi::Env env, Napi::Value v, size_t n, const std::string& what) {
  return typed<uint8_t, napi_uint8_array>(env, v, n, what, "Uint8Array");
}

Napi::Float32Array to_js(Napi::Env env, const float* data, size_t n) {
  auto out = Napi::Float32Array::New(env, n);
  if (n) std::memcpy(out.Data(), data, n * sizeof(float));
  return out;
}

std::vector<int64_t> shape_of(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) type_error(env, what + ".shape: expected an array of integers");
  auto arr = v.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value d = arr.Get(i);
    if (!d.IsNumber()) type_error(env, what + ".shape: expected integers");
    double x = d.As<Napi::Number>().DoubleValue();
    if (!(x >= 0) || std::floor(x) != x || x > 1e12) throw Napi::RangeError::New(env, what + ".shape: bad dimension");
    shape.push_back(static_cast<int64_t>(x));
  }
  return shape;
}

Napi::Array shape_to_js(Napi::Env env, const std::vector<int64_t>& shape) {
  auto arr = Napi::Array::New(env, shape.size());
  for (size_t i = 0; i < shape.size(); i++) arr.Set(i, Napi::Number::New(env, static_cast<double>(shape[i])));
  return arr;
}

/** [{name, shape, data: Float32Array}] -> NamedTensor list (data copied). */
std::vector<soo::NamedTensor> named_tensors(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsArray()) type_error(env, std::string(what) + ": expected an array of {name, shape, data}");
  auto arr = v.As<Napi::Array>();
  std::vector<soo::NamedTensor> out;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsObject()) type_error(env, std::string(what) + ": expected {name, shape, data} entries");
    Napi::Object o = e.As<Napi::Object>();
    soo::NamedTensor t;
    t.name = string_field(o, "name", what);
    t.shape = shape_of(env, o.Get("shape"), std::string(what) + " \"" + t.name + "\"");
    size_t n = soo::shape_size(t.shape);
    const float* d = f32(env, o.Get("data"), n, std::string(what) + " \"" + t.name + "\".data");
    t.data.assign(d, d + n);
    out.push_back(std::move(t));
  }
  return out;
}

Napi::Array named_to_js(Napi::Env env, const std::vector<soo::NamedTensor>& list) {
  auto arr = Napi::Array::New(env, list.size());
  for (size_t i = 0; i < list.size(); i++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", list[i].name);
    o.Set("shape", shape_to_js(env, list[i].shape));
    o.Set("data", to_js(env, list[i].data.data(), list[i].data.size()));
    arr.Set(i, o);
  }
  return arr;
}

/** A TokenBatch view of {rows, tokens, ids, attentionMask, positionIds}. */
soo::TokenBatch batch_arg(Napi::Env env, Napi::Object o) {
  soo::TokenBatch b;
  b.rows = int_field(o, "rows", "batch", 1, 1 << 20);
  b.tokens = int_field(o, "tokens", "batch", 1, 1 << 20);
  const size_t n = static_cast<size_t>(b.rows) * b.tokens;
  if (n > (1u << 26)) throw Napi::RangeError::New(env, "batch: too many tokens");
  b.ids = i32(env, o.Get("ids"), n, "batch.ids");
  b.mask = u8(env, o.Get("attentionMask"), n, "batch.attentionMask");
  b.positions = i32(env, o.Get("positionIds"), n, "batch.positionIds");
  return b;
}

soo::HookRef hook_arg(Napi::Env /*env*/, Napi::Object o, const std::string& where) {
  soo::HookRef h;
  Napi::Value layer = o.Get("layer");
  if (layer.IsNull() || layer.IsUndefined()) {
    h.layer = -1;
  } else {
    h.layer = int_field(o, "layer", where, -1, 1 << 20);
  }
  h.module = soo::parse_hook_module(string_field(o, "module", where));
  return h;
}

soo::StopPoint stop_arg(Napi::Env env, Napi::Value v) {
  if (v.IsNull() || v.IsUndefined()) return soo::StopPoint{-1, soo::Stage::Full};
  if (!v.IsObject()) type_error(env, "stopAt: expected {layer, stage} or null");
  Napi::Object o = v.As<Napi::Object>();
  std::string stage = string_field(o, "stage", "stopAt");
  int layer = int_field(o, "layer", "stopAt", -1, 1 << 20);
  if (stage == "embed") return {-1, soo::Stage::Embed};
  if (stage == "attn") return {layer, soo::Stage::Attn};
  if (stage == "block") return {layer, soo::Stage::Block};
  throw Napi::RangeError::New(env, "stopAt.stage: expected attn, block or embed");
}

soo::Activation activation_arg(Napi::Env env, const std::string& a) {
  if (a == "silu") return soo::Activation::Silu;
  if (a == "gelu_pytorch_tanh") return soo::Activation::GeluTanh;
  if (a == "gelu") return soo::Activation::GeluErf;
  throw Napi::RangeError::New(env, "config.activation: expected silu, gelu_pytorch_tanh or gelu, got " + a);
}

// ---- NativeKvCache ----

/** NativeKvCache's constructor per Node environment (the main thread and each worker load the addon). */
std::mutex constructors_mutex;
std::map<napi_env, Napi::FunctionReference*> cache_constructors;

Napi::FunctionReference& cache_constructor(Napi::Env env) {
  std::lock_guard<std::mutex> lock(constructors_mutex);
  return *cache_constructors.at(env);
}

class NativeKvCache : public Napi::ObjectWrap<NativeKvCache> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeKvCache",
                       {InstanceAccessor<&NativeKvCache::Length>("length"),
                        InstanceMethod<&NativeKvCache::Dispose>("dispose")});
  }
  explicit NativeKvCache(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeKvCache>(info) {}

  std::shared_ptr<soo::Device> device;  // the cache's buffers live on it
  std::unique_ptr<soo::KvCache> cache;
  const void* owner = nullptr;  // the engine that made it

 private:
  Napi::Value Length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), cache ? cache->length : 0);
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    cache.reset();
    device.reset();
    return info.Env().Undefined();
  }
};

// ---- NativeEngine ----

class NativeEngine : public Napi::ObjectWrap<NativeEngine> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(
        env, "NativeEngine",
        {
            InstanceMethod<&NativeEngine::ExpectedWeights>("expectedWeights"),
            InstanceMethod<&NativeEngine::SetWeight>("setWeight"),
            InstanceMethod<&NativeEngine::Finalize>("finalize"),
            InstanceMethod<&NativeEngine::SetRope>("setRope"),
            InstanceMethod<&NativeEngine::Forward>("forward"),
            InstanceMethod<&NativeEngine::Backward>("backward"),
            InstanceMethod<&NativeEngine::Parameters>("parameters"),
            InstanceMethod<&NativeEngine::GetParameters>("getParameters"),
            InstanceMethod<&NativeEngine::SetParameters>("setParameters"),
            InstanceMethod<&NativeEngine::GradNorm>("gradNorm"),
            InstanceMethod<&NativeEngine::GetGradients>("getGradients"),
            InstanceMethod<&NativeEngine::ZeroGrad>("zeroGrad"),
            InstanceMethod<&NativeEngine::AdamWStep>("adamwStep"),
            InstanceMethod<&NativeEngine::ExportOptimizerState>("exportOptimizerState"),
            InstanceMethod<&NativeEngine::ImportOptimizerState>("importOptimizerState"),
            InstanceMethod<&NativeEngine::AttachAdapter>("attachAdapter"),
            InstanceMethod<&NativeEngine::DetachAdapter>("detachAdapter"),
            InstanceMethod<&NativeEngine::Prefill>("prefill"),
            InstanceMethod<&NativeEngine::Decode>("decode"),
            InstanceMethod<&NativeEngine::Memory>("memory"),
            InstanceMethod<&NativeEngine::ReleaseWorkspace>("releaseWorkspace"),
            InstanceMethod<&NativeEngine::Dispose>("dispose"),
        });
  }

  explicit NativeEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeEngine>(info) {
    guard(info.Env(), [&] {
      Napi::Object c = object_arg(info, 0, "config");
      soo::ModelConfig cfg;
      const std::string w = "config";
      cfg.vocab = int_field(c, "vocabSize", w, 1, 1 << 24);
      cfg.hidden = int_field(c, "hiddenSize", w, 1, 1 << 20);
      cfg.intermediate = int_field(c, "intermediateSize", w, 1, 1 << 22);
      cfg.layers = int_field(c, "numLayers", w, 1, 1 << 12);
      cfg.heads = int_field(c, "numHeads", w, 1, 1 << 12);
      cfg.kv_heads = int_field(c, "numKvHeads", w, 1, 1 << 12);
      cfg.head_dim = int_field(c, "headDim", w, 2, 1 << 14);
      cfg.rms_eps = static_cast<float>(number_field(c, "rmsNormEps", w));
      cfg.tie_embeddings = bool_field(c, "tieWordEmbeddings", w);
      cfg.qkv_bias = bool_field(c, "qkvBias", w);
      cfg.o_bias = bool_field(c, "oProjBias", w);
      cfg.mlp_bias = bool_field(c, "mlpBias", w);
      cfg.activation = activation_arg(info.Env(), string_field(c, "activation", w));
      cfg.embedding_multiplier = static_cast<float>(number_field(c, "embeddingMultiplier", w));
      cfg.norm_one_plus_w = bool_field(c, "normOnePlusW", w);
      cfg.sandwich_norms = bool_field(c, "sandwichNorms", w);
      cfg.attn_softcap = static_cast<float>(number_field(c, "attnSoftcap", w));
      cfg.final_softcap = static_cast<float>(number_field(c, "finalSoftcap", w));
      cfg.attention_scale = static_cast<float>(number_field(c, "attentionScale", w));
      const int32_t* windows = i32(info.Env(), c.Get("layerWindows"), cfg.layers, "config.layerWindows");
      cfg.layer_window.assign(windows, windows + cfg.layers);
      const float* inv = f32(info.Env(), c.Get("invFreq"), cfg.head_dim / 2, "config.invFreq");
      cfg.inv_freq.assign(inv, inv + cfg.head_dim / 2);
      cfg.rope_attention_scaling = static_cast<float>(number_field(c, "ropeAttentionScaling", w));
      const bool all = bool_field(c, "trainableAll", w);
      // device: "cpu" (default) or "cuda" (libsoo_cuda.so at cudaLibrary; cudaMode 0 fp32, 1 bf16 GEMMs).
      const std::string device = c.Has("device") ? string_field(c, "device", w) : std::string("cpu");
      if (device == "cuda") {
        const std::string lib = string_field(c, "cudaLibrary", w);
        const int mode = c.Has("cudaMode") ? int_field(c, "cudaMode", w, 0, 1) : 0;
        device_ = soo::make_cuda_device(lib, mode);
      } else if (device == "cpu") {
        device_ = soo::make_cpu_device();
      } else {
        throw soo::EngineError("config.device must be \"cpu\" or \"cuda\", got \"" + device + "\"");
      }
      engine_ = std::make_unique<soo::Engine>(*device_, std::move(cfg), all);
    });
  }

 private:
  /** Run f, turning engine errors into JS errors (a JS exception thrown by a hook callback passes through). */
  template <typename F>
  static auto guard(Napi::Env env, F&& f) -> decltype(f()) {
    try {
      return f();
    } catch (const Napi::Error&) {
      throw;
    } catch (const EngineError& e) {
      throw Napi::Error::New(env, e.what());
    } catch (const std::bad_alloc&) {
      throw Napi::Error::New(env, "native engine: out of memory");
    } catch (const std::exception& e) {
      throw Napi::Error::New(env, std::string("native engine: ") + e.what());
    }
  }

  soo::Engine& engine(Napi::Env env) {
    if (!engine_) throw Napi::Error::New(env, "this model was disposed");
    return *engine_;
  }

  Napi::Value ExpectedWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = engine(env).expected_weights();
    auto arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", list[i].first);
      o.Set("shape", shape_to_js(env, list[i].second));
      arr.Set(i, o);
    }
    return arr;
  }

  Napi::Value SetWeight(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsString()) type_error(env, "setWeight(name, data): name must be a string");
    std::string name = info[0].As<Napi::String>().Utf8Value();
    const float* d = f32(env, info[1], SIZE_MAX, "setWeight data");
    size_t n = info[1].As<Napi::Float32Array>().ElementLength();
    guard(env, [&] { engine(env).set_weight(name, d, n); });
    return env.Undefined();
  }

  Napi::Value Finalize(const Napi::CallbackInfo& info) {
    guard(info.Env(), [&] { engine(info.Env()).finalize(); });
    return info.Env().Undefined();
  }

  Napi::Value SetRope(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    soo::Engine& e = engine(env);
    const int half = e.config().head_dim / 2;
    const float* inv = f32(env, info[0], half, "setRope invFreq");
    if (info.Length() < 2 || !info[1].IsNumber()) type_error(env, "setRope: attention scaling must be a number");
    float scaling = info[1].As<Napi::Number>().FloatValue();
    guard(env, [&] { e.set_rope(std::vector<float>(inv, inv + half), scaling); });
    return env.Undefined();
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    soo::Engine& e = engine(env);
    soo::ForwardRequest req;
    req.batch = batch_arg(env, object_arg(info, 0, "batch"));
    Napi::Object o = object_arg(info, 1, "options");
    std::string logits = string_field(o, "logits", "options");
    if (logits == "all") req.logits = soo::LogitsMode::All;
    else if (logits == "last") req.logits = soo::LogitsMode::Last;
    else if (logits == "none") req.logits = soo::LogitsMode::None;
    else throw Napi::RangeError::New(env, "options.logits: expected all, last or none");
    req.stop = stop_arg(env, o.Get("stopAt"));
    req.adapter = bool_field(o, "adapter", "options");
    Napi::Value caps = o.Get("captures");
    if (!caps.IsArray()) type_error(env, "options.captures: expected an array");
    auto cap_arr = caps.As<Napi::Array>();
    for (uint32_t i = 0; i < cap_arr.Length(); i++) {
      Napi::Value h = cap_arr.Get(i);
      if (!h.IsObject()) type_error(env, "options.captures: expected {layer, module} entries");
      guard(env, [&] { req.captures.push_back(hook_arg(env, h.As<Napi::Object>(), "capture")); });
    }
    Napi::Value ivs = o.Get("interventions");
    if (!ivs.IsArray()) type_error(env, "options.interventions: expected an array");
    auto iv_arr = ivs.As<Napi::Array>();
    const size_t n = static_cast<size_t>(req.batch.rows) * req.batch.tokens;
    std::vector<Napi::FunctionReference> callbacks;
    callbacks.reserve(iv_arr.Length());
    for (uint32_t i = 0; i < iv_arr.Length(); i++) {
      Napi::Value v = iv_arr.Get(i);
      if (!v.IsObject()) type_error(env, "options.interventions: expected objects");
      Napi::Object io = v.As<Napi::Object>();
      soo::Intervention iv;
      guard(env, [&] { iv.hook = hook_arg(env, io, "intervention"); });
      const int width = int_field(io, "width", "intervention", 1, 1 << 26);
      std::string kind = string_field(io, "kind", "intervention");
      if (kind == "add") {
        iv.kind = soo::Intervention::Kind::Add;
        const float* vec = f32(env, io.Get("vector"), width, "intervention add vector");
        iv.vector.assign(vec, vec + width);
      } else if (kind == "scale") {
        iv.kind = soo::Intervention::Kind::Scale;
        iv.factor = static_cast<float>(number_field(io, "factor", "intervention"));
      } else if (kind == "zero") {
        iv.kind = soo::Intervention::Kind::Zero;
      } else if (kind == "patch") {
        iv.kind = soo::Intervention::Kind::Patch;
        const bool lm_last = iv.hook.module == soo::HookModule::LmHead && req.logits == soo::LogitsMode::Last;
        const size_t rows = lm_last ? static_cast<size_t>(req.batch.rows) : n;
        iv.patch = f32(env, io.Get("tensor"), rows * width, "intervention patch tensor");
        iv.patch_size = rows * width;
      } else if (kind == "callback") {
        iv.kind = soo::Intervention::Kind::Callback;
        Napi::Value fn = io.Get("fn");
        if (!fn.IsFunction()) type_error(env, "intervention callback: fn must be a function");
        callbacks.push_back(Napi::Persistent(fn.As<Napi::Function>()));
        Napi::FunctionReference* ref = &callbacks.back();
        iv.callback = [env, ref](float* data, int rows, int positions, int width) {
          const size_t count = static_cast<size_t>(rows) * positions * width;
          Napi::Object arg = Napi::Object::New(env);
          arg.Set("data", to_js(env, data, count));
          auto shape = Napi::Array::New(env, 3);
          shape.Set(0u, rows);
          shape.Set(1u, positions);
          shape.Set(2u, width);
          arg.Set("shape", shape);
          Napi::Value r = ref->Call({arg});
          if (!r.IsObject()) throw EngineError("intervention callback must return {data, shape}");
          Napi::Value d = r.As<Napi::Object>().Get("data");
          if (!d.IsTypedArray() || d.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
              d.As<Napi::Float32Array>().ElementLength() != count)
            throw EngineError("intervention callback must return a Float32Array of " + std::to_string(count) +
                              " values");
          std::memcpy(data, d.As<Napi::Float32Array>().Data(), count * sizeof(float));
        };
      } else {
        throw Napi::RangeError::New(env, "intervention.kind: expected add, scale, zero, patch or callback");
      }
      req.interventions.push_back(std::move(iv));
    }
    soo::ForwardResult r = guard(env, [&] { return e.forward(req); });
    Napi::Object out = Napi::Object::New(env);
    out.Set("logits", r.logits.empty() ? env.Null() : Napi::Value(to_js(env, r.logits.data(), r.logits.size())));
    out.Set("logitPositions", r.logit_positions);
    auto caps_out = Napi::Array::New(env, r.captures.size());
    for (size_t i = 0; i < r.captures.size(); i++)
      caps_out.Set(i, to_js(env, r.captures[i].data(), r.captures[i].size()));
    out.Set("captures", caps_out);
    return out;
  }

  Napi::Value Backward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    soo::Engine& e = engine(env);
    soo::TokenBatch batch = batch_arg(env, object_arg(info, 0, "batch"));
    const size_t n = static_cast<size_t>(batch.rows) * batch.tokens;
    if (info.Length() < 2 || !info[1].IsArray()) type_error(env, "backward: objectives must be an array");
    auto arr = info[1].As<Napi::Array>();
    std::vector<soo::Objective> objectives;
    for (uint32_t i = 0; i < arr.Length(); i++) {
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) type_error(env, "backward: objectives must be objects");
      Napi::Object o = v.As<Napi::Object>();
      soo::Objective obj;
      std::string kind = string_field(o, "kind", "objective");
      obj.weight = static_cast<float>(number_field(o, "weight", "objective"));
      if (kind == "soo") {
        obj.kind = soo::Objective::Kind::Soo;
        guard(env, [&] { obj.hook = hook_arg(env, o, "objective"); });
        Napi::Value pw = o.Get("poolWeights");
        obj.pool_weights = pw.IsNull() || pw.IsUndefined() ? nullptr : f32(env, pw, n, "soo poolWeights");
      } else if (kind == "lm") {
        obj.kind = soo::Objective::Kind::Lm;
        obj.targets = i32(env, o.Get("targets"), n, "lm targets");
        obj.weights = f32(env, o.Get("weights"), n, "lm weights");
      } else if (kind == "kl") {
        obj.kind = soo::Objective::Kind::Kl;
        obj.weights = f32(env, o.Get("weights"), n, "kl weights");
      } else {
        throw Napi::RangeError::New(env, "objective.kind: expected soo, lm or kl");
      }
      objectives.push_back(obj);
    }
    Napi::Object oo = object_arg(info, 2, "options");
    soo::BackwardOptions opt;
    opt.scale = static_cast<float>(number_field(oo, "scale", "options"));
    opt.dropout = static_cast<float>(number_field(oo, "dropout", "options"));
    double seed = number_field(oo, "dropoutSeed", "options");
    if (!std::isfinite(seed)) throw Napi::RangeError::New(env, "options.dropoutSeed: expected a finite number");
    opt.dropout_seed = static_cast<uint64_t>(static_cast<int64_t>(seed));
    soo::BackwardResult r = guard(env, [&] { return e.backward(batch, objectives, opt); });
    Napi::Object out = Napi::Object::New(env);
    out.Set("loss", r.loss);
    auto values = Napi::Array::New(env, r.values.size());
    for (size_t i = 0; i < r.values.size(); i++) values.Set(i, r.values[i]);
    out.Set("values", values);
    return out;
  }

  Napi::Value Parameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = engine(env).parameters();
    auto arr = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", list[i].first);
      o.Set("shape", shape_to_js(env, list[i].second));
      arr.Set(i, o);
    }
    return arr;
  }
  Napi::Value GetParameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return named_to_js(env, guard(env, [&] { return engine(env).get_parameters(); }));
  }
  Napi::Value SetParameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = named_tensors(env, info[0], "setParameters");
    guard(env, [&] { engine(env).set_parameters(list); });
    return env.Undefined();
  }
  Napi::Value GradNorm(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), engine(info.Env()).grad_norm());
  }
  Napi::Value GetGradients(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return named_to_js(env, guard(env, [&] { return engine(env).get_gradients(); }));
  }
  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    engine(info.Env()).zero_grad();
    return info.Env().Undefined();
  }
  Napi::Value AdamWStep(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = object_arg(info, 0, "options");
    soo::AdamWOptions a;
    a.lr = number_field(o, "lr", "adamw");
    a.beta1 = number_field(o, "beta1", "adamw");
    a.beta2 = number_field(o, "beta2", "adamw");
    a.eps = number_field(o, "eps", "adamw");
    a.weight_decay = number_field(o, "weightDecay", "adamw");
    a.grad_scale = number_field(o, "gradScale", "adamw");
    guard(env, [&] { engine(env).adamw_step(a); });
    return env.Undefined();
  }
  Napi::Value ExportOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return named_to_js(env, guard(env, [&] { return engine(env).export_optimizer_state(); }));
  }
  Napi::Value ImportOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto list = named_tensors(env, info[0], "importOptimizerState");
    guard(env, [&] { engine(env).import_optimizer_state(list); });
    return env.Undefined();
  }
  Napi::Value AttachAdapter(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsArray())
      type_error(env, "attachAdapter(scaling: [{path, scaling}], tensors): scaling must be an array");
    std::map<std::string, float> scaling;
    auto list_s = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < list_s.Length(); i++) {
      Napi::Value e = list_s.Get(i);
      if (!e.IsObject()) type_error(env, "attachAdapter: scaling entries must be {path, scaling}");
      Napi::Object o = e.As<Napi::Object>();
      scaling[string_field(o, "path", "attachAdapter scaling")] =
          static_cast<float>(number_field(o, "scaling", "attachAdapter scaling"));
    }
    auto list = named_tensors(env, info[1], "attachAdapter");
    guard(env, [&] { engine(env).attach_adapter(scaling, list); });
    return env.Undefined();
  }
  Napi::Value DetachAdapter(const Napi::CallbackInfo& info) {
    engine(info.Env()).detach_adapter();
    return info.Env().Undefined();
  }

  Napi::Value Prefill(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    soo::Engine& e = engine(env);
    soo::TokenBatch batch = batch_arg(env, object_arg(info, 0, "batch"));
    if (info.Length() < 2 || !info[1].IsBoolean()) type_error(env, "prefill(batch, adapter)");
    bool adapter = info[1].As<Napi::Boolean>().Value();
    Napi::Object cache_obj = cache_constructor(env).New({});
    NativeKvCache* wrap = NativeKvCache::Unwrap(cache_obj);
    wrap->device = device_;
    wrap->owner = this;
    wrap->cache = std::make_unique<soo::KvCache>();
    std::vector<float> logits = guard(env, [&] { return e.prefill(batch, adapter, *wrap->cache); });
    Napi::Object out = Napi::Object::New(env);
    out.Set("cache", cache_obj);
    out.Set("logits", to_js(env, logits.data(), logits.size()));
    return out;
  }

  Napi::Value Decode(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    soo::Engine& e = engine(env);
    if (info.Length() < 5 || !info[0].IsObject()) type_error(env, "decode(cache, ids, positionIds, mask, adapter)");
    Napi::Object cache_obj = info[0].As<Napi::Object>();
    if (!cache_obj.InstanceOf(cache_constructor(env).Value())) type_error(env, "decode: not a cache from prefill");
    NativeKvCache* wrap = NativeKvCache::Unwrap(cache_obj);
    if (!wrap->cache) throw Napi::Error::New(env, "decode: the cache was disposed");
    if (wrap->owner != this) throw Napi::Error::New(env, "decode: the cache belongs to another model");
    const size_t rows = static_cast<size_t>(wrap->cache->rows);
    const int32_t* ids = i32(env, info[1], rows, "decode ids");
    const int32_t* pos = i32(env, info[2], rows, "decode positionIds");
    const uint8_t* mask = u8(env, info[3], rows, "decode attentionMask");
    if (!info[4].IsBoolean()) type_error(env, "decode: adapter must be a boolean");
    bool adapter = info[4].As<Napi::Boolean>().Value();
    std::vector<float> logits = guard(env, [&] { return e.decode(*wrap->cache, ids, pos, mask, adapter); });
    return to_js(env, logits.data(), logits.size());
  }

  Napi::Value Memory(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    engine(env);
    Napi::Object o = Napi::Object::New(env);
    o.Set("currentBytes", static_cast<double>(device_->current_bytes()));
    o.Set("peakBytes", static_cast<double>(device_->peak_bytes()));
    return o;
  }
  Napi::Value ReleaseWorkspace(const Napi::CallbackInfo& info) {
    engine(info.Env()).release_workspace();
    return info.Env().Undefined();
  }
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    engine_.reset();
    device_.reset();  // a CUDA device's stream, cuBLASLt handle and workspace go now (KV caches keep their own)
    return info.Env().Undefined();
  }

  std::shared_ptr<soo::Device> device_;
  std::unique_ptr<soo::Engine> engine_;
};

}  // namespace

/** cudaProbe(libraryPath): { ok, reason, device: { name, computeCapability, totalBytes, ... } | null }. */
Napi::Value CudaProbe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) type_error(env, "cudaProbe(libraryPath): the path must be a string");
  const soo::CudaProbe p = soo::probe_cuda(info[0].As<Napi::String>().Utf8Value());
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", p.ok);
  o.Set("reason", p.reason);
  if (p.ok) {
    Napi::Object d = Napi::Object::New(env);
    d.Set("index", p.info.device);
    d.Set("count", p.info.device_count);
    d.Set("name", std::string(p.info.name));
    d.Set("computeCapability", std::to_string(p.info.cc_major) + "." + std::to_string(p.info.cc_minor));
    d.Set("totalBytes", static_cast<double>(p.info.total_bytes));
    d.Set("driverVersion", p.info.driver_version);
    d.Set("runtimeVersion", p.info.runtime_version);
    d.Set("cublasLt", std::string(p.info.cublaslt));
    o.Set("device", d);
  } else {
    o.Set("device", env.Null());
  }
  return o;
}

Napi::Object InitEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaProbe", Napi::Function::New(env, CudaProbe, "cudaProbe"));
  exports.Set("NativeEngine", NativeEngine::Define(env));
  Napi::Function cache = NativeKvCache::Define(env);
  {
    std::lock_guard<std::mutex> lock(constructors_mutex);
    cache_constructors[env] = new Napi::FunctionReference(Napi::Persistent(cache));
  }
  napi_env raw = env;
  env.AddCleanupHook([raw] {
    std::lock_guard<std::mutex> lock(constructors_mutex);
    delete cache_constructors[raw];
    cache_constructors.erase(raw);
  });
  exports.Set("NativeKvCache", cache);
  return exports;
}
