#include "strategy/tp_comm_overlap_coc.hpp"

#include <algorithm>
#include <cmath>

#include "strategy/scenario_conditions.hpp"

namespace moesim::strategy {

namespace {

constexpr int kDefaultChunks = 4;  // estimate: MindSpeed's script version offers 2, 4 or 8; the fused kernel's
                                   // internal split is unpublished

// The "chunks" param; 0 when it is not an integer (check_coc_params reports that).
int chunks_of(const nlohmann::json& params) {
  if (!params.is_object() || !params.contains("chunks")) return kDefaultChunks;
  const auto& chunks = params.at("chunks");
  return chunks.is_number_integer() ? chunks.get<int>() : 0;
}

bool flag(const nlohmann::json& params, const char* key, bool fallback) {
  if (!params.is_object() || !params.contains(key) || !params.at(key).is_boolean()) return fallback;
  return params.at(key).get<bool>();
}

}  // namespace

void check_coc_params(config::ObjectReader& params) {
  const auto chunks = params.optional_integer("chunks");
  if (chunks && *chunks != 2 && *chunks != 4 && *chunks != 8)
    params.issues().error(params.child("chunks"), "expected 2, 4 or 8 (MindSpeed --coc-parallel-num), got " +
                                                      std::to_string(*chunks));
  params.optional_boolean("fused_kernel");
  params.optional_boolean("shared_experts");
  params.finish();
}

void check_coc_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                      config::IssueCollector& issues) {
  const auto name = config::pointer_child(spec.pointer, "name");
  if (scenario.type != config::ScenarioType::Training || !scenario.training) {
    issues.error(name, "coc chunks a training step's TP collectives: it needs a training scenario");
    return;
  }
  const auto& p = scenario.parallel;
  if (p.tp < 2) {
    issues.error(name, "coc overlaps tensor-parallel collectives with their matmuls: it needs tp > 1, got tp = " +
                           std::to_string(p.tp));
    return;
  }
  const double tokens = double(scenario.training->micro_batch_size) * scenario.training->seq_len / p.cp;
  const int chunks = chunks_of(spec.params);
  const double shard = p.sequence_parallel ? tokens / p.tp : tokens;  // rows each rank contributes per chunk
  const bool valid_chunks = chunks == 2 || chunks == 4 || chunks == 8;  // else check_coc_params reports it
  if (valid_chunks && std::fmod(shard, chunks) != 0.0) {
    issues.error(param_pointer(spec, "chunks"),
                 "the " + std::to_string(static_cast<long long>(shard)) +
                     " tokens each TP rank holds per micro-batch do not split into " + std::to_string(chunks) +
                     " equal chunks (MindSpeed requires the matmul's m axis to be a multiple of the chunk count)");
  }
}

model::TpChunking tp_chunking(const config::ScenarioConfig& scenario) {
  model::TpChunking plan;
  for (const auto& spec : scenario.strategies) {
    if (spec.name != kCocName) continue;
    plan.chunks = std::max(1, chunks_of(spec.params));
    plan.fused_kernel = flag(spec.params, "fused_kernel", true);
    plan.shared_experts = flag(spec.params, "shared_experts", true);
  }
  return plan;
}

}  // namespace moesim::strategy
