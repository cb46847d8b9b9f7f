// Hook-module names and the stop point each hook needs (mirrors core's stopPointFor).
#include "hooks.h"

#include "errors.h"

namespace soo {
namespace {

struct NamedModule {
  const char* name;
  HookModule module;
};

constexpr NamedModule kModules[] = {
    {"embed_tokens", HookModule::EmbedTokens},
    {"block", HookModule::Block},
    {"input_layernorm", HookModule::InputLayernorm},
    {"self_attn", HookModule::SelfAttn},
    {"q_proj", HookModule::QProj},
    {"k_proj", HookModule::KProj},
    {"v_proj", HookModule::VProj},
    {"o_proj", HookModule::OProj},
    {"post_attention_layernorm", HookModule::PostAttentionLayernorm},
    {"pre_feedforward_layernorm", HookModule::PreFeedforwardLayernorm},
    {"post_feedforward_layernorm", HookModule::PostFeedforwardLayernorm},
    {"mlp", HookModule::Mlp},
    {"gate_proj", HookModule::GateProj},
    {"up_proj", HookModule::UpProj},
    {"down_proj", HookModule::DownProj},
    {"norm", HookModule::Norm},
    {"lm_head", HookModule::LmHead},
};

}  // namespace

HookModule parse_hook_module(const std::string& name) {
  for (const auto& m : kModules)
    if (name == m.name) return m.module;
  throw EngineError("unknown hook module \"" + name + "\"");
}

const char* hook_module_name(HookModule module) {
  for (const auto& m : kModules)
    if (m.module == module) return m.name;
  return "?";
}

StopPoint stop_for(const HookRef& hook) {
  switch (hook.module) {
    case HookModule::EmbedTokens:
      return {-1, Stage::Embed};
    case HookModule::Norm:
    case HookModule::LmHead:
      return {-1, Stage::Full};
    case HookModule::InputLayernorm:
    case HookModule::SelfAttn:
    case HookModule::QProj:
    case HookModule::KProj:
    case HookModule::VProj:
    case HookModule::OProj:
      return {hook.layer, Stage::Attn};
    default:
      return {hook.layer, Stage::Block};
  }
}

StopPoint later_stop(const StopPoint& a, const StopPoint& b) {
  if (a.stage == Stage::Full) return a;
  if (b.stage == Stage::Full) return b;
  if (a.stage == Stage::Embed) return b;
  if (b.stage == Stage::Embed) return a;
  if (a.layer != b.layer) return a.layer > b.layer ? a : b;
  return a.stage == Stage::Block ? a : b;
}

}  // namespace soo
