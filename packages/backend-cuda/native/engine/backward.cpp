// The backward pass: objectives first (their gradients become injections at hook points or d logits),
// then the layers in reverse, mirroring forward.cpp line by line. Gradients of `scale * loss` accumulate
// into the parameters' grad buffers; activations come from the training pass (train_pass_).
//
// Per layer, with d_res holding d(block output) on entry and d(block input) on exit:
//   MLP:   d m = d_res [Gemma-2: through post_feedforward_layernorm];  d act = down^T(d m)
//          d gate, d up = gated-activation backward;  d ln2 = gate^T(d gate) + up^T(d up)
//          d_res += rmsnorm^T(d ln2)                          -> d h1
//   Attn:  d a = d h1 [Gemma-2: through post_attention_layernorm];  d ctx = o^T(d a)
//          d q_rot, d k_rot, d v = attention backward;  d q, d k = rope^T
//          d ln1 = q^T(d q) + k^T(d k) + v^T(d v);  d_res += rmsnorm^T(d ln1)   -> d x_in
// A linear's backward is dx += dy W, dW += dy^T x, and for LoRA (u = x_d A^T, y += s u B^T):
//   dB += s dy^T u,  du = s dy B,  dA += du^T x_d,  dx += (du A) * dropout mask
#include <algorithm>
#include <cmath>
#include <set>

#include "engine.h"
#include "errors.h"

namespace soo {
namespace {

void ensure(Device& dev, Tensor& t, size_t n) { t.resize(dev, n); }
void ensure_zero(Device& dev, Tensor& t, size_t n) {
  t.resize(dev, n);
  t.zero();
}

}  // namespace

void Engine::inject(Pass& p, HookModule module, int layer, float* grad) {
  const HookRef ref{layer, module};
  for (Injection& inj : p.injections)
    if (inj.hook == ref) dev_.axpy(grad, inj.grad.data(), 1.0f, inj.grad.size());
}

void Engine::final_backward(Pass& p, float* dlogits) {
  const ModelConfig& c = config_;
  const int N = p.n, H = c.hidden, V = c.vocab;
  ensure_zero(dev_, p.d_final, static_cast<size_t>(N) * H);
  if (p.logit_positions > 0) {
    if (!dlogits) {
      ensure_zero(dev_, p.d_logits, static_cast<size_t>(N) * V);
      dlogits = p.d_logits.data();
    }
    if (c.final_softcap > 0) dev_.softcap_backward(dlogits, p.logits.data(), c.final_softcap, static_cast<size_t>(N) * V);
    inject(p, HookModule::LmHead, -1, dlogits);
    Parameter* head = weights_.lm_head;
    dev_.gemm(false, false, N, H, V, 1.0f, dlogits, V, head->value.data(), H, 0.0f, p.d_final.data(), H);
    if (head->trainable)
      dev_.gemm(true, false, V, H, N, 1.0f, dlogits, V, p.final_norm.data(), H, 1.0f,
                head->grad_for_accumulation(dev_), H);
  }
  inject(p, HookModule::Norm, -1, p.d_final.data());
  Parameter* w = weights_.final_norm;
  dev_.rmsnorm_backward(p.d_res.data(), w->trainable ? w->grad_for_accumulation(dev_) : nullptr, p.d_final.data(),
                        p.residual[c.layers].data(), p.rstd_final.data(), w->value.data(), N, H, c.norm_one_plus_w);
}

void Engine::layer_backward(Pass& p, int i, bool attn_only, bool top) {
  const ModelConfig& c = config_;
  Layer& L = weights_.layers[i];
  LayerActs& a = p.layers[i];
  const int N = p.n, H = c.hidden, I = c.intermediate, qw = c.q_width(), kvw = c.kv_width();
  const size_t nh = static_cast<size_t>(N) * H, ni = static_cast<size_t>(N) * I;
  const bool g1 = c.norm_one_plus_w;
  auto grad_of = [&](Parameter* w) { return w->trainable ? w->grad_for_accumulation(dev_) : nullptr; };
  // In the layer where the pass stopped (`top`), a module takes part only when some injected hook
  // gradient lies at or after its output: the others are not in the loss's graph (torch leaves their
  // gradients None). Below it, everything is live.
  auto injected = [&](HookModule m) {
    for (const Injection& inj : p.injections)
      if (inj.hook.layer == i && inj.hook.module == m) return true;
    return false;
  };
  const HookModule ffn_norm_hook = c.sandwich_norms ? HookModule::PreFeedforwardLayernorm : HookModule::PostAttentionLayernorm;
  const bool res_live = !top || (!attn_only && injected(HookModule::Block));
  const bool mlp_out_live = !attn_only && (res_live || (c.sandwich_norms && injected(HookModule::PostFeedforwardLayernorm)));
  const bool down_live = !attn_only && (mlp_out_live || injected(HookModule::Mlp) || injected(HookModule::DownProj));
  const bool gate_live = !attn_only && (down_live || injected(HookModule::GateProj));
  const bool up_live = !attn_only && (down_live || injected(HookModule::UpProj));
  const bool ln2_live = !attn_only && (gate_live || up_live || injected(ffn_norm_hook));
  const bool h1_live = res_live || ln2_live;
  const bool attn_out_live = h1_live || (c.sandwich_norms && injected(HookModule::PostAttentionLayernorm));
  const bool o_live = attn_out_live || injected(HookModule::SelfAttn) || injected(HookModule::OProj);
  const bool q_live = o_live || injected(HookModule::QProj);
  const bool k_live = o_live || injected(HookModule::KProj);
  const bool v_live = o_live || injected(HookModule::VProj);
  // Layer 0's input gradient only feeds the embedding: skip it when nothing there needs it.
  bool embed_needs = weights_.embed->trainable;
  for (const Injection& inj : p.injections) embed_needs = embed_needs || inj.hook.module == HookModule::EmbedTokens;
  const bool ln1_live =
      (i > 0 || embed_needs || injected(HookModule::InputLayernorm)) &&
      (q_live || k_live || v_live || injected(HookModule::InputLayernorm));

  ensure_zero(dev_, p.d_o, nh);
  ensure(dev_, p.d_tmp, nh);
  if (!attn_only) {
    inject(p, HookModule::Block, i, p.d_res.data());
    if (down_live) {
      dev_.copy(p.d_tmp.data(), p.d_res.data(), sizeof(float) * nh);
      float* d_down = p.d_tmp.data();
      if (c.sandwich_norms) {
        inject(p, HookModule::PostFeedforwardLayernorm, i, p.d_tmp.data());
        if (mlp_out_live)
          dev_.rmsnorm_backward(p.d_o.data(), grad_of(L.post_ffn_norm), p.d_tmp.data(), a.down.data(),
                                a.rstd_pf.data(), L.post_ffn_norm->value.data(), N, H, g1);
        d_down = p.d_o.data();
      }
      inject(p, HookModule::Mlp, i, d_down);
      inject(p, HookModule::DownProj, i, d_down);
      ensure_zero(dev_, p.d_act, ni);
      linear_backward(p, L.down, a.act.data(), a.lin[kDown], d_down, p.d_act.data());
    } else {
      ensure_zero(dev_, p.d_act, ni);
    }
    ensure(dev_, p.d_gate, ni);
    ensure(dev_, p.d_up, ni);
    dev_.gated_act_backward(p.d_gate.data(), p.d_up.data(), p.d_act.data(), a.gate.data(), a.up.data(), ni,
                            c.activation);
    inject(p, HookModule::GateProj, i, p.d_gate.data());
    inject(p, HookModule::UpProj, i, p.d_up.data());
    ensure_zero(dev_, p.d_ln, nh);
    if (gate_live) linear_backward(p, L.gate, a.ln2.data(), a.lin[kGate], p.d_gate.data(), p.d_ln.data());
    if (up_live) linear_backward(p, L.up, a.ln2.data(), a.lin[kUp], p.d_up.data(), p.d_ln.data());
    inject(p, ffn_norm_hook, i, p.d_ln.data());
    Parameter* ffn_norm = c.sandwich_norms ? L.pre_ffn_norm : L.post_attn_norm;
    if (ln2_live)
      dev_.rmsnorm_backward(p.d_res.data(), grad_of(ffn_norm), p.d_ln.data(), a.h1.data(), a.rstd2.data(),
                            ffn_norm->value.data(), N, H, g1);
    // d_res is now d h1: the residual part of d x_in and the gradient of the attention output.
    if (c.sandwich_norms) {
      dev_.copy(p.d_tmp.data(), p.d_res.data(), sizeof(float) * nh);
      inject(p, HookModule::PostAttentionLayernorm, i, p.d_tmp.data());
      p.d_o.zero();  // it held d(down) above
      if (attn_out_live)
        dev_.rmsnorm_backward(p.d_o.data(), grad_of(L.post_attn_norm), p.d_tmp.data(), a.o.data(), a.rstd_pa.data(),
                              L.post_attn_norm->value.data(), N, H, g1);
    } else {
      dev_.copy(p.d_o.data(), p.d_res.data(), sizeof(float) * nh);
    }
  }
  inject(p, HookModule::SelfAttn, i, p.d_o.data());
  inject(p, HookModule::OProj, i, p.d_o.data());

  const int T = p.tokens;
  ensure_zero(dev_, p.d_q, static_cast<size_t>(N) * qw);
  ensure_zero(dev_, p.d_k, static_cast<size_t>(N) * kvw);
  ensure_zero(dev_, p.d_v, static_cast<size_t>(N) * kvw);
  if (o_live) {
    ensure_zero(dev_, p.d_ctx, static_cast<size_t>(N) * qw);
    linear_backward(p, L.o, a.ctx.data(), a.lin[kO], p.d_o.data(), p.d_ctx.data());
    AttentionShape s{p.rows, T, T, 0, c.heads, c.kv_heads, c.head_dim, static_cast<int64_t>(T) * qw,
                     static_cast<int64_t>(T) * kvw, c.attention_scale, c.attn_softcap, L.window};
    ensure(dev_, p.d_qrot, static_cast<size_t>(N) * qw);
    ensure_zero(dev_, p.d_krot, static_cast<size_t>(N) * kvw);
    ensure(dev_, p.d_attn, static_cast<size_t>(p.rows) * c.heads * T * T);
    dev_.attention_backward(p.d_qrot.data(), p.d_krot.data(), p.d_v.data(), p.d_attn.data(), p.d_ctx.data(),
                            a.probs.data(), c.attn_softcap > 0 ? a.capped.data() : nullptr, a.q_rot.data(),
                            a.k_rot.data(), a.v.data(), s);
    dev_.rope_backward(p.d_q.data(), p.d_qrot.data(), p.cos.data(), p.sin.data(), N, c.heads, c.head_dim);
    dev_.rope_backward(p.d_k.data(), p.d_krot.data(), p.cos.data(), p.sin.data(), N, c.kv_heads, c.head_dim);
  }
  inject(p, HookModule::QProj, i, p.d_q.data());
  inject(p, HookModule::KProj, i, p.d_k.data());
  inject(p, HookModule::VProj, i, p.d_v.data());
  ensure_zero(dev_, p.d_ln, nh);
  float* d_ln1 = ln1_live ? p.d_ln.data() : nullptr;
  if (q_live) linear_backward(p, L.q, a.ln1.data(), a.lin[kQ], p.d_q.data(), d_ln1);
  if (k_live) linear_backward(p, L.k, a.ln1.data(), a.lin[kK], p.d_k.data(), d_ln1);
  if (v_live) linear_backward(p, L.v, a.ln1.data(), a.lin[kV], p.d_v.data(), d_ln1);
  inject(p, HookModule::InputLayernorm, i, p.d_ln.data());
  if (ln1_live)
    dev_.rmsnorm_backward(p.d_res.data(), grad_of(L.input_norm), p.d_ln.data(), p.residual[i].data(), a.rstd1.data(),
                          L.input_norm->value.data(), N, H, g1);
}

void Engine::embedding_backward(Pass& p) {
  Parameter* e = weights_.embed;
  if (!e->trainable) return;
  const size_t nh = static_cast<size_t>(p.n) * config_.hidden;
  if (config_.embedding_multiplier != 1.0f) dev_.scale(p.d_res.data(), config_.embedding_multiplier, nh);
  inject(p, HookModule::EmbedTokens, -1, p.d_res.data());
  dev_.embedding_backward(e->grad_for_accumulation(dev_), p.d_res.data(), p.ids.data(), p.n, config_.hidden);
}

BackwardResult Engine::backward(const TokenBatch& batch, const std::vector<Objective>& objectives,
                                const BackwardOptions& options) {
  validate_batch(batch);
  const ModelConfig& c = config_;
  if (trainable().empty()) throw EngineError("backward: nothing to train (attach an adapter first)");
  if (objectives.empty()) throw EngineError("backward: no objectives");
  if (!(options.dropout >= 0.0f && options.dropout < 1.0f)) throw EngineError("backward: dropout must be in [0, 1)");
  if (!std::isfinite(options.scale)) throw EngineError("backward: scale must be finite");
  const int N = batch.rows * batch.tokens, V = c.vocab;

  // How far the pass must run, and which hooks to capture.
  StopPoint stop{-1, Stage::Embed};
  bool need_logits = false, need_kl = false;
  std::vector<HookRef> hooks;
  for (const Objective& o : objectives) {
    if (!std::isfinite(o.weight)) throw EngineError("backward: objective weights must be finite");
    if (o.kind == Objective::Kind::Soo) {
      if (batch.rows % 2 != 0) throw EngineError("backward: a soo objective needs an even number of rows");
      const bool global = o.hook.module == HookModule::EmbedTokens || o.hook.module == HookModule::Norm ||
                          o.hook.module == HookModule::LmHead;
      if (global ? o.hook.layer != -1 : (o.hook.layer < 0 || o.hook.layer >= c.layers))
        throw EngineError("backward: soo hook does not exist in this model");
      if ((o.hook.module == HookModule::PreFeedforwardLayernorm || o.hook.module == HookModule::PostFeedforwardLayernorm) &&
          !c.sandwich_norms)
        throw EngineError("backward: soo hook exists only in Gemma-2-style blocks");
      stop = later_stop(stop, stop_for(o.hook));
      if (o.hook.module == HookModule::LmHead) need_logits = true;
      if (std::find(hooks.begin(), hooks.end(), o.hook) == hooks.end()) hooks.push_back(o.hook);
    } else {
      if (!o.weights || (o.kind == Objective::Kind::Lm && !o.targets))
        throw EngineError("backward: lm / kl objectives need weights (and lm targets)");
      if (o.kind == Objective::Kind::Lm)
        for (int t = 0; t < N; t++)
          if (o.weights[t] != 0.0f && (o.targets[t] < 0 || o.targets[t] >= V))
            throw EngineError("backward: lm target " + std::to_string(o.targets[t]) + " is outside the vocabulary");
      stop = StopPoint{-1, Stage::Full};
      need_logits = true;
      need_kl = need_kl || o.kind == Objective::Kind::Kl;
    }
  }

  // KL's reference: the same batch through the frozen model (adapter off), as log-probabilities.
  Tensor base_log_probs;
  if (need_kl) {
    PassRequest r;
    r.batch = batch;
    r.adapter = false;
    r.logits = LogitsMode::All;
    run_pass(base_pass_, r);
    base_log_probs = Tensor(dev_, static_cast<size_t>(N) * V);
    dev_.log_softmax(base_log_probs.data(), base_pass_.logits.data(), N, V);
  }

  PassRequest r;
  r.batch = batch;
  r.train = true;
  r.adapter = true;
  r.dropout = options.dropout;
  r.dropout_seed = options.dropout_seed;
  r.stop = stop;
  r.logits = need_logits ? LogitsMode::All : LogitsMode::None;
  r.captures = &hooks;
  Pass& p = train_pass_;
  run_pass(p, r);

  // Objectives.
  BackwardResult result;
  if (need_logits && stop.stage == Stage::Full) ensure_zero(dev_, p.d_logits, static_cast<size_t>(N) * V);
  for (const Objective& o : objectives) {
    const float g = options.scale * o.weight;
    double value = 0;
    if (o.kind == Objective::Kind::Soo) {
      const size_t j = std::find(hooks.begin(), hooks.end(), o.hook) - hooks.begin();
      const Tensor& x = p.captures[j];
      const int width = static_cast<int>(x.size() / N);
      Injection* inj = nullptr;
      for (Injection& e : p.injections)
        if (e.hook == o.hook) inj = &e;
      if (!inj) {
        p.injections.push_back(Injection{o.hook, Tensor(dev_, x.size())});
        inj = &p.injections.back();
        inj->grad.zero();
      }
      Tensor pool;
      if (o.pool_weights) {
        pool = Tensor(dev_, N);
        pool.upload(o.pool_weights);
      }
      value = dev_.soo_loss(inj->grad.data(), x.data(), o.pool_weights ? pool.data() : nullptr, batch.rows,
                            batch.tokens, width, g);
    } else {
      Tensor weights(dev_, N);
      weights.upload(o.weights);
      if (o.kind == Objective::Kind::Lm) {
        Buffer<int32_t> targets(dev_, N);
        std::vector<int32_t> safe(o.targets, o.targets + N);
        for (int t = 0; t < N; t++)
          if (o.weights[t] == 0.0f) safe[t] = 0;
        targets.upload(safe.data());
        value = dev_.cross_entropy(p.d_logits.data(), p.logits.data(), targets.data(), weights.data(), N, V, g);
      } else {
        value = dev_.kl_divergence(p.d_logits.data(), p.logits.data(), base_log_probs.data(), weights.data(), N, V, g);
      }
    }
    result.values.push_back(value);
    result.loss += o.weight * value;
  }

  // Backward through the layers.
  ensure_zero(dev_, p.d_res, static_cast<size_t>(N) * c.hidden);
  if (stop.stage == Stage::Full) final_backward(p, need_logits ? p.d_logits.data() : nullptr);
  if (stop.stage != Stage::Embed) {
    const int last = stop.stage == Stage::Full ? c.layers - 1 : stop.layer;
    for (int i = last; i >= 0; i--)
      layer_backward(p, i, stop.stage == Stage::Attn && i == stop.layer, stop.stage != Stage::Full && i == last);
  }
  embedding_backward(p);
  return result;
}

}  // namespace soo
