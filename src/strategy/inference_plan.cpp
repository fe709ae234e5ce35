#include "strategy/inference_plan.hpp"

#include "strategy/inference_h2p.hpp"

namespace moesim::strategy {

model::InferenceStepPlan inference_step_plan(const config::ScenarioConfig& scenario) {
  model::InferenceStepPlan plan;
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kH2PName) apply_h2p(spec.params, plan);
  }
  return plan;
}

void check_inference_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  bool lays_out_dp = false;
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kH2PName) {
      check_h2p_layout(scenario, spec, issues);
      lays_out_dp = true;
    }
  }
  if (scenario.type == config::ScenarioType::Inference && scenario.parallel.dp > 1 && !lays_out_dp) {
    issues.error("/parallel/dp", "attention data parallel (dp " + std::to_string(scenario.parallel.dp) +
                                     ") needs an inference strategy that lays it out: add {\"name\": \"h2p\"}");
  }
}

model::OpGraph build_inference_step(const config::ScenarioConfig& scenario) {
  return model::build_inference_step_graph(scenario, inference_step_plan(scenario));
}

}  // namespace moesim::strategy
