// Engine construction and loading: the parameter list in HF naming, validation of config and batches.
#include "engine.h"
#include "kernel_math.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "errors.h"

namespace soo {

void ModelConfig::validate() const {
  auto positive = [](int v, const char* field) {
    if (v <= 0) throw EngineError(std::string("config: ") + field + " must be positive, got " + std::to_string(v));
  };
  positive(vocab, "vocabSize");
  positive(hidden, "hiddenSize");
  positive(intermediate, "intermediateSize");
  positive(layers, "numLayers");
  positive(heads, "numHeads");
  positive(kv_heads, "numKvHeads");
  positive(head_dim, "headDim");
  if (heads % kv_heads != 0) throw EngineError("config: numHeads must be a multiple of numKvHeads");
  if (head_dim % 2 != 0) throw EngineError("config: headDim must be even (RoPE rotates halves)");
  if (static_cast<int>(inv_freq.size()) != head_dim / 2)
    throw EngineError("config: invFreq must have headDim / 2 = " + std::to_string(head_dim / 2) + " values");
  if (static_cast<int>(layer_window.size()) != layers)
    throw EngineError("config: layerWindows must have numLayers = " + std::to_string(layers) + " values");
  for (int w : layer_window)
    if (w < 0) throw EngineError("config: a sliding window must be >= 0");
  if (!(rms_eps > 0)) throw EngineError("config: rmsNormEps must be > 0");
}

Parameter* Engine::add_base(const std::string& name, std::vector<int64_t> shape, bool bf16) {
  auto p = std::make_unique<Parameter>();
  p->name = name;
  p->shape = std::move(shape);
  p->bf16 = bf16;
  if (bf16)
    p->value_bf16 = Buffer<uint16_t>(dev_, shape_size(p->shape));
  else
    p->value = Tensor(dev_, shape_size(p->shape));
  p->trainable = trainable_all_;
  Parameter* raw = p.get();
  base_by_name_[name] = raw;
  base_params_.push_back(std::move(p));
  return raw;
}

Linear Engine::make_linear(const std::string& path, int in, int out, bool bias, int index) {
  Linear lin;
  lin.path = path;
  lin.in = in;
  lin.out = out;
  lin.index = index;
  // A frozen linear weight on a device that holds them in bf16: bf16 bits, half the memory.
  lin.weight = add_base(path + ".weight", {out, in}, !trainable_all_ && dev_.bf16_weights());
  if (bias) lin.bias = add_base(path + ".bias", {out});
  return lin;
}

Engine::Engine(Device& dev, ModelConfig config, bool trainable_all)
    : dev_(dev), config_(std::move(config)), trainable_all_(trainable_all) {
  config_.validate();
  const ModelConfig& c = config_;
  const int H = c.hidden, I = c.intermediate, qw = c.q_width(), kvw = c.kv_width();
  weights_.embed = add_base("model.embed_tokens.weight", {c.vocab, H});
  for (int i = 0; i < c.layers; i++) {
    const std::string p = "model.layers." + std::to_string(i);
    Layer L;
    L.window = c.layer_window[i];
    L.input_norm = add_base(p + ".input_layernorm.weight", {H});
    L.q = make_linear(p + ".self_attn.q_proj", H, qw, c.qkv_bias, i * kLinearSlots + kQ);
    L.k = make_linear(p + ".self_attn.k_proj", H, kvw, c.qkv_bias, i * kLinearSlots + kK);
    L.v = make_linear(p + ".self_attn.v_proj", H, kvw, c.qkv_bias, i * kLinearSlots + kV);
    L.o = make_linear(p + ".self_attn.o_proj", qw, H, c.o_bias, i * kLinearSlots + kO);
    L.post_attn_norm = add_base(p + ".post_attention_layernorm.weight", {H});
    if (c.sandwich_norms) L.pre_ffn_norm = add_base(p + ".pre_feedforward_layernorm.weight", {H});
    L.gate = make_linear(p + ".mlp.gate_proj", H, I, c.mlp_bias, i * kLinearSlots + kGate);
    L.up = make_linear(p + ".mlp.up_proj", H, I, c.mlp_bias, i * kLinearSlots + kUp);
    L.down = make_linear(p + ".mlp.down_proj", I, H, c.mlp_bias, i * kLinearSlots + kDown);
    if (c.sandwich_norms) L.post_ffn_norm = add_base(p + ".post_feedforward_layernorm.weight", {H});
    weights_.layers.push_back(std::move(L));
  }
  weights_.final_norm = add_base("model.norm.weight", {H});
  weights_.lm_head = c.tie_embeddings ? weights_.embed : add_base("lm_head.weight", {c.vocab, H});
}

Engine::~Engine() = default;

std::vector<std::pair<std::string, std::vector<int64_t>>> Engine::expected_weights() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : base_params_) out.emplace_back(p->name, p->shape);
  return out;
}

void Engine::set_weight(const std::string& name, const float* data, size_t count) {
  auto it = base_by_name_.find(name);
  if (it == base_by_name_.end()) throw EngineError("weight \"" + name + "\" is not a tensor of this model");
  Parameter* p = it->second;
  if (count != p->size())
    throw EngineError("weight \"" + name + "\" has " + std::to_string(count) + " values, expected " +
                      std::to_string(p->size()));
  if (p->bf16) {
    std::vector<uint16_t> bits(count);
    for (size_t i = 0; i < count; i++) bits[i] = math::bf16_bits(data[i]);
    p->value_bf16.upload(bits.data());
  } else {
    p->value.upload(data);
  }
  p->loaded = true;
}

void Engine::finalize() {
  for (const auto& p : base_params_)
    if (!p->loaded) throw EngineError("weight \"" + p->name + "\" is missing");
  finalized_ = true;
}

void Engine::set_rope(std::vector<float> inv_freq, float attention_scaling) {
  if (static_cast<int>(inv_freq.size()) != config_.head_dim / 2)
    throw EngineError("setRope: expected headDim / 2 inverse frequencies");
  config_.inv_freq = std::move(inv_freq);
  config_.rope_attention_scaling = attention_scaling;
}

void Engine::validate_batch(const TokenBatch& b) const {
  if (!finalized_) throw EngineError("the model's weights are not loaded");
  if (b.rows <= 0 || b.tokens <= 0) throw EngineError("batch: rows and tokens must be positive");
  const size_t n = static_cast<size_t>(b.rows) * b.tokens;
  for (size_t i = 0; i < n; i++) {
    if (b.ids[i] < 0 || b.ids[i] >= config_.vocab)
      throw EngineError("batch: token id " + std::to_string(b.ids[i]) + " is outside the vocabulary [0, " +
                        std::to_string(config_.vocab) + ")");
    if (b.positions[i] < 0) throw EngineError("batch: position ids must be >= 0");
  }
}

std::vector<Parameter*> Engine::trainable() const {
  std::vector<Parameter*> out;
  if (trainable_all_)
    for (const auto& p : base_params_) out.push_back(p.get());
  else
    for (const auto& p : adapter_params_) out.push_back(p.get());
  return out;
}

std::vector<Linear*> Engine::linears() {
  std::vector<Linear*> out;
  for (Layer& L : weights_.layers)
    for (Linear* lin : {&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down}) out.push_back(lin);
  return out;
}

void Engine::release_workspace() {
  workspace_ = Pass();
  train_pass_ = Pass();
  base_pass_ = Pass();
}

}  // namespace soo
