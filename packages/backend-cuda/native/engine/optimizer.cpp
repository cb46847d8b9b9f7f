// Parameters, gradients and AdamW state by name (PEFT keys for the adapter, HF keys for base weights).
#include <cmath>
#include <map>

#include "engine.h"
#include "errors.h"

namespace soo {
namespace {

NamedTensor download(const std::string& name, const std::vector<int64_t>& shape, const Tensor& t) {
  NamedTensor out{name, shape, std::vector<float>(t.size())};
  t.download(out.data.data());
  return out;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> Engine::parameters() const {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (Parameter* p : trainable()) out.emplace_back(p->name, p->shape);
  return out;
}

std::vector<NamedTensor> Engine::get_parameters() const {
  std::vector<NamedTensor> out;
  for (Parameter* p : trainable()) out.push_back(download(p->name, p->shape, p->value));
  return out;
}

const Parameter* Engine::find_trainable(const std::string& name) const {
  for (Parameter* p : trainable())
    if (p->name == name) return p;
  return nullptr;
}

void Engine::set_parameters(const std::vector<NamedTensor>& values) {
  std::map<std::string, const NamedTensor*> given;
  for (const NamedTensor& t : values) {
    const Parameter* p = find_trainable(t.name);
    if (!p) throw EngineError("setParameters: \"" + t.name + "\" is not a trainable parameter");
    if (t.data.size() != p->size() || t.shape != p->shape)
      throw EngineError("setParameters: \"" + t.name + "\" has the wrong shape");
    given[t.name] = &t;
  }
  for (Parameter* p : trainable())
    if (!given.count(p->name)) throw EngineError("setParameters: \"" + p->name + "\" is missing");
  for (Parameter* p : trainable()) p->value.upload(given[p->name]->data.data());
}

double Engine::grad_norm() const {
  double total = 0;
  for (Parameter* p : trainable())
    if (p->has_grad) total += dev_.sum_squares(p->grad.data(), p->size());
  return std::sqrt(total);
}

std::vector<NamedTensor> Engine::get_gradients() const {
  std::vector<NamedTensor> out;
  for (Parameter* p : trainable())
    if (p->has_grad) out.push_back(download(p->name, p->shape, p->grad));
  return out;
}

void Engine::zero_grad() {
  for (Parameter* p : trainable()) p->has_grad = false;
}

void Engine::adamw_step(const AdamWOptions& o) {
  for (double v : {o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, o.grad_scale})
    if (!std::isfinite(v)) throw EngineError("adamwStep: options must be finite numbers");
  for (Parameter* p : trainable()) {
    if (!p->has_grad) continue;  // torch skips a parameter whose grad is None
    if (p->exp_avg.empty()) {
      p->exp_avg = Tensor(dev_, p->size());
      p->exp_avg.zero();
      p->exp_avg_sq = Tensor(dev_, p->size());
      p->exp_avg_sq.zero();
    }
    p->step += 1;
    dev_.adamw(p->value.data(), p->grad.data(), p->exp_avg.data(), p->exp_avg_sq.data(), p->size(), o.lr, o.beta1,
               o.beta2, o.eps, o.weight_decay, o.grad_scale, p->step);
  }
}

std::vector<NamedTensor> Engine::export_optimizer_state() const {
  std::vector<NamedTensor> out;
  for (Parameter* p : trainable()) {
    if (p->step <= 0) continue;
    out.push_back(download("exp_avg." + p->name, p->shape, p->exp_avg));
    out.push_back(download("exp_avg_sq." + p->name, p->shape, p->exp_avg_sq));
    out.push_back(NamedTensor{"step." + p->name, {1}, {static_cast<float>(p->step)}});
  }
  return out;
}

void Engine::import_optimizer_state(const std::vector<NamedTensor>& state) {
  struct Entry {
    const NamedTensor* m = nullptr;
    const NamedTensor* v = nullptr;
    const NamedTensor* step = nullptr;
  };
  std::map<std::string, Entry> entries;
  for (const NamedTensor& t : state) {
    std::string kind, name;
    for (const char* prefix : {"exp_avg_sq.", "exp_avg.", "step."}) {
      std::string pre(prefix);
      if (t.name.rfind(pre, 0) == 0) {
        kind = pre;
        name = t.name.substr(pre.size());
        break;
      }
    }
    if (kind.empty()) throw EngineError("importOptimizerState: \"" + t.name + "\" is not exp_avg.*, exp_avg_sq.* or step.*");
    const Parameter* p = find_trainable(name);
    if (!p) throw EngineError("importOptimizerState: \"" + name + "\" is not a trainable parameter");
    Entry& e = entries[name];
    if (kind == "step.") {
      if (t.data.size() != 1 || !(t.data[0] >= 1) || std::floor(t.data[0]) != t.data[0])
        throw EngineError("importOptimizerState: \"" + t.name + "\" must hold one positive integer");
      e.step = &t;
    } else {
      if (t.data.size() != p->size())
        throw EngineError("importOptimizerState: \"" + t.name + "\" has the wrong number of values");
      (kind == "exp_avg." ? e.m : e.v) = &t;
    }
  }
  for (auto& [name, e] : entries)
    if (!e.m || !e.v || !e.step)
      throw EngineError("importOptimizerState: \"" + name + "\" needs exp_avg, exp_avg_sq and step");
  for (Parameter* p : trainable()) {
    auto it = entries.find(p->name);
    if (it == entries.end()) {
      p->exp_avg.reset();
      p->exp_avg_sq.reset();
      p->step = 0;
      continue;
    }
    if (p->exp_avg.empty()) {
      p->exp_avg = Tensor(dev_, p->size());
      p->exp_avg_sq = Tensor(dev_, p->size());
    }
    p->exp_avg.upload(it->second.m->data.data());
    p->exp_avg_sq.upload(it->second.v->data.data());
    p->step = static_cast<int64_t>(it->second.step->data[0]);
  }
}

}  // namespace soo
