#pragma once
// The shape every inference strategy file follows (family members of strategy/catalog.cpp that change the static
// inference step): a params check for the catalog, a layout check against the whole scenario, and how it
// rewrites the InferenceStepPlan. The list of them lives in inference_plan.cpp.
#include <nlohmann/json.hpp>
#include <string>

#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/inference_step_graph.hpp"
#include "strategy/scenario_conditions.hpp"

namespace moesim::strategy {

struct InferenceStrategy {
  const char* name;
  // Contract: reports problems of the scenario under this strategy into `issues` with the scenario's JSON
  // pointers; params were already checked by the catalog (values may still be missing or of a wrong type).
  void (*check_layout)(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                       config::IssueCollector& issues);
  // Contract: called only for scenarios that passed check_layout; applied in the scenario's strategy order.
  void (*apply)(const config::ScenarioConfig& scenario, const nlohmann::json& params, model::InferenceStepPlan& plan);
};

// A param's value, or `fallback` when absent (params may be null: no "params" key).
template <typename T>
T param_or(const nlohmann::json& params, const char* key, T fallback) {
  return params.is_object() && params.contains(key) ? params.at(key).get<T>() : fallback;
}


// True when the scenario lists a strategy of this name.
bool has_strategy(const config::ScenarioConfig& scenario, const std::string& name);

// The common check of strategies that shape inference steps: an inference scenario.
bool require_inference(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                       config::IssueCollector& issues);

}  // namespace moesim::strategy
