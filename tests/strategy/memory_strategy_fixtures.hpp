#pragma once
// Shared by the memory-strategy tests: a scenario with selective_recompute_swap added, the schedule's stage orders,
// and validate_strategies' messages as one string (strategy_issues_text).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "config/scenario_config.hpp"
#include "strategy/catalog.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy_issues.hpp"

namespace moesim::test {

inline config::ScenarioConfig with_memory(config::ScenarioConfig s, const nlohmann::json& params) {
  config::StrategySpec spec;
  spec.name = "selective_recompute_swap";
  spec.params = params;
  spec.pointer = "/strategies/0";
  s.strategies.push_back(spec);
  return s;
}

inline std::vector<std::vector<strategy::PipelineTask>> stage_orders(const config::ScenarioConfig& s) {
  return strategy::stage_orders(*strategy::make_pipeline_schedule(s), s);
}

inline std::string validation_errors(const config::ScenarioConfig& s) {
  return strategy_issues_text(s);
}

}  // namespace moesim::test
