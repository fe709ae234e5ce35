#include "strategy/inference_strategy.hpp"

namespace moesim::strategy {

bool has_strategy(const config::ScenarioConfig& scenario, const std::string& name) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == name) return true;
  }
  return false;
}

bool require_inference(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                       config::IssueCollector& issues) {
  if (scenario.type == config::ScenarioType::Inference) return true;
  issues.error(config::pointer_child(spec.pointer, "name"),
               spec.name + " shapes inference steps; this scenario is " + config::to_string(scenario.type));
  return false;
}

}  // namespace moesim::strategy
