// The soak: 200 SOO training steps (plus forwards with hooks, generation, optimizer-state round trips and
// adapter swaps) on a fixture model, for AddressSanitizer / LeakSanitizer / UBSan (run.sh asan) or
// valgrind. Reads a float32 Llama-family fixture folder (config.json, model.safetensors, adapter/).
// Prints the loss every 50 steps; exits 0 when the loss fell and nothing went wrong.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "../engine/engine.h"
#include "../engine/errors.h"
#include "mini_json.h"

namespace {

using soo::test::Json;
using soo::test::JsonParser;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/** Every F32 tensor of a safetensors file: name -> (shape, values). */
std::vector<soo::NamedTensor> read_safetensors(const std::string& path) {
  std::string bytes = read_file(path);
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  Json header = JsonParser(bytes.substr(8, header_len)).parse();
  std::vector<soo::NamedTensor> out;
  for (const auto& [name, info] : header.object) {
    if (name == "__metadata__") continue;
    if (info["dtype"].string != "F32") throw std::runtime_error(name + ": only F32 fixtures are supported");
    soo::NamedTensor t;
    t.name = name;
    for (const Json& d : info["shape"].array) t.shape.push_back(static_cast<int64_t>(d.number));
    size_t begin = static_cast<size_t>(info["data_offsets"].array[0].number);
    size_t end = static_cast<size_t>(info["data_offsets"].array[1].number);
    t.data.resize((end - begin) / 4);
    std::memcpy(t.data.data(), bytes.data() + 8 + header_len + begin, end - begin);
    out.push_back(std::move(t));
  }
  return out;
}

double num(const Json& j, const char* key, double fallback) { return j.has(key) ? j[key].number : fallback; }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: soak FIXTURE_DIR [STEPS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int steps = argc > 2 ? std::atoi(argv[2]) : 200;
  Json cfg = JsonParser(read_file(dir + "/config.json")).parse();
  soo::ModelConfig c;
  c.vocab = static_cast<int>(cfg["vocab_size"].number);
  c.hidden = static_cast<int>(cfg["hidden_size"].number);
  c.intermediate = static_cast<int>(cfg["intermediate_size"].number);
  c.layers = static_cast<int>(cfg["num_hidden_layers"].number);
  c.heads = static_cast<int>(cfg["num_attention_heads"].number);
  c.kv_heads = static_cast<int>(num(cfg, "num_key_value_heads", c.heads));
  c.head_dim = static_cast<int>(num(cfg, "head_dim", c.hidden / c.heads));
  c.rms_eps = static_cast<float>(num(cfg, "rms_norm_eps", 1e-6));
  c.tie_embeddings = cfg["tie_word_embeddings"].boolean;
  c.attention_scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(c.head_dim)));
  c.layer_window.assign(c.layers, 0);
  const double theta = cfg.has("rope_parameters") ? cfg["rope_parameters"]["rope_theta"].number : num(cfg, "rope_theta", 10000);
  for (int i = 0; i < c.head_dim / 2; i++)
    c.inv_freq.push_back(1.0f / static_cast<float>(std::pow(theta, static_cast<float>(2 * i) / c.head_dim)));

  auto dev = soo::make_cpu_device();
  soo::Engine engine(*dev, c, false);
  for (const auto& t : read_safetensors(dir + "/model.safetensors")) engine.set_weight(t.name, t.data.data(), t.data.size());
  engine.finalize();
  Json adapter_cfg = JsonParser(read_file(dir + "/adapter/adapter_config.json")).parse();
  const float alpha_over_r = static_cast<float>(adapter_cfg["lora_alpha"].number / adapter_cfg["r"].number);
  const auto adapter = read_safetensors(dir + "/adapter/adapter_model.safetensors");
  std::map<std::string, float> scaling;  // one alpha / r for every module of the fixture's adapter
  for (const auto& t : adapter) {
    const std::string path = t.name.substr(std::string("base_model.model.").size());
    scaling[path.substr(0, path.find(".lora_"))] = alpha_over_r;
  }
  engine.attach_adapter(scaling, adapter);

  // Two pairs of 12 tokens; row 3 right-padded.
  const int rows = 4, T = 12;
  std::vector<int32_t> ids(rows * T), pos(rows * T);
  std::vector<uint8_t> mask(rows * T, 1);
  std::vector<float> pool(rows * T, 0.0f);
  for (int r = 0; r < rows; r++)
    for (int t = 0; t < T; t++) {
      ids[r * T + t] = (r * 37 + t * 11 + (r >= 2 && t == 5 ? 3 : 0)) % c.vocab;
      pos[r * T + t] = t;
    }
  for (int t = 9; t < T; t++) mask[3 * T + t] = 0;
  for (int r = 0; r < rows; r++) pool[r * T + (r == 3 ? 8 : T - 1)] = 1.0f;  // 'last' pooling
  soo::TokenBatch batch{rows, T, ids.data(), mask.data(), pos.data()};
  soo::Objective soo_objective;
  soo_objective.hook = soo::HookRef{c.layers / 2, soo::HookModule::OProj};
  soo_objective.pool_weights = pool.data();
  soo::BackwardOptions opts;
  opts.dropout = 0.1f;
  soo::AdamWOptions adam;
  adam.lr = 1e-2;
  adam.weight_decay = 0.01;

  double first = 0, last = 0;
  for (int step = 0; step < steps; step++) {
    opts.dropout_seed = 1000 + step;
    engine.zero_grad();
    last = engine.backward(batch, {soo_objective}, opts).loss;
    if (step == 0) first = last;
    adam.grad_scale = std::min(1.0, 1.0 / (engine.grad_norm() + 1e-6));
    engine.adamw_step(adam);
    if (step % 50 == 0) std::printf("step %d loss %.6g\n", step, last);
    if (step % 20 == 10) {
      // Forward with captures and interventions, generation, state round trips, errors.
      soo::ForwardRequest fr;
      fr.batch = batch;
      fr.captures = {{0, soo::HookModule::Block}, {-1, soo::HookModule::LmHead}};
      soo::Intervention iv;
      iv.hook = {1, soo::HookModule::Mlp};
      iv.kind = soo::Intervention::Kind::Scale;
      iv.factor = 0.5f;
      fr.interventions.push_back(iv);
      engine.forward(fr);
      soo::KvCache cache;
      engine.prefill(batch, true, cache);
      int32_t next[rows] = {1, 2, 3, 4}, npos[rows] = {12, 12, 12, 9};
      uint8_t nmask[rows] = {1, 1, 1, 1};
      for (int k = 0; k < 5; k++) {
        engine.decode(cache, next, npos, nmask, true);
        for (auto& p : npos) p++;
      }
      engine.import_optimizer_state(engine.export_optimizer_state());
      try {
        int32_t bad[rows * T];
        std::copy(ids.begin(), ids.end(), bad);
        bad[0] = -5;
        engine.backward(soo::TokenBatch{rows, T, bad, mask.data(), pos.data()}, {soo_objective}, opts);
      } catch (const soo::EngineError&) {
      }
      if (step == 110) {
        auto params = engine.get_parameters();
        engine.detach_adapter();
        engine.attach_adapter(scaling, params);
      }
    }
  }
  std::printf("loss %.6g -> %.6g after %d steps; engine holds %.1f MiB (peak %.1f MiB)\n", first, last, steps,
              engine.current_bytes() / 1048576.0, engine.peak_bytes() / 1048576.0);
  return last < first && std::isfinite(last) ? 0 : 1;
}
