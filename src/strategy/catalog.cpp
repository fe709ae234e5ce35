#include "strategy/catalog.hpp"

#include <set>

namespace moesim::strategy {

const std::vector<StrategyInfo>& strategy_catalog() {
  // Families add their built-ins here, one line each, as they land (training: issue #4, inference: #5).
  static const std::vector<StrategyInfo> catalog = {};
  return catalog;
}

void validate_strategies(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  std::set<std::string> seen;
  for (const auto& spec : scenario.strategies) {
    const StrategyInfo* info = nullptr;
    for (const auto& candidate : strategy_catalog()) {
      if (candidate.name == spec.name) info = &candidate;
    }
    if (info == nullptr) {
      std::string known;
      for (const auto& candidate : strategy_catalog()) known += (known.empty() ? "" : ", ") + candidate.name;
      issues.error(config::pointer_child(spec.pointer, "name"),
                   "unknown strategy \"" + spec.name + "\" (known: " + (known.empty() ? "none yet" : known) + ")");
      continue;
    }
    if (!seen.insert(spec.name).second) {
      issues.error(config::pointer_child(spec.pointer, "name"), "strategy \"" + spec.name + "\" listed twice");
    }
    config::ObjectReader params(spec.params, config::pointer_child(spec.pointer, "params"), issues);
    info->check_params(params);
  }
}

}  // namespace moesim::strategy
