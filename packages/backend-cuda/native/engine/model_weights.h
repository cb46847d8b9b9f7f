// The decoder's modules, pointing at their parameters (owned by the engine's parameter lists).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "parameter.h"

namespace soo {

/** A LoRA pair on one linear module: y += scaling * B (A dropout(x)); A [r, in], B [out, r]. */
struct LoraPair {
  Parameter* a = nullptr;
  Parameter* b = nullptr;
  int rank = 0;
  float scaling = 1.0f;
};

/** One nn.Linear: weight [out, in], optional bias, optional LoRA pair. */
struct Linear {
  std::string path;  // HF module path, e.g. model.layers.3.self_attn.q_proj
  int in = 0, out = 0;
  Parameter* weight = nullptr;
  Parameter* bias = nullptr;
  LoraPair lora;  // lora.a == nullptr: none
  /** Index among the model's linear modules (seeds its dropout mask). */
  int index = 0;
  bool has_lora() const { return lora.a != nullptr; }
};

struct Layer {
  Parameter* input_norm = nullptr;
  Parameter* post_attn_norm = nullptr;
  Parameter* pre_ffn_norm = nullptr;   // sandwich norms only
  Parameter* post_ffn_norm = nullptr;  // sandwich norms only
  Linear q, k, v, o, gate, up, down;
  int window = 0;
};

struct ModelWeights {
  Parameter* embed = nullptr;    // [vocab, hidden]
  Parameter* lm_head = nullptr;  // [vocab, hidden]; == embed when tied
  Parameter* final_norm = nullptr;
  std::vector<Layer> layers;
};

}  // namespace soo
