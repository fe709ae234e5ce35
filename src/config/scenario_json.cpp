// The compact "what was resolved" view of a scenario, printed by `check` and stored in summary.json.
#include <optional>

#include "config/scenario_config.hpp"

namespace moesim::config {

using nlohmann::json;

namespace {

// A non-uniform (or drifting) expert load as the scenario would write it; nothing for the uniform default.
std::optional<json> expert_load_json(const ExpertLoadSpec& load) {
  json out;
  if (load.distribution == ExpertLoadDistribution::Zipf) {
    out = {{"distribution", "zipf"}, {"exponent", load.exponent}};
  } else if (load.distribution == ExpertLoadDistribution::Shares) {
    out = {{"distribution", "shares"}, {"shares", load.shares}};
  } else if (load.drift_sigma > 0.0 || load.sampled || load.micro_batch_sigma > 0.0) {
    out = {{"distribution", "uniform"}};
  } else {
    return std::nullopt;
  }
  if (load.drift_sigma > 0.0) out["drift_sigma"] = load.drift_sigma;
  if (load.sampled) out["sampled"] = true;
  if (load.micro_batch_sigma > 0.0) out["micro_batch_sigma"] = load.micro_batch_sigma;
  return out;
}

}  // namespace

nlohmann::json resolved_json(const ScenarioConfig& scenario) {
  json out;
  out["file"] = scenario.file;
  out["name"] = scenario.name;
  out["type"] = to_string(scenario.type);
  out["seed"] = scenario.seed;
  if (scenario.model) out["model"] = {{"name", scenario.model->name}, {"file", scenario.model->file}};
  out["topology"] = {{"name", scenario.topology.name},
                     {"file", scenario.topology.file},
                     {"device", scenario.topology.device.name},
                     {"nodes", scenario.topology.nodes},
                     {"ranks_per_node", scenario.topology.ranks_per_node()}};
  out["ranks"] = scenario.ranks;
  const ParallelLayout& p = scenario.parallel;
  out["parallel"] = {{"tp", p.tp},
                     {"pp", p.pp},
                     {"vpp", p.vpp},
                     {"cp", p.cp},
                     {"dp", p.dp},
                     {"ep", p.ep},
                     {"expert_tp", p.expert_tp},
                     {"tp_extend_ep", p.tp_extend_ep},
                     {"expert_parallel_size", p.expert_parallel_size()},
                     {"sequence_parallel", p.sequence_parallel},
                     {"padding_layers", p.padding_layers}};
  if (!p.layers_per_virtual_stage.empty()) out["parallel"]["layers_per_virtual_stage"] = p.layers_per_virtual_stage;
  if (scenario.training) {
    const auto& t = *scenario.training;
    out["training"] = {{"seq_len", t.seq_len},
                       {"micro_batch_size", t.micro_batch_size},
                       {"global_batch_size", t.global_batch_size},
                       {"micro_batches_per_step", micro_batches_per_step(scenario)},
                       {"dtype", to_string(t.dtype)},
                       {"steps", t.steps},
                       {"overlap_param_gather", t.overlap_param_gather}};
    if (const auto load = expert_load_json(t.expert_load)) out["training"]["expert_load"] = *load;
    if (t.documents) {
      out["training"]["documents"] = {{"mean_tokens", t.documents->mean_tokens}, {"sigma", t.documents->sigma}};
      if (t.documents->cp_split_per_document) out["training"]["documents"]["cp_split"] = "document";
    }
  }
  if (scenario.inference) {
    const auto& w = *scenario.inference;
    out["inference"] = {{"phase", w.phase == InferencePhase::Prefill ? "prefill" : "decode"},
                        {"batch_size", w.batch_size},
                        {"input_len", w.input_len},
                        {"output_len", w.output_len},
                        {"weight_dtype", to_string(w.weight_dtype)},
                        {"activation_dtype", to_string(w.activation_dtype)},
                        {"kv_dtype", to_string(w.kv_dtype)}};
    if (scenario.serving) {
      for (const char* key : {"phase", "batch_size", "input_len", "output_len"}) out["inference"].erase(key);
    }
    if (const auto load = expert_load_json(w.expert_load)) out["inference"]["expert_load"] = *load;
  }
  if (scenario.serving) out["serving"] = serving_resolved_json(*scenario.serving);
  if (scenario.microbenchmark) {
    const auto& m = *scenario.microbenchmark;
    out["microbenchmark"] = {{"operation", m.operation}, {"size_bytes", m.size_bytes},  {"ranks", m.ranks},
                             {"algorithm", m.algorithm}, {"dtype", to_string(m.dtype)}, {"iterations", m.iterations}};
  }
  json strategies = json::array();
  for (const auto& strategy : scenario.strategies) {
    strategies.push_back({{"name", strategy.name}, {"params", strategy.params}});
  }
  out["strategies"] = strategies;
  if (!scenario.published.empty()) {  // as given: one object, or an array of them
    json figures = json::array();
    for (const auto& figure : scenario.published) {
      figures.push_back({{"metric", figure.metric},
                         {"value", figure.value},
                         {"source", figure.source},
                         {"tolerance_rel", figure.tolerance_rel},
                         {"role", figure.role}});
    }
    out["published"] = scenario.document.at("published").is_array() ? figures : figures.front();
  }
  return out;
}

}  // namespace moesim::config
