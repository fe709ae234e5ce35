#include "strategy/expert_loads.hpp"

#include "strategy/expert_balancing_balanced_moe.hpp"
#include "strategy/expert_placement_balanced.hpp"

namespace moesim::strategy {

model::ExpertLoadSteps scenario_expert_loads(const config::ScenarioConfig& scenario) {
  return model::expert_load_steps(scenario, expert_placement_policy(scenario), hot_experts(scenario));
}

}  // namespace moesim::strategy
