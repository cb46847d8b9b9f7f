// Hook points as the engine sees them: a layer (-1 for embed_tokens, model.norm, lm_head) and the module
// (core's HookModule names). Interventions rewrite a hooked output in place during forward; captures copy it.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace soo {

enum class HookModule {
  EmbedTokens,
  Block,
  InputLayernorm,
  SelfAttn,
  QProj,
  KProj,
  VProj,
  OProj,
  PostAttentionLayernorm,
  PreFeedforwardLayernorm,
  PostFeedforwardLayernorm,
  Mlp,
  GateProj,
  UpProj,
  DownProj,
  Norm,
  LmHead,
};

struct HookRef {
  int layer = -1;
  HookModule module = HookModule::Block;
  bool operator==(const HookRef& o) const { return layer == o.layer && module == o.module; }
};

/** Parse core's HookModule name; throws EngineError on an unknown one. */
HookModule parse_hook_module(const std::string& name);
const char* hook_module_name(HookModule m);

/** How far a pass runs. */
enum class Stage { Embed, Attn, Block, Full };
struct StopPoint {
  int layer = -1;
  Stage stage = Stage::Full;
};

/** The earliest stop that still reaches `hook` (Full for model.norm and lm_head). */
StopPoint stop_for(const HookRef& hook);
/** The later of two stops. */
StopPoint later_stop(const StopPoint& a, const StopPoint& b);

struct Intervention {
  enum class Kind { Add, Scale, Zero, Patch, Callback };
  HookRef hook;
  Kind kind = Kind::Zero;
  std::vector<float> vector;  // Add: [width]
  float factor = 1.0f;        // Scale
  const float* patch = nullptr;  // Patch: host [rows, tokens, width], valid for the call
  size_t patch_size = 0;         // its number of values (checked against the hook's output)
  /** Callback: rewrites the host copy of the output in place ([rows, tokens, width]). */
  std::function<void(float* data, int rows, int tokens, int width)> callback;
};

}  // namespace soo
