#pragma once
// The catalog of pluggable strategies, by family. Each family lists its built-ins explicitly in its own
// registration file; a scenario's strategy names and params are checked against this catalog.
#include <functional>
#include <string>
#include <vector>

#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"

namespace moesim::strategy {

struct StrategyInfo {
  std::string family;       // e.g. "pipeline_schedule", "moe_comm", "overlap", "memory", "inference"
  std::string name;         // as written in scenarios: {"name": ..., "params": {...}}
  std::string description;  // one line: what it models and from which source
  // Reads (and so validates) the params object; must call finish() so unknown keys are reported.
  std::function<void(config::ObjectReader&)> check_params;
};

// Every registered strategy, in registration order.
const std::vector<StrategyInfo>& strategy_catalog();

// Reports unknown strategy names (listing the known ones), duplicates and bad params into `issues`.
void validate_strategies(const config::ScenarioConfig& scenario, config::IssueCollector& issues);

}  // namespace moesim::strategy
