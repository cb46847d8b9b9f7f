// What one pass holds on the device: inputs (ids, RoPE tables, key mask), the residual stream, per-layer
// activations (every layer when training, one reused set otherwise), the final norm, logits, captured
// hook outputs and, in backward, the gradient buffers and injected hook gradients.
#pragma once
#include <cstdint>
#include <vector>

#include "hooks.h"
#include "tensor.h"

namespace soo {

struct KvCache;

/** What a LoRA branch keeps for backward: the dropout mask, the dropped input, u = x_d A^T. */
struct LinearActs {
  Tensor mask, dropped, hidden;
};

enum LinearSlot { kQ, kK, kV, kO, kGate, kUp, kDown, kLinearSlots };

struct LayerActs {
  Tensor ln1, rstd1;           // input_layernorm output and 1/rms
  Tensor v;                    // v_proj output (attention backward reads it)
  Tensor q_rot, k_rot;         // after RoPE
  Tensor probs, capped;        // attention probabilities [B, nH, T, S]; soft-capped scores (Gemma-2)
  Tensor ctx;                  // attention output before o_proj [N, nH * D]
  Tensor o;                    // o_proj output (kept for Gemma-2's post-attention norm backward)
  Tensor pa_out, rstd_pa;      // Gemma-2 post-attention norm of o
  Tensor h1;                   // residual after attention
  Tensor ln2, rstd2;           // the norm feeding the MLP
  Tensor gate, up, act;        // act = act(gate) * up
  Tensor down;                 // down_proj output (kept for Gemma-2's post-feedforward norm backward)
  Tensor pf_out, rstd_pf;      // Gemma-2 post-feedforward norm
  LinearActs lin[kLinearSlots];
};

/** A hook gradient added when backward reaches the hook. */
struct Injection {
  HookRef hook;
  Tensor grad;
};

struct Pass {
  // shape
  int rows = 0, tokens = 0, n = 0, past = 0, keys = 0;
  bool train = false, adapter = true;
  float dropout = 0.0f;
  uint64_t dropout_seed = 0;
  StopPoint stop;
  int logit_positions = 0;  // tokens, or 1 for 'last', or 0 for none
  KvCache* cache = nullptr;

  // inputs
  Buffer<int32_t> ids;
  std::vector<int32_t> host_ids;
  Tensor cos, sin;           // [n, head_dim / 2]
  Buffer<uint8_t> key_mask;  // [rows, tokens] when no cache
  bool has_key_mask = false;

  // activations
  Tensor embed_raw;                // the embedding lookup before the multiplier
  std::vector<Tensor> residual;    // train: input of each layer + final; else ping-pong
  std::vector<LayerActs> layers;   // train: one per layer; else one
  Tensor final_norm, rstd_final;
  Tensor logits;                   // after final soft-capping
  Tensor logits_rows;              // 'last': the gathered last-position rows of final_norm
  // Outputs backward never reads, shared by every layer: pre-RoPE q and k; o and down without sandwich norms.
  Tensor scratch_q, scratch_k, scratch_o, scratch_down;

  // hooks
  std::vector<HookRef> capture_hooks;
  std::vector<Tensor> captures;
  const std::vector<Intervention>* interventions = nullptr;
  std::vector<Injection> injections;

  // backward scratch
  Tensor d_res, d_tmp, d_o, d_ctx, d_q, d_k, d_v, d_qrot, d_krot, d_ln, d_gate, d_up, d_act, d_attn, d_lora,
      d_lora_in, d_logits, d_final;
};

}  // namespace soo
