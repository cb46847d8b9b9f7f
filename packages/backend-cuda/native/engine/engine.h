// The engine: a decoder (Llama, Mistral, Gemma-2, Qwen2) held on a Device, with LoRA, hooks, objectives,
// backward, AdamW and a KV cache; the primitives of core's backend contract v2 (backend-spec.ts).
//
// The flow of one training call (backward): a forward that keeps what backward needs (Pass), the objectives
// on the hooked outputs and logits (their gradients become "injections" at hook points), then the backward
// walking the same layers in reverse. Forward-only calls reuse one layer's buffers for every layer.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config.h"
#include "hooks.h"
#include "kv_cache.h"
#include "linear.h"
#include "model_weights.h"
#include "pass.h"

namespace soo {

/** Host arrays of a padded batch, [rows, tokens] each; mask 1 = real token. */
struct TokenBatch {
  int rows = 0;
  int tokens = 0;
  const int32_t* ids = nullptr;
  const uint8_t* mask = nullptr;  // may be null: all real
  const int32_t* positions = nullptr;
};

enum class LogitsMode { All, Last, None };

struct ForwardRequest {
  TokenBatch batch;
  LogitsMode logits = LogitsMode::All;
  /** Stop after this point (only with LogitsMode::None); Stage::Full runs everything. */
  StopPoint stop;
  std::vector<HookRef> captures;
  std::vector<Intervention> interventions;
  bool adapter = true;
};

struct ForwardResult {
  std::vector<float> logits;  // [rows, tokens or 1, vocab], empty when none
  int logit_positions = 0;
  std::vector<std::vector<float>> captures;  // in request order, [rows, tokens, width]
};

struct Objective {
  enum class Kind { Soo, Lm, Kl };
  Kind kind = Kind::Soo;
  HookRef hook;                         // Soo
  const float* pool_weights = nullptr;  // Soo: host [rows, tokens] or null
  const int32_t* targets = nullptr;     // Lm: host [rows, tokens]
  const float* weights = nullptr;       // Lm, Kl: host [rows, tokens]
  float weight = 1.0f;
};

struct BackwardOptions {
  float scale = 1.0f;
  float dropout = 0.0f;
  uint64_t dropout_seed = 0;
};

struct BackwardResult {
  double loss = 0;
  std::vector<double> values;
};

struct AdamWOptions {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0, grad_scale = 1.0;
};

struct NamedTensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;
};

class Engine {
 public:
  /** trainable_all: every base weight is a trainable parameter (full-parameter training). */
  Engine(Device& dev, ModelConfig config, bool trainable_all);
  ~Engine();

  const ModelConfig& config() const { return config_; }

  // ---- loading ----
  /** The HF tensor names this model needs, with shapes. */
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected_weights() const;
  /** Copy one weight in (HF key, float32 values). */
  void set_weight(const std::string& name, const float* data, size_t count);
  /** Check every weight arrived; after this the model runs. */
  void finalize();
  /** Replace the RoPE frequencies (dynamic NTK scaling recomputes them per sequence length). */
  void set_rope(std::vector<float> inv_freq, float attention_scaling);

  // ---- passes ----
  ForwardResult forward(const ForwardRequest& request);
  BackwardResult backward(const TokenBatch& batch, const std::vector<Objective>& objectives,
                          const BackwardOptions& options);

  // ---- parameters and optimizer ----
  std::vector<std::pair<std::string, std::vector<int64_t>>> parameters() const;
  std::vector<NamedTensor> get_parameters() const;
  void set_parameters(const std::vector<NamedTensor>& values);
  double grad_norm() const;
  std::vector<NamedTensor> get_gradients() const;
  void zero_grad();
  void adamw_step(const AdamWOptions& options);
  std::vector<NamedTensor> export_optimizer_state() const;
  void import_optimizer_state(const std::vector<NamedTensor>& state);

  // ---- LoRA ----
  /** `scaling` by module path (PEFT's alpha / r, or alpha / sqrt(r) with rsLoRA, per module). */
  void attach_adapter(const std::map<std::string, float>& scaling, const std::vector<NamedTensor>& tensors);
  void detach_adapter();
  bool has_adapter() const { return !adapter_params_.empty(); }

  // ---- generation ----
  /** Run the batch, caching keys and values; returns each row's last-position logits [rows, vocab]. */
  std::vector<float> prefill(const TokenBatch& batch, bool adapter, KvCache& cache);
  /** One token per row through the cache; next-token logits [rows, vocab]. */
  std::vector<float> decode(KvCache& cache, const int32_t* ids, const int32_t* positions, const uint8_t* mask,
                            bool adapter);

  size_t current_bytes() const { return dev_.current_bytes(); }
  size_t peak_bytes() const { return dev_.peak_bytes(); }
  /** Free the reusable workspaces (activations) between calls. */
  void release_workspace();

 private:
  /** What one pass computes (shared by forward, backward, prefill and decode). */
  struct PassRequest {
    TokenBatch batch;
    bool train = false;
    bool adapter = true;
    float dropout = 0.0f;
    uint64_t dropout_seed = 0;
    StopPoint stop;
    LogitsMode logits = LogitsMode::All;
    const std::vector<HookRef>* captures = nullptr;
    const std::vector<Intervention>* interventions = nullptr;
    KvCache* cache = nullptr;
  };

  Parameter* add_base(const std::string& name, std::vector<int64_t> shape, bool bf16 = false);
  Linear make_linear(const std::string& path, int in, int out, bool bias, int index);
  std::vector<Parameter*> trainable() const;
  std::vector<Linear*> linears();
  const Parameter* find_trainable(const std::string& name) const;
  void validate_batch(const TokenBatch& batch) const;

  // forward.cpp
  void run_pass(Pass& pass, const PassRequest& request);
  void prepare_pass(Pass& pass, const PassRequest& request);
  void layer_forward(Pass& pass, int i, bool attn_only);
  void final_forward(Pass& pass);
  void linear_forward(Pass& pass, Linear& lin, const float* x, float* y, LinearActs& acts) {
    soo::linear_forward(dev_, lin, pass.n, pass.adapter, pass.train ? pass.dropout : 0.0f, pass.dropout_seed, x, y,
                        acts);
  }
  void emit(Pass& pass, HookModule module, int layer, float* data, int width, int positions);

  // backward.cpp
  void layer_backward(Pass& pass, int i, bool attn_only, bool top);
  void final_backward(Pass& pass, float* dlogits);
  void embedding_backward(Pass& pass);
  void linear_backward(Pass& pass, Linear& lin, const float* x, const LinearActs& acts, const float* dy, float* dx) {
    soo::linear_backward(dev_, lin, pass.n, pass.adapter, pass.dropout, x, acts, dy, dx, pass.d_lora, pass.d_lora_in);
  }
  void inject(Pass& pass, HookModule module, int layer, float* grad);

  Device& dev_;
  ModelConfig config_;
  bool trainable_all_;
  bool finalized_ = false;
  std::vector<std::unique_ptr<Parameter>> base_params_;
  std::map<std::string, Parameter*> base_by_name_;
  std::vector<std::unique_ptr<Parameter>> adapter_params_;
  ModelWeights weights_;
  Pass workspace_;      // forward-only passes
  Pass train_pass_;     // backward's activations
  Pass base_pass_;      // KL's frozen-model pass
};

}  // namespace soo
