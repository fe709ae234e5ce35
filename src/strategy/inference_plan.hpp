#pragma once
// Inference strategies -> the InferenceStepPlan that the model layer's static step builder consumes (the model layer
// knows no strategy). Default: the plain TP AllReduce layout. The serving loop calls build_inference_step and
// expected_tokens_per_step for every step it simulates.
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/inference_step_graph.hpp"

namespace moesim::strategy {

// The plan for an inference scenario (strategies already validated by validate_strategies), strategies applied in
// the scenario's order.
model::InferenceStepPlan inference_step_plan(const config::ScenarioConfig& scenario);

// Layout checks that need the whole scenario (called by validate_strategies): each inference strategy's own
// checks, and attention dp > 1 without a strategy that lays it out.
void check_inference_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues);

// The inference step graph of the scenario under its strategies.
model::OpGraph build_inference_step(const config::ScenarioConfig& scenario);

// One mixed (chunked-prefill) step of the scenario's instance under its strategies (model::MixedStepBatch).
model::OpGraph build_mixed_inference_step(const config::ScenarioConfig& scenario, const model::MixedStepBatch& batch);

// Tokens each sequence emits per step, in expectation: 1 + expected accepted draft tokens for a decode step with
// the mtp strategy, else 1 (prefill steps emit the first token). TPOT = step time / this.
double expected_tokens_per_step(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy
