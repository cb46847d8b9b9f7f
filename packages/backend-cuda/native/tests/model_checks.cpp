// Whole-engine checks on tiny random models: the gradient of every trainable parameter (full training and
// LoRA, every objective, every hook an objective can read, dropout with a fixed seed, early stops) against
// central differences of the engine's own loss along a random direction; the KV cache against the full
// forward; bad input raising EngineError instead of crashing.
#include <cmath>
#include <map>
#include <memory>
#include <string>

#include "../engine/engine.h"
#include "../engine/errors.h"
#include "check.h"

namespace soo::test {
namespace {

struct Arch {
  std::string name;
  ModelConfig cfg;
};

ModelConfig base_config() {
  ModelConfig c;
  c.vocab = 11;
  c.hidden = 16;
  c.intermediate = 24;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.head_dim = 4;
  c.rms_eps = 1e-5f;
  c.attention_scale = 0.5f;
  c.layer_window = {0, 0};
  for (int i = 0; i < c.head_dim / 2; i++)
    c.inv_freq.push_back(static_cast<float>(1.0 / std::pow(10000.0, 2.0 * i / c.head_dim)));
  return c;
}

Arch llama() { return {"llama (GQA, untied)", base_config()}; }

Arch gemma2() {
  ModelConfig c = base_config();
  c.kv_heads = 1;
  c.activation = Activation::GeluTanh;
  c.norm_one_plus_w = true;
  c.sandwich_norms = true;
  c.attn_softcap = 5.0f;
  c.final_softcap = 3.0f;
  c.embedding_multiplier = 4.0f;
  c.tie_embeddings = true;
  c.attention_scale = 0.4f;
  c.layer_window = {3, 0};
  return {"gemma2 (MQA, sandwich norms, soft-capping, window, tied)", c};
}

Arch qwen2() {
  ModelConfig c = base_config();
  c.qkv_bias = true;
  c.tie_embeddings = true;
  c.activation = Activation::GeluErf;
  return {"qwen2 (qkv bias, tied, gelu)", c};
}

std::unique_ptr<Engine> random_engine(Device& dev, const ModelConfig& cfg, bool all, uint64_t seed) {
  auto e = std::make_unique<Engine>(dev, cfg, all);
  Random rng(seed);
  for (auto& [name, shape] : e->expected_weights()) {
    std::vector<float> v(shape_size(shape));
    const bool norm = name.find("norm") != std::string::npos;
    const double bound = norm ? 0.3 : shape.size() == 2 ? 1.2 / std::sqrt(static_cast<double>(shape[1])) : 0.2;
    for (auto& x : v) x = static_cast<float>((norm && !cfg.norm_one_plus_w ? 1.0 : 0.0) + rng.uniform(-bound, bound));
    e->set_weight(name, v.data(), v.size());
  }
  e->finalize();
  return e;
}

/** LoRA pairs (random A and B, so every gradient is non-zero) on the given module suffixes. */
void attach_lora(Engine& e, const std::vector<std::string>& modules, uint64_t seed) {
  Random rng(seed);
  const ModelConfig& c = e.config();
  std::vector<NamedTensor> tensors;
  std::map<std::string, float> scaling;
  const int r = 2;
  for (int i = 0; i < c.layers; i++)
    for (const std::string& m : modules) {
      int in = c.hidden, out = c.hidden;
      if (m == "self_attn.q_proj") out = c.q_width();
      if (m == "self_attn.k_proj" || m == "self_attn.v_proj") out = c.kv_width();
      if (m == "self_attn.o_proj") in = c.q_width();
      if (m == "mlp.gate_proj" || m == "mlp.up_proj") out = c.intermediate;
      if (m == "mlp.down_proj") in = c.intermediate;
      const std::string path = "model.layers." + std::to_string(i) + "." + m;
      const std::string key = "base_model.model." + path;
      scaling[path] = 1.5f - 0.25f * i;
      NamedTensor a{key + ".lora_A.weight", {r, in}, {}}, b{key + ".lora_B.weight", {out, r}, {}};
      for (int k = 0; k < r * in; k++) a.data.push_back(static_cast<float>(rng.uniform(-0.5, 0.5)));
      for (int k = 0; k < out * r; k++) b.data.push_back(static_cast<float>(rng.uniform(-0.5, 0.5)));
      tensors.push_back(a);
      tensors.push_back(b);
    }
  e.attach_adapter(scaling, tensors);
}

const std::vector<std::string> kAllLinear = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                              "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                              "mlp.down_proj"};

/** Two rows of 5 tokens; row 1 right-padded to 3 real tokens. */
struct Batch {
  std::vector<int32_t> ids{1, 4, 2, 9, 3, 5, 7, 1, 0, 0};
  std::vector<uint8_t> mask{1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  std::vector<int32_t> pos{0, 1, 2, 3, 4, 0, 1, 2, 3, 4};
  std::vector<int32_t> targets{4, 2, 9, 3, 0, 7, 1, 0, 0, 0};
  std::vector<float> weights{0.25f, 0.25f, 0.25f, 0.25f, 0, 0.5f, 0.5f, 0, 0, 0};
  std::vector<float> pool{0.2f, 0.2f, 0.2f, 0.2f, 0.2f, 0.3f, 0.3f, 0.4f, 0, 0};
  TokenBatch view() const { return TokenBatch{2, 5, ids.data(), mask.data(), pos.data()}; }
};

/**
 * For every trainable parameter p and a random direction v: the analytic g . v against
 * (L(p + h v) - L(p - h v)) / 2h, with L the engine's own loss (float).
 */
void directional_check(Ledger& L, const std::string& tag, Engine& e, const Batch& batch,
                       const std::vector<Objective>& objectives, const BackwardOptions& opts) {
  e.zero_grad();
  e.backward(batch.view(), objectives, opts);
  std::map<std::string, std::vector<float>> grads;
  for (auto& g : e.get_gradients()) grads[g.name] = g.data;
  std::vector<NamedTensor> params = e.get_parameters();
  Random rng(99);
  const double h = 2e-3;
  double worst = 0;
  std::string worst_name;
  int reached = 0;
  for (size_t k = 0; k < params.size(); k++) {
    std::vector<double> v = rng.vec(params[k].data.size());
    double analytic = 0, g_norm = 0, v_norm = 0;
    for (double x : v) v_norm += x * x;
    auto it = grads.find(params[k].name);
    if (it != grads.end()) {
      reached++;
      for (size_t i = 0; i < v.size(); i++) analytic += it->second[i] * v[i];
      for (float g : it->second) g_norm += static_cast<double>(g) * g;
      g_norm = std::sqrt(g_norm) / opts.scale;
      analytic /= opts.scale;  // gradients are of scale * loss; the returned loss is unscaled
    }
    auto loss_at = [&](double t) {
      std::vector<NamedTensor> moved = params;
      for (size_t i = 0; i < v.size(); i++) moved[k].data[i] = static_cast<float>(params[k].data[i] + t * v[i]);
      e.set_parameters(moved);
      e.zero_grad();
      return e.backward(batch.view(), objectives, opts).loss;
    };
    const double fd = (loss_at(h) - loss_at(-h)) / (2 * h);
    // Relative to the typical size of g . v for a random v (|g| |v| / sqrt(n)), so a direction that happens
    // to be nearly orthogonal to g does not turn float noise into a failure.
    const double typical = g_norm * std::sqrt(v_norm / static_cast<double>(v.size()));
    const double err = std::abs(fd - analytic) / std::max({std::abs(analytic), std::abs(fd), typical, 1e-3});
    if (err > worst) {
      worst = err;
      worst_name = params[k].name;
    }
  }
  e.set_parameters(params);
  L.expect_below(tag + " [" + std::to_string(reached) + "/" + std::to_string(params.size()) + " reached; worst " +
                     worst_name.substr(worst_name.size() > 40 ? worst_name.size() - 40 : 0) + "]",
                 worst, 1e-2);  // float losses: FD noise ~1e-3; a wrong gradient is off by O(1)
}

Objective soo(int layer, HookModule m, const Batch* pooled) {
  Objective o;
  o.kind = Objective::Kind::Soo;
  o.hook = HookRef{layer, m};
  o.pool_weights = pooled ? pooled->pool.data() : nullptr;
  o.weight = 0.7f;
  return o;
}
Objective lm(const Batch& b) {
  Objective o;
  o.kind = Objective::Kind::Lm;
  o.targets = b.targets.data();
  o.weights = b.weights.data();
  o.weight = 1.0f;
  return o;
}
Objective kl(const Batch& b) {
  Objective o;
  o.kind = Objective::Kind::Kl;
  o.weights = b.weights.data();
  o.weight = 2.0f;
  return o;
}

void check_gradients(Ledger& L) {
  auto dev = make_cpu_device();
  Batch b;
  BackwardOptions plain;
  plain.scale = 0.5f;
  for (const Arch& arch : {llama(), gemma2(), qwen2()}) {
    {
      auto e = random_engine(*dev, arch.cfg, true, 1);
      directional_check(L, arch.name + ", full training, lm + pooled soo", *e, b,
                        {lm(b), soo(1, HookModule::Block, &b)}, plain);
      directional_check(L, arch.name + ", full training, soo on embed_tokens", *e, b,
                        {soo(-1, HookModule::EmbedTokens, nullptr)}, plain);
    }
    {
      auto e = random_engine(*dev, arch.cfg, false, 2);
      attach_lora(*e, kAllLinear, 3);
      BackwardOptions dropout = plain;
      dropout.dropout = 0.2f;
      dropout.dropout_seed = 1234;
      directional_check(L, arch.name + ", LoRA + dropout, lm + kl + soo", *e, b,
                        {lm(b), kl(b), soo(1, HookModule::QProj, &b)}, dropout);
      directional_check(L, arch.name + ", LoRA, soo stopping at o_proj", *e, b,
                        {soo(1, HookModule::OProj, nullptr)}, plain);
    }
  }
  // Every hook an objective can read, on the sandwich-norm architecture (which has them all).
  auto e = random_engine(*dev, gemma2().cfg, false, 4);
  attach_lora(*e, kAllLinear, 5);
  const HookModule hooks[] = {HookModule::InputLayernorm, HookModule::QProj,  HookModule::KProj,
                              HookModule::VProj,          HookModule::OProj,  HookModule::SelfAttn,
                              HookModule::PostAttentionLayernorm, HookModule::PreFeedforwardLayernorm,
                              HookModule::GateProj,       HookModule::UpProj, HookModule::DownProj,
                              HookModule::Mlp,            HookModule::PostFeedforwardLayernorm,
                              HookModule::Block};
  for (HookModule m : hooks)
    directional_check(L, std::string("LoRA, pooled soo on layers.0.") + hook_module_name(m), *e, b,
                      {soo(0, m, &b)}, plain);
  directional_check(L, "LoRA, soo on model.norm", *e, b, {soo(-1, HookModule::Norm, nullptr)}, plain);
  directional_check(L, "LoRA, soo on lm_head", *e, b, {soo(-1, HookModule::LmHead, &b)}, plain);
}

void check_kv_cache(Ledger& L) {
  auto dev = make_cpu_device();
  for (const Arch& arch : {llama(), gemma2(), qwen2()}) {
    auto e = random_engine(*dev, arch.cfg, false, 6);
    attach_lora(*e, kAllLinear, 7);
    // Two rows, left-padded: row 1 has two pads. Full sequence of 7, prompt of 4, then 3 decode steps.
    const int T = 7, P = 4;
    std::vector<int32_t> ids{3, 1, 4, 1, 5, 9, 2, 0, 0, 6, 5, 3, 5, 8};
    std::vector<uint8_t> mask{1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
    std::vector<int32_t> pos{0, 1, 2, 3, 4, 5, 6, 0, 0, 0, 1, 2, 3, 4};
    ForwardRequest full;
    full.batch = TokenBatch{2, T, ids.data(), mask.data(), pos.data()};
    ForwardResult all = e->forward(full);
    const int V = arch.cfg.vocab;
    std::vector<int32_t> pids, ppos;
    std::vector<uint8_t> pmask;
    for (int r = 0; r < 2; r++)
      for (int t = 0; t < P; t++) {
        pids.push_back(ids[r * T + t]);
        ppos.push_back(pos[r * T + t]);
        pmask.push_back(mask[r * T + t]);
      }
    KvCache cache;
    std::vector<float> got = e->prefill(TokenBatch{2, P, pids.data(), pmask.data(), ppos.data()}, true, cache);
    double worst = 0;
    for (int t = P - 1; t < T; t++) {
      if (t >= P) {
        int32_t di[2] = {ids[t], ids[T + t]}, dp[2] = {pos[t], pos[T + t]};
        uint8_t dm[2] = {mask[t], mask[T + t]};
        got = e->decode(cache, di, dp, dm, true);
      }
      for (int r = 0; r < 2; r++) {
        std::vector<float> want(all.logits.begin() + (r * T + t) * V, all.logits.begin() + (r * T + t + 1) * V);
        std::vector<float> row(got.begin() + r * V, got.begin() + (r + 1) * V);
        worst = std::max(worst, rel_error(row, want));
      }
    }
    L.expect_below(arch.name + ": prefill + decode = full forward (left padding)", worst, 1e-5);
  }
}

template <typename F>
void expect_engine_error(Ledger& L, const std::string& what, F f) {
  bool thrown = false;
  try {
    f();
  } catch (const EngineError&) {
    thrown = true;
  }
  L.expect("rejects " + what, thrown);
}

void check_errors(Ledger& L) {
  auto dev = make_cpu_device();
  ModelConfig cfg = base_config();
  auto e = random_engine(*dev, cfg, false, 8);
  Batch b;
  expect_engine_error(L, "a token id outside the vocabulary", [&] {
    Batch bad;
    bad.ids[3] = 99;
    ForwardRequest r;
    r.batch = bad.view();
    e->forward(r);
  });
  expect_engine_error(L, "a weight of the wrong size", [&] {
    float x[3] = {0, 0, 0};
    e->set_weight("model.norm.weight", x, 3);
  });
  expect_engine_error(L, "an unknown weight", [&] {
    float x[1] = {0};
    e->set_weight("model.nope", x, 1);
  });
  expect_engine_error(L, "finalize with missing weights", [&] { Engine(*dev, cfg, false).finalize(); });
  expect_engine_error(L, "a hook past the last layer", [&] {
    ForwardRequest r;
    r.batch = b.view();
    r.captures.push_back(HookRef{7, HookModule::Block});
    e->forward(r);
  });
  expect_engine_error(L, "a Gemma-2-only hook on Llama", [&] {
    ForwardRequest r;
    r.batch = b.view();
    r.captures.push_back(HookRef{0, HookModule::PreFeedforwardLayernorm});
    e->forward(r);
  });
  expect_engine_error(L, "backward without an adapter", [&] { e->backward(b.view(), {lm(b)}, {}); });
  expect_engine_error(L, "an adapter tensor of the wrong shape", [&] {
    e->attach_adapter({{"model.layers.0.self_attn.q_proj", 1.0f}}, {NamedTensor{"base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", {2, 3}, {0, 0, 0, 0, 0, 0}},
                             NamedTensor{"base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", {16, 2}, std::vector<float>(32)}});
  });
  attach_lora(*e, {"self_attn.q_proj"}, 9);
  expect_engine_error(L, "an lm target outside the vocabulary", [&] {
    Batch bad;
    bad.targets[0] = 50;
    e->backward(bad.view(), {lm(bad)}, {});
  });
  expect_engine_error(L, "optimizer state for an unknown parameter", [&] {
    e->import_optimizer_state({NamedTensor{"step.nope", {1}, {1}}});
  });
  expect_engine_error(L, "optimizer state without exp_avg_sq", [&] {
    const std::string key = e->parameters()[0].first;
    e->import_optimizer_state({NamedTensor{"exp_avg." + key, e->parameters()[0].second, std::vector<float>(2 * 16)},
                               NamedTensor{"step." + key, {1}, {3}}});
  });
  // A round trip of the optimizer state.
  e->zero_grad();
  e->backward(b.view(), {soo(0, HookModule::QProj, &b)}, {});
  e->adamw_step(AdamWOptions{});
  auto state = e->export_optimizer_state();
  e->import_optimizer_state(state);
  auto again = e->export_optimizer_state();
  bool same = state.size() == again.size();
  for (size_t i = 0; same && i < state.size(); i++) same = state[i].name == again[i].name && state[i].data == again[i].data;
  L.expect("optimizer state round trip (exp_avg, exp_avg_sq, step per parameter)", same && state.size() == 6);
}

}  // namespace

/**
 * Frozen linear weights held in bf16 (the CUDA device's bf16 mode, here on the CPU device that emulates its
 * GEMM): the same model as in fp32 within bf16 tolerances, with the weights in half the bytes.
 */
void check_bf16_weights(Ledger& L) {
  Batch b;
  BackwardOptions plain;
  for (const Arch& arch : {llama(), gemma2()}) {
    auto dev32 = make_cpu_device(false);
    auto dev16 = make_cpu_device(true);
    auto e32 = random_engine(*dev32, arch.cfg, false, 12);
    auto e16 = random_engine(*dev16, arch.cfg, false, 12);
    L.expect(arch.name + ", bf16 weights: frozen linear weights take half the bytes",
             dev16->current_bytes() < dev32->current_bytes() &&
                 dev16->current_bytes() > dev32->current_bytes() / 3);
    attach_lora(*e32, kAllLinear, 13);
    attach_lora(*e16, kAllLinear, 13);
    ForwardRequest r;
    r.batch = b.view();
    const ForwardResult f32 = e32->forward(r), f16 = e16->forward(r);
    const double logit_err = rel_error(f16.logits, f32.logits);
    L.expect_below(arch.name + ", bf16 weights: logits within 8 bf16 roundoffs of fp32", logit_err, 8.0 / 256);
    L.expect(arch.name + ", bf16 weights: the bf16 path ran (logits differ from fp32)", logit_err > 1e-6);
    const std::vector<Objective> objectives{lm(b), soo(1, HookModule::OProj, &b)};
    e32->zero_grad();
    e16->zero_grad();
    const BackwardResult b32 = e32->backward(b.view(), objectives, plain);
    const BackwardResult b16 = e16->backward(b.view(), objectives, plain);
    L.expect_below(arch.name + ", bf16 weights: loss", std::fabs(b16.loss - b32.loss) / std::fabs(b32.loss), 8.0 / 256);
    std::vector<float> g32, g16;
    for (auto& g : e32->get_gradients()) g32.insert(g32.end(), g.data.begin(), g.data.end());
    for (auto& g : e16->get_gradients()) g16.insert(g16.end(), g.data.begin(), g.data.end());
    L.expect_below(arch.name + ", bf16 weights: LoRA gradients within 16 bf16 roundoffs", rel_error(g16, g32),
                   16.0 / 256);
  }
  // Full-parameter training keeps every weight in fp32 even on a bf16-weight device.
  auto dev16 = make_cpu_device(true);
  auto dev32 = make_cpu_device(false);
  auto all16 = random_engine(*dev16, llama().cfg, true, 14);
  auto all32 = random_engine(*dev32, llama().cfg, true, 14);
  L.expect("bf16 weights: full-parameter training keeps fp32 weights", dev16->current_bytes() == dev32->current_bytes());
}

void run_model_checks(Ledger& L) {
  check_bf16_weights(L);
  check_gradients(L);
  check_kv_cache(L);
  check_errors(L);
}

}  // namespace soo::test
