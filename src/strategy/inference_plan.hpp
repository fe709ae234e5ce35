#pragma once
// Family "inference": turns a scenario's inference strategies into the InferenceStepPlan that the model layer's
// static step builder consumes (the model layer knows no strategy). Default: the plain TP AllReduce layout.
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/inference_step_graph.hpp"

namespace moesim::strategy {

// The plan for an inference scenario (strategies already validated by validate_strategies).
model::InferenceStepPlan inference_step_plan(const config::ScenarioConfig& scenario);

// Layout checks that need the whole scenario (called by validate_strategies): each inference strategy's own
// checks, and attention dp > 1 without a strategy that lays it out.
void check_inference_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues);

// The inference step graph of the scenario under its strategies.
model::OpGraph build_inference_step(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy
