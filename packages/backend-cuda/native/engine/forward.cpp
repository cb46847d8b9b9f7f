// The forward pass, flat and in HF module order (transformers' modeling_llama / gemma2 / qwen2 / mistral):
//
//   h = embed_tokens(ids) * multiplier
//   per layer:  x = input_layernorm(h); q, k, v = proj(x); rope(q, k); a = o_proj(attention)
//               [Gemma-2: a = post_attention_layernorm(a)];  h1 = h + a
//               y = post_attention_layernorm(h1) [Gemma-2: pre_feedforward_layernorm]
//               m = down(act(gate(y)) * up(y)) [Gemma-2: post_feedforward_layernorm(m)];  h = h1 + m
//   z = lm_head(norm(h)) [Gemma-2: cap * tanh(z / cap)]
//
// Every hook point is emitted where its module's output is complete: interventions rewrite it in place,
// captures copy it. With `train` every layer keeps its own activations for backward.
#include <algorithm>
#include <cmath>

#include "engine.h"
#include "errors.h"

namespace soo {


namespace {

void ensure(Device& dev, Tensor& t, size_t n) { t.resize(dev, n); }

float* residual_at(Pass& p, int i) {
  return p.train ? p.residual[i].data() : p.residual[i % 2].data();
}

LayerActs& acts_at(Pass& p, int i) { return p.train ? p.layers[i] : p.layers[0]; }


}  // namespace

void Engine::prepare_pass(Pass& p, const PassRequest& r) {
  const ModelConfig& c = config_;
  const TokenBatch& b = r.batch;
  p.rows = b.rows;
  p.tokens = b.tokens;
  p.n = b.rows * b.tokens;
  p.cache = r.cache;
  p.past = r.cache ? r.cache->length : 0;
  p.keys = p.past + b.tokens;
  p.train = r.train;
  p.adapter = r.adapter;
  p.dropout = r.dropout;
  p.dropout_seed = r.dropout_seed;
  p.stop = r.stop;
  p.interventions = r.interventions;
  p.logit_positions = r.stop.stage != Stage::Full || r.logits == LogitsMode::None ? 0
                      : r.logits == LogitsMode::Last                               ? 1
                                                                                   : b.tokens;

  p.host_ids.assign(b.ids, b.ids + p.n);
  p.ids.resize(dev_, p.n);
  p.ids.upload(p.host_ids.data());

  // RoPE tables [n, head_dim / 2], float32 as transformers: angle = inv_freq * position, then cos/sin,
  // times the attention scaling.
  const int half = c.head_dim / 2;
  std::vector<float> cos(static_cast<size_t>(p.n) * half), sin(cos.size());
  for (int t = 0; t < p.n; t++) {
    const float pos = static_cast<float>(b.positions[t]);
    for (int i = 0; i < half; i++) {
      const float angle = c.inv_freq[i] * pos;
      cos[static_cast<size_t>(t) * half + i] = static_cast<float>(std::cos(static_cast<double>(angle))) * c.rope_attention_scaling;
      sin[static_cast<size_t>(t) * half + i] = static_cast<float>(std::sin(static_cast<double>(angle))) * c.rope_attention_scaling;
    }
  }
  ensure(dev_, p.cos, cos.size());
  ensure(dev_, p.sin, sin.size());
  p.cos.upload(cos.data());
  p.sin.upload(sin.data());

  if (r.cache) {
    KvCache& kv = *r.cache;
    kv.reserve(dev_, c.layers, b.tokens);
    for (int row = 0; row < b.rows; row++)
      for (int t = 0; t < b.tokens; t++)
        kv.key_mask[static_cast<size_t>(row) * kv.capacity + kv.length + t] =
            b.mask ? b.mask[static_cast<size_t>(row) * b.tokens + t] != 0 : 1;
    kv.key_mask_device.upload(kv.key_mask.data());
    p.has_key_mask = true;
  } else if (b.mask) {
    p.key_mask.resize(dev_, p.n);
    std::vector<uint8_t> m(b.mask, b.mask + p.n);
    for (auto& x : m) x = x != 0;
    p.key_mask.upload(m.data());
    p.has_key_mask = true;
  } else {
    p.has_key_mask = false;
  }

  const int last_layer = r.stop.stage == Stage::Full ? c.layers - 1 : r.stop.layer;
  const int layer_count = std::max(0, last_layer + 1);
  const size_t nh = static_cast<size_t>(p.n) * c.hidden;
  const size_t residuals = p.train ? layer_count + 1 : 2;
  if (p.residual.size() != residuals) p.residual.resize(residuals);
  for (auto& t : p.residual) ensure(dev_, t, nh);
  const size_t act_sets = p.train ? std::max(layer_count, 1) : 1;
  if (p.layers.size() != act_sets) p.layers.resize(act_sets);

  p.capture_hooks = r.captures ? *r.captures : std::vector<HookRef>{};
  p.captures.clear();
  p.captures.resize(p.capture_hooks.size());
  p.injections.clear();
}

void Engine::emit(Pass& p, HookModule module, int layer, float* data, int width, int positions) {
  const HookRef ref{layer, module};
  const size_t rows = static_cast<size_t>(p.rows) * positions;
  const size_t count = rows * width;
  if (p.interventions) {
    for (const Intervention& iv : *p.interventions) {
      if (!(iv.hook == ref)) continue;
      switch (iv.kind) {
        case Intervention::Kind::Add: {
          Tensor v(dev_, width);
          v.upload(iv.vector.data());
          dev_.add_row_vector(data, v.data(), static_cast<int>(rows), width);
          break;
        }
        case Intervention::Kind::Scale:
          dev_.scale(data, iv.factor, count);
          break;
        case Intervention::Kind::Zero:
          dev_.zero(data, count * sizeof(float));
          break;
        case Intervention::Kind::Patch:
          dev_.upload(data, iv.patch, count * sizeof(float));
          break;
        case Intervention::Kind::Callback: {
          std::vector<float> host(count);
          dev_.download(host.data(), data, count * sizeof(float));
          iv.callback(host.data(), p.rows, positions, width);
          dev_.upload(data, host.data(), count * sizeof(float));
          break;
        }
      }
    }
  }
  for (size_t j = 0; j < p.capture_hooks.size(); j++) {
    if (!(p.capture_hooks[j] == ref)) continue;
    ensure(dev_, p.captures[j], count);
    dev_.copy(p.captures[j].data(), data, count * sizeof(float));
  }
}

void Engine::layer_forward(Pass& p, int i, bool attn_only) {
  const ModelConfig& c = config_;
  Layer& L = weights_.layers[i];
  LayerActs& a = acts_at(p, i);
  const int N = p.n, H = c.hidden, I = c.intermediate, qw = c.q_width(), kvw = c.kv_width();
  const int T = p.tokens, B = p.rows;
  const bool g1 = c.norm_one_plus_w;
  float* x_in = residual_at(p, i);

  // Attention block.
  ensure(dev_, a.ln1, static_cast<size_t>(N) * H);
  ensure(dev_, a.rstd1, N);
  dev_.rmsnorm_forward(a.ln1.data(), a.rstd1.data(), x_in, L.input_norm->value.data(), N, H, c.rms_eps, g1);
  emit(p, HookModule::InputLayernorm, i, a.ln1.data(), H, T);

  Tensor& q = p.scratch_q;
  Tensor& k = p.scratch_k;
  ensure(dev_, q, static_cast<size_t>(N) * qw);
  ensure(dev_, k, static_cast<size_t>(N) * kvw);
  ensure(dev_, a.v, static_cast<size_t>(N) * kvw);
  linear_forward(p, L.q, a.ln1.data(), q.data(), a.lin[kQ]);
  emit(p, HookModule::QProj, i, q.data(), qw, T);
  linear_forward(p, L.k, a.ln1.data(), k.data(), a.lin[kK]);
  emit(p, HookModule::KProj, i, k.data(), kvw, T);
  linear_forward(p, L.v, a.ln1.data(), a.v.data(), a.lin[kV]);
  emit(p, HookModule::VProj, i, a.v.data(), kvw, T);

  ensure(dev_, a.q_rot, static_cast<size_t>(N) * qw);
  ensure(dev_, a.k_rot, static_cast<size_t>(N) * kvw);
  dev_.rope_forward(a.q_rot.data(), q.data(), p.cos.data(), p.sin.data(), N, c.heads, c.head_dim);
  dev_.rope_forward(a.k_rot.data(), k.data(), p.cos.data(), p.sin.data(), N, c.kv_heads, c.head_dim);

  const float* keys = a.k_rot.data();
  const float* values = a.v.data();
  int64_t kv_stride = static_cast<int64_t>(T) * kvw;
  const uint8_t* key_mask = p.has_key_mask ? p.key_mask.data() : nullptr;
  int64_t mask_stride = T;
  if (p.cache) {
    KvCache& kv = *p.cache;
    const size_t row = static_cast<size_t>(kv.capacity) * kvw;
    for (int b = 0; b < B; b++) {
      const size_t dst = b * row + static_cast<size_t>(p.past) * kvw, src = static_cast<size_t>(b) * T * kvw;
      dev_.copy(kv.keys[i].data() + dst, a.k_rot.data() + src, sizeof(float) * T * kvw);
      dev_.copy(kv.values[i].data() + dst, a.v.data() + src, sizeof(float) * T * kvw);
    }
    keys = kv.keys[i].data();
    values = kv.values[i].data();
    kv_stride = static_cast<int64_t>(row);
    key_mask = kv.key_mask_device.data();
    mask_stride = kv.capacity;
  }
  AttentionShape s{B,  T,        p.keys, p.past,  c.heads,        c.kv_heads,  c.head_dim,
                   static_cast<int64_t>(T) * qw, kv_stride, c.attention_scale, c.attn_softcap, L.window};
  const size_t score_count = static_cast<size_t>(B) * c.heads * T * p.keys;
  ensure(dev_, a.probs, score_count);
  const bool keep_capped = c.attn_softcap > 0 && p.train;
  if (keep_capped) ensure(dev_, a.capped, score_count);
  ensure(dev_, a.ctx, static_cast<size_t>(N) * qw);
  dev_.attention_forward(a.ctx.data(), a.probs.data(), keep_capped ? a.capped.data() : nullptr, a.q_rot.data(), keys,
                         values, key_mask, mask_stride, s);

  Tensor& o = c.sandwich_norms ? a.o : p.scratch_o;
  ensure(dev_, o, static_cast<size_t>(N) * H);
  linear_forward(p, L.o, a.ctx.data(), o.data(), a.lin[kO]);
  emit(p, HookModule::OProj, i, o.data(), H, T);
  emit(p, HookModule::SelfAttn, i, o.data(), H, T);
  if (attn_only) return;

  const float* attn_out = o.data();
  if (c.sandwich_norms) {
    ensure(dev_, a.pa_out, static_cast<size_t>(N) * H);
    ensure(dev_, a.rstd_pa, N);
    dev_.rmsnorm_forward(a.pa_out.data(), a.rstd_pa.data(), o.data(), L.post_attn_norm->value.data(), N, H,
                         c.rms_eps, g1);
    emit(p, HookModule::PostAttentionLayernorm, i, a.pa_out.data(), H, T);
    attn_out = a.pa_out.data();
  }
  ensure(dev_, a.h1, static_cast<size_t>(N) * H);
  dev_.copy(a.h1.data(), x_in, sizeof(float) * N * H);
  dev_.axpy(a.h1.data(), attn_out, 1.0f, static_cast<size_t>(N) * H);

  // MLP block.
  Parameter* ffn_norm = c.sandwich_norms ? L.pre_ffn_norm : L.post_attn_norm;
  ensure(dev_, a.ln2, static_cast<size_t>(N) * H);
  ensure(dev_, a.rstd2, N);
  dev_.rmsnorm_forward(a.ln2.data(), a.rstd2.data(), a.h1.data(), ffn_norm->value.data(), N, H, c.rms_eps, g1);
  emit(p, c.sandwich_norms ? HookModule::PreFeedforwardLayernorm : HookModule::PostAttentionLayernorm, i,
       a.ln2.data(), H, T);
  ensure(dev_, a.gate, static_cast<size_t>(N) * I);
  ensure(dev_, a.up, static_cast<size_t>(N) * I);
  ensure(dev_, a.act, static_cast<size_t>(N) * I);
  linear_forward(p, L.gate, a.ln2.data(), a.gate.data(), a.lin[kGate]);
  emit(p, HookModule::GateProj, i, a.gate.data(), I, T);
  linear_forward(p, L.up, a.ln2.data(), a.up.data(), a.lin[kUp]);
  emit(p, HookModule::UpProj, i, a.up.data(), I, T);
  dev_.gated_act_forward(a.act.data(), a.gate.data(), a.up.data(), static_cast<size_t>(N) * I, c.activation);
  Tensor& down = c.sandwich_norms ? a.down : p.scratch_down;
  ensure(dev_, down, static_cast<size_t>(N) * H);
  linear_forward(p, L.down, a.act.data(), down.data(), a.lin[kDown]);
  emit(p, HookModule::DownProj, i, down.data(), H, T);
  emit(p, HookModule::Mlp, i, down.data(), H, T);
  const float* mlp_out = down.data();
  if (c.sandwich_norms) {
    ensure(dev_, a.pf_out, static_cast<size_t>(N) * H);
    ensure(dev_, a.rstd_pf, N);
    dev_.rmsnorm_forward(a.pf_out.data(), a.rstd_pf.data(), down.data(), L.post_ffn_norm->value.data(), N, H,
                         c.rms_eps, g1);
    emit(p, HookModule::PostFeedforwardLayernorm, i, a.pf_out.data(), H, T);
    mlp_out = a.pf_out.data();
  }
  float* x_out = residual_at(p, i + 1);
  dev_.copy(x_out, a.h1.data(), sizeof(float) * N * H);
  dev_.axpy(x_out, mlp_out, 1.0f, static_cast<size_t>(N) * H);
  emit(p, HookModule::Block, i, x_out, H, T);
}

void Engine::final_forward(Pass& p) {
  const ModelConfig& c = config_;
  const int N = p.n, H = c.hidden, V = c.vocab;
  ensure(dev_, p.final_norm, static_cast<size_t>(N) * H);
  ensure(dev_, p.rstd_final, N);
  dev_.rmsnorm_forward(p.final_norm.data(), p.rstd_final.data(), residual_at(p, c.layers),
                       weights_.final_norm->value.data(), N, H, c.rms_eps, c.norm_one_plus_w);
  emit(p, HookModule::Norm, -1, p.final_norm.data(), H, p.tokens);
  if (p.logit_positions == 0) return;
  const float* src = p.final_norm.data();
  int rows = N;
  if (p.logit_positions == 1 && p.tokens > 1) {
    // 'last': the batch's last position of every row.
    ensure(dev_, p.logits_rows, static_cast<size_t>(p.rows) * H);
    for (int b = 0; b < p.rows; b++)
      dev_.copy(p.logits_rows.data() + static_cast<size_t>(b) * H,
                p.final_norm.data() + (static_cast<size_t>(b) * p.tokens + p.tokens - 1) * H, sizeof(float) * H);
    src = p.logits_rows.data();
    rows = p.rows;
  } else if (p.logit_positions == 1) {
    rows = p.rows;
  }
  ensure(dev_, p.logits, static_cast<size_t>(rows) * V);
  dev_.gemm(false, true, rows, V, H, 1.0f, src, H, weights_.lm_head->value.data(), H, 0.0f, p.logits.data(), V);
  emit(p, HookModule::LmHead, -1, p.logits.data(), V, p.logit_positions);
  if (c.final_softcap > 0) dev_.softcap_forward(p.logits.data(), c.final_softcap, static_cast<size_t>(rows) * V);
}

void Engine::run_pass(Pass& p, const PassRequest& r) {
  prepare_pass(p, r);
  const ModelConfig& c = config_;
  const int N = p.n, H = c.hidden;
  float* h0 = residual_at(p, 0);
  dev_.embedding_forward(h0, weights_.embed->value.data(), p.ids.data(), N, H);
  emit(p, HookModule::EmbedTokens, -1, h0, H, p.tokens);
  if (c.embedding_multiplier != 1.0f) dev_.scale(h0, c.embedding_multiplier, static_cast<size_t>(N) * H);
  if (r.stop.stage == Stage::Embed) return;
  const int last = r.stop.stage == Stage::Full ? c.layers - 1 : r.stop.layer;
  for (int i = 0; i <= last; i++) {
    const bool attn_only = r.stop.stage == Stage::Attn && i == r.stop.layer;
    layer_forward(p, i, attn_only);
    if (attn_only) break;
  }
  if (r.stop.stage == Stage::Full) final_forward(p);
}

// ---- public passes ----

namespace {

int hook_width(const ModelConfig& c, HookModule m) {
  switch (m) {
    case HookModule::QProj:
      return c.q_width();
    case HookModule::KProj:
    case HookModule::VProj:
      return c.kv_width();
    case HookModule::GateProj:
    case HookModule::UpProj:
      return c.intermediate;
    case HookModule::LmHead:
      return c.vocab;
    default:
      return c.hidden;
  }
}

void check_hook(const ModelConfig& c, const HookRef& h) {
  const bool global = h.module == HookModule::EmbedTokens || h.module == HookModule::Norm ||
                      h.module == HookModule::LmHead;
  if (global ? h.layer != -1 : (h.layer < 0 || h.layer >= c.layers))
    throw EngineError(std::string("hook ") + hook_module_name(h.module) + " at layer " + std::to_string(h.layer) +
                      " does not exist in this model");
  const bool sandwich_only =
      h.module == HookModule::PreFeedforwardLayernorm || h.module == HookModule::PostFeedforwardLayernorm;
  if (sandwich_only && !c.sandwich_norms)
    throw EngineError(std::string("hook ") + hook_module_name(h.module) + " exists only in Gemma-2-style blocks");
}

}  // namespace

ForwardResult Engine::forward(const ForwardRequest& req) {
  validate_batch(req.batch);
  const ModelConfig& c = config_;
  // lm_head's output exists only when logits are computed: a hook on it computes them all.
  bool head_hooked = false;
  for (const HookRef& h : req.captures) head_hooked = head_hooked || h.module == HookModule::LmHead;
  for (const Intervention& iv : req.interventions) head_hooked = head_hooked || iv.hook.module == HookModule::LmHead;
  const LogitsMode computed = req.logits == LogitsMode::None && head_hooked ? LogitsMode::All : req.logits;
  StopPoint stop = req.stop;
  if (computed != LogitsMode::None) stop = StopPoint{-1, Stage::Full};
  if (stop.stage == Stage::Attn || stop.stage == Stage::Block)
    if (stop.layer < 0 || stop.layer >= c.layers) throw EngineError("forward: stopAt layer out of range");
  for (const HookRef& h : req.captures) {
    check_hook(c, h);
    if (!(later_stop(stop, stop_for(h)).stage == stop.stage && later_stop(stop, stop_for(h)).layer == stop.layer))
      throw EngineError(std::string("forward: hook ") + hook_module_name(h.module) + " lies past stopAt");
  }
  for (const Intervention& iv : req.interventions) {
    check_hook(c, iv.hook);
    const int width = hook_width(c, iv.hook.module);
    if (iv.kind == Intervention::Kind::Add && static_cast<int>(iv.vector.size()) != width)
      throw EngineError("intervention add: vector must have " + std::to_string(width) + " values");
    if (iv.kind == Intervention::Kind::Patch) {
      const bool last = iv.hook.module == HookModule::LmHead && computed == LogitsMode::Last;
      const size_t want = static_cast<size_t>(req.batch.rows) * (last ? 1 : req.batch.tokens) * width;
      if (!iv.patch || iv.patch_size != want)
        throw EngineError("intervention patch: the tensor must have " + std::to_string(want) + " values");
    }
  }
  PassRequest r;
  r.batch = req.batch;
  r.adapter = req.adapter;
  r.stop = stop;
  r.logits = computed;
  r.captures = &req.captures;
  r.interventions = &req.interventions;
  run_pass(workspace_, r);
  ForwardResult out;
  out.logit_positions = req.logits == LogitsMode::None ? 0 : workspace_.logit_positions;
  if (out.logit_positions > 0) {
    out.logits.resize(static_cast<size_t>(req.batch.rows) * workspace_.logit_positions * c.vocab);
    workspace_.logits.download(out.logits.data());
  }
  for (size_t j = 0; j < req.captures.size(); j++) {
    const Tensor& t = workspace_.captures[j];
    if (t.empty()) throw EngineError(std::string("hook ") + hook_module_name(req.captures[j].module) + " was not reached");
    out.captures.emplace_back(t.size());
    t.download(out.captures.back().data());
  }
  return out;
}

std::vector<float> Engine::prefill(const TokenBatch& batch, bool adapter, KvCache& cache) {
  validate_batch(batch);
  if (cache.rows == 0) {
    cache.rows = batch.rows;
    cache.kv_width = config_.kv_width();
  }
  if (cache.rows != batch.rows || cache.length != 0) throw EngineError("prefill: the cache must be fresh");
  PassRequest r;
  r.batch = batch;
  r.adapter = adapter;
  r.logits = LogitsMode::Last;
  r.cache = &cache;
  run_pass(workspace_, r);
  cache.length += batch.tokens;
  std::vector<float> logits(static_cast<size_t>(batch.rows) * config_.vocab);
  workspace_.logits.download(logits.data());
  return logits;
}

std::vector<float> Engine::decode(KvCache& cache, const int32_t* ids, const int32_t* positions,
                                  const uint8_t* mask, bool adapter) {
  if (cache.rows == 0) throw EngineError("decode: the cache is empty (prefill first)");
  if (static_cast<int>(cache.keys.size()) != config_.layers || cache.kv_width != config_.kv_width())
    throw EngineError("decode: the cache was made by another model");
  TokenBatch batch{cache.rows, 1, ids, mask, positions};
  validate_batch(batch);
  PassRequest r;
  r.batch = batch;
  r.adapter = adapter;
  r.logits = LogitsMode::All;
  r.cache = &cache;
  run_pass(workspace_, r);
  cache.length += 1;
  std::vector<float> logits(static_cast<size_t>(cache.rows) * config_.vocab);
  workspace_.logits.download(logits.data());
  return logits;
}

}  // namespace soo
