#include "strategy/inference_plan.hpp"

#include <vector>

#include "strategy/expert_placement_balanced.hpp"
#include "strategy/inference_duo_stream.hpp"
#include "strategy/inference_ep_alltoall.hpp"
#include "strategy/inference_flashcomm.hpp"
#include "strategy/inference_h2p.hpp"
#include "strategy/inference_mtp.hpp"
#include "strategy/inference_mul_attention.hpp"
#include "strategy/inference_strategy.hpp"
#include "strategy/inference_swift_gmm.hpp"
#include "strategy/inference_topocomm.hpp"

namespace moesim::strategy {

namespace {

// The strategies that shape the static inference step (their catalog entries are in catalog.cpp).
const std::vector<InferenceStrategy>& inference_strategies() {
  static const std::vector<InferenceStrategy> strategies = {
      {kH2PName, check_h2p_layout, apply_h2p},
      {kFlashCommName, check_flashcomm_layout, apply_flashcomm},
      {kTopoCommName, check_topocomm_layout, apply_topocomm},
      {kDuoStreamName, check_duo_stream_layout, apply_duo_stream},
      {kEpAllToAllName, check_ep_alltoall_layout, apply_ep_alltoall},
      {kMulAttentionName, check_mul_attention_layout, apply_mul_attention},
      {kSwiftGmmName, check_swift_gmm_layout, apply_swift_gmm},
      {kMtpName, check_mtp_layout, apply_mtp},
  };
  return strategies;
}

const InferenceStrategy* find_inference_strategy(const std::string& name) {
  for (const auto& strategy : inference_strategies()) {
    if (name == strategy.name) return &strategy;
  }
  return nullptr;
}

}  // namespace

model::InferenceStepPlan inference_step_plan(const config::ScenarioConfig& scenario) {
  model::InferenceStepPlan plan;
  plan.expert_placement = expert_placement(scenario);
  plan.redundant_experts_per_rank = redundant_experts_per_rank(scenario);
  for (const auto& spec : scenario.strategies) {
    if (const auto* strategy = find_inference_strategy(spec.name)) strategy->apply(scenario, spec.params, plan);
  }
  return plan;
}

void check_inference_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  for (const auto& spec : scenario.strategies) {
    if (const auto* strategy = find_inference_strategy(spec.name)) strategy->check_layout(scenario, spec, issues);
  }
  if (scenario.type == config::ScenarioType::Inference && scenario.parallel.dp > 1 &&
      !has_strategy(scenario, kH2PName)) {
    issues.error("/parallel/dp", "attention data parallel (dp " + std::to_string(scenario.parallel.dp) +
                                     ") needs an inference strategy that lays it out: add {\"name\": \"h2p\"}");
  }
}

model::OpGraph build_inference_step(const config::ScenarioConfig& scenario) {
  return model::build_inference_step_graph(scenario, inference_step_plan(scenario));
}

model::OpGraph build_mixed_inference_step(const config::ScenarioConfig& scenario, const model::MixedStepBatch& batch) {
  return model::build_mixed_inference_step_graph(scenario, inference_step_plan(scenario), batch);
}

double expected_tokens_per_step(const config::ScenarioConfig& scenario) {
  if (!scenario.inference || scenario.inference->phase != config::InferencePhase::Decode) return 1.0;
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kMtpName) return mtp_tokens_per_step(spec.params);
  }
  return 1.0;
}

}  // namespace moesim::strategy
