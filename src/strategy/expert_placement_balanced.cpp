#include "strategy/expert_placement_balanced.hpp"

#include "strategy/scenario_conditions.hpp"

namespace moesim::strategy {

void check_balanced_placement_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                     config::IssueCollector& issues) {
  if (!training_moe_with_expert_parallelism(scenario)) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "balanced places routed experts over expert-parallel ranks: it needs a training scenario of an MoE "
                 "model with an expert-parallel size above 1");
  }
}

model::ExpertPlacement expert_placement(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kBalancedPlacementName) return model::ExpertPlacement::Balanced;
  }
  return model::ExpertPlacement::Contiguous;
}

}  // namespace moesim::strategy
