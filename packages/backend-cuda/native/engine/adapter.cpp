// LoRA adapters by PEFT key: base_model.model.<module path>.lora_A.weight [r, in] and .lora_B.weight [out, r].
// attach validates every tensor before replacing the current adapter.
#include <cmath>
#include <map>

#include "engine.h"
#include "errors.h"

namespace soo {
namespace {

const std::string kPrefix = "base_model.model.";
const std::string kSuffixA = ".lora_A.weight";
const std::string kSuffixB = ".lora_B.weight";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

void Engine::attach_adapter(const std::map<std::string, float>& scaling, const std::vector<NamedTensor>& tensors) {
  if (trainable_all_) throw EngineError("attachAdapter: a model loaded with trainable 'all' takes no adapter");
  std::map<std::string, Linear*> by_path;
  for (Linear* lin : linears()) by_path[lin->path] = lin;
  struct Pair {
    const NamedTensor* a = nullptr;
    const NamedTensor* b = nullptr;
  };
  std::map<Linear*, Pair> pairs;
  for (const NamedTensor& t : tensors) {
    bool is_a = ends_with(t.name, kSuffixA), is_b = ends_with(t.name, kSuffixB);
    if (t.name.rfind(kPrefix, 0) != 0 || (!is_a && !is_b))
      throw EngineError("attachAdapter: \"" + t.name + "\" is not a PEFT key base_model.model.<module>.lora_{A,B}.weight");
    std::string path = t.name.substr(kPrefix.size(), t.name.size() - kPrefix.size() - kSuffixA.size());
    auto it = by_path.find(path);
    if (it == by_path.end())
      throw EngineError("attachAdapter: \"" + path + "\" is not a linear module of this model");
    Pair& pr = pairs[it->second];
    (is_a ? pr.a : pr.b) = &t;
  }
  if (pairs.empty()) throw EngineError("attachAdapter: no tensors");
  for (auto& [lin, pr] : pairs) {
    if (!pr.a || !pr.b) throw EngineError("attachAdapter: \"" + lin->path + "\" needs both lora_A and lora_B");
    auto s = scaling.find(lin->path);
    if (s == scaling.end() || !std::isfinite(s->second))
      throw EngineError("attachAdapter: no finite scaling for \"" + lin->path + "\"");
    const auto& sa = pr.a->shape;
    const auto& sb = pr.b->shape;
    if (sa.size() != 2 || sb.size() != 2 || sa[0] <= 0 || sa[1] != lin->in || sb[0] != lin->out || sb[1] != sa[0])
      throw EngineError("attachAdapter: \"" + lin->path + "\" expects lora_A [r, " + std::to_string(lin->in) +
                        "] and lora_B [" + std::to_string(lin->out) + ", r]");
    if (pr.a->data.size() != shape_size(sa) || pr.b->data.size() != shape_size(sb))
      throw EngineError("attachAdapter: \"" + lin->path + "\" data length does not match its shape");
  }
  detach_adapter();
  // Linear order, A then B: the order of parameters().
  for (Linear* lin : linears()) {
    auto it = pairs.find(lin);
    if (it == pairs.end()) continue;
    auto make = [&](const NamedTensor& t) {
      auto p = std::make_unique<Parameter>();
      p->name = t.name;
      p->shape = t.shape;
      p->value = Tensor(dev_, t.data.size());
      p->value.upload(t.data.data());
      p->trainable = true;
      Parameter* raw = p.get();
      adapter_params_.push_back(std::move(p));
      return raw;
    };
    lin->lora.a = make(*it->second.a);
    lin->lora.b = make(*it->second.b);
    lin->lora.rank = static_cast<int>(it->second.a->shape[0]);
    lin->lora.scaling = scaling.at(lin->path);
  }
}

void Engine::detach_adapter() {
  for (Linear* lin : linears()) lin->lora = LoraPair{};
  adapter_params_.clear();
}

}  // namespace soo
