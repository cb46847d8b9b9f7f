// The model description the engine computes with: core's DecoderConfig, already normalised on the TS side,
// plus the RoPE inverse frequencies (computed in TS exactly as transformers does, for every rope type).
#pragma once
#include <string>
#include <vector>

#include "device.h"

namespace soo {

struct ModelConfig {
  int vocab = 0;
  int hidden = 0;
  int intermediate = 0;
  int layers = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  float rms_eps = 1e-6f;
  bool tie_embeddings = false;
  bool qkv_bias = false;
  bool o_bias = false;
  bool mlp_bias = false;
  Activation activation = Activation::Silu;
  /** Multiplies the embedding lookup (Gemma-2: sqrt(hidden) in the buffer dtype), 1 otherwise. */
  float embedding_multiplier = 1.0f;
  /** RMSNorm multiplies by (1 + w) (Gemma) instead of w. */
  bool norm_one_plus_w = false;
  /** Gemma-2's four norms per block. */
  bool sandwich_norms = false;
  /** 0 = off. */
  float attn_softcap = 0.0f;
  float final_softcap = 0.0f;
  float attention_scale = 1.0f;
  /** Per layer: the sliding window, 0 = full causal attention. */
  std::vector<int> layer_window;
  /** head_dim / 2 RoPE inverse frequencies and the cos/sin multiplier (YaRN's attention factor). */
  std::vector<float> inv_freq;
  float rope_attention_scaling = 1.0f;

  int q_width() const { return heads * head_dim; }
  int kv_width() const { return kv_heads * head_dim; }

  /** Throws EngineError naming the first inconsistent field. */
  void validate() const;
};

}  // namespace soo
