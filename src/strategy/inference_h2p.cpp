#include "strategy/inference_h2p.hpp"

#include <string>

namespace moesim::strategy {

namespace {

std::string str(long long value) {
  return std::to_string(value);
}

}  // namespace

void check_h2p_params(config::ObjectReader& params) {
  params.optional_integer("shared_expert_tp", config::Range::AtLeastOne);
  params.optional_boolean("allgather_after_norm");
  params.finish();
}

void check_h2p_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                      config::IssueCollector& issues) {
  const auto& p = scenario.parallel;
  if (scenario.type != config::ScenarioType::Inference) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "h2p lays out inference steps; this scenario is " + config::to_string(scenario.type));
    return;
  }
  if (p.pp > 1 || p.cp > 1) issues.error("/parallel", "h2p covers attention dp x tp with pp = cp = 1");
  const int ranks = p.tp * p.dp;
  if (scenario.model && scenario.model->moe && p.ep * p.expert_tp != ranks) {
    issues.error("/parallel/ep", "h2p spreads the routed experts over every rank: ep x expert_tp = " + str(p.ep) +
                                     " x " + str(p.expert_tp) + " must equal tp x dp = " + str(ranks));
  }
  const auto shared = spec.params.find("shared_expert_tp");
  if (shared != spec.params.end() && shared->is_number_integer()) {
    const long long value = shared->get<long long>();
    if (value >= 1 && ranks % value != 0) {
      issues.error(param_pointer(spec, "shared_expert_tp"),
                   "must divide the instance's tp x dp = " + str(ranks) + " ranks, got " + str(value));
    }
  }
}

void apply_h2p(const config::ScenarioConfig&, const nlohmann::json& params, model::InferenceStepPlan& plan) {
  plan.comm = model::InferenceComm::H2P;
  plan.shared_expert_tp = param_or(params, "shared_expert_tp", 0);
  plan.allgather_after_norm = param_or(params, "allgather_after_norm", true);
}

}  // namespace moesim::strategy
