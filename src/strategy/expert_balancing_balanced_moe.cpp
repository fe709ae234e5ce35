#include "strategy/expert_balancing_balanced_moe.hpp"

#include <algorithm>

#include "strategy/scenario_conditions.hpp"

namespace moesim::strategy {

namespace {

constexpr int kDefaultHotExperts = 3;  // MindSpeed's --balanced-moe-hot-expert-num default

int hot_experts_of(const nlohmann::json& params) {
  if (!params.is_object() || !params.contains("hot_experts")) return kDefaultHotExperts;
  const auto& n = params.at("hot_experts");
  return n.is_number_integer() ? n.get<int>() : 0;
}

}  // namespace

void check_balanced_moe_params(config::ObjectReader& params) {
  params.optional_integer("hot_experts", config::Range::AtLeastOne);
  params.finish();
}

void check_balanced_moe_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                               config::IssueCollector& issues) {
  const auto name = config::pointer_child(spec.pointer, "name");
  if (!training_moe_with_expert_parallelism(scenario)) {
    issues.error(name, "balanced_moe balances routed experts over expert-parallel ranks: it needs a training "
                       "scenario of an MoE model with an expert-parallel size above 1");
    return;
  }
  if (scenario.parallel.expert_tp > 1)
    issues.error(name, "balanced_moe needs expert_tp 1 (MindSpeed: --expert-tensor-parallel-size=1)");
  for (const auto& other : scenario.strategies) {
    if (other.name == "hierarchical_ep")
      issues.error(name, "balanced_moe works with the flat all-to-all only (MindSpeed: it conflicts with "
                         "moe-hierarchical-alltoallv); drop hierarchical_ep");
  }
  const int n = hot_experts_of(spec.params);
  if (n >= scenario.model->moe->num_routed_experts) {
    issues.error(param_pointer(spec, "hot_experts"),
                 "expected fewer hot experts than the " + std::to_string(scenario.model->moe->num_routed_experts) +
                     " routed experts, got " + std::to_string(n));
  }
}

int hot_experts(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kBalancedMoeName) return std::max(0, hot_experts_of(spec.params));
  }
  return 0;
}

}  // namespace moesim::strategy
