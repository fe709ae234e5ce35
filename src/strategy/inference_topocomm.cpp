#include "strategy/inference_topocomm.hpp"

#include "strategy/inference_flashcomm.hpp"

namespace moesim::strategy {

namespace {

const std::vector<std::string> kAlgorithms = {"direct", "ring", "halving_doubling"};

}  // namespace

void check_topocomm_params(config::ObjectReader& params) {
  params.optional_choice("algorithm", kAlgorithms);
  params.optional_boolean("tiered");
  params.optional_boolean("int8_allgather");
  params.finish();
}

void check_topocomm_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                           config::IssueCollector& issues) {
  if (!require_inference(scenario, spec, issues)) return;
  check_int8_payload(scenario, spec, issues);
}

int topology_tier_ranks(const config::ScenarioConfig& scenario) {
  const auto& topology = scenario.topology;
  const int per_node = topology.ranks_per_node();
  if (per_node > 0 && scenario.ranks > per_node) return per_node;
  const config::FabricSpec* fabric = topology.ranks_per_node() > 1 ? topology.fabric_between(0, 1) : nullptr;
  if (fabric != nullptr && fabric->kind == config::FabricKind::PcieTree && fabric->domains > 1) {
    const int tier = per_node / fabric->domains;
    return tier < scenario.ranks ? tier : 0;
  }
  return 0;
}

void apply_topocomm(const config::ScenarioConfig& scenario, const nlohmann::json& params,
                    model::InferenceStepPlan& plan) {
  model::CollectiveAlgorithm algorithm = model::CollectiveAlgorithm::Direct;
  model::parse_collective_algorithm(param_or<std::string>(params, "algorithm", "direct"), algorithm);
  plan.tier_algorithm = algorithm;
  plan.tier_ranks = param_or(params, "tiered", true) ? topology_tier_ranks(scenario) : 0;
  plan.int8_allgather = plan.int8_allgather || param_or(params, "int8_allgather", false);
}

}  // namespace moesim::strategy
