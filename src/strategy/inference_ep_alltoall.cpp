#include "strategy/inference_ep_alltoall.hpp"

#include "strategy/inference_duo_stream.hpp"
#include "strategy/inference_h2p.hpp"

namespace moesim::strategy {

void check_ep_alltoall_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                              config::IssueCollector& issues) {
  if (!require_inference(scenario, spec, issues)) return;
  const auto name = config::pointer_child(spec.pointer, "name");
  if (!scenario.model || !scenario.model->moe) {
    issues.error(name, "ep_alltoall dispatches tokens to routed experts: the model has none");
    return;
  }
  if (!has_strategy(scenario, kH2PName)) {
    issues.error(name, "ep_alltoall replaces H2P's AllGather / ReduceScatter around the experts: add "
                       "{\"name\": \"h2p\"} (its attention DP x TP layout)");
    return;
  }
  const auto& p = scenario.parallel;
  if (p.expert_tp != 1 && p.ep * p.expert_tp == p.tp * p.dp) {  // (h2p reports ep x expert_tp != tp x dp)
    issues.error("/parallel/expert_tp", "ep_alltoall sends each token-expert row to one rank holding the whole "
                                        "expert: it needs expert_tp 1 (ep = tp x dp = " +
                                            std::to_string(p.tp * p.dp) + "), got " + std::to_string(p.expert_tp));
  }
  for (const auto& other : scenario.strategies) {
    if (other.name == kDuoStreamName)
      issues.error(config::pointer_child(other.pointer, "name"),
                   "duo_stream chunks the AllGather / ReduceScatter that ep_alltoall replaces: use one of them");
    if (other.name == kH2PName && other.params.is_object() && other.params.contains("shared_expert_tp") &&
        other.params.at("shared_expert_tp") != 1)
      issues.error(config::pointer_child(other.pointer, "params") + "/shared_expert_tp",
                   "with ep_alltoall the shared experts run on each rank's own tokens: set 1 or leave it out");
  }
}

void apply_ep_alltoall(const config::ScenarioConfig&, const nlohmann::json&, model::InferenceStepPlan& plan) {
  plan.moe_alltoall = true;
}

}  // namespace moesim::strategy
