#include "strategy/inference_flashcomm.hpp"

#include "strategy/inference_h2p.hpp"

namespace moesim::strategy {

void check_flashcomm_params(config::ObjectReader& params) {
  params.optional_boolean("int8_allgather");
  params.finish();
}

void check_int8_payload(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                        config::IssueCollector& issues) {
  if (!param_or(spec.params, "int8_allgather", false) || !scenario.inference) return;
  const auto& w = *scenario.inference;
  if (w.weight_dtype != config::Dtype::INT8 || w.activation_dtype != config::Dtype::INT8) {
    issues.error(param_pointer(spec, "int8_allgather"),
                 "INT8 AllGather payloads feed INT8 GEMMs: needs W8A8 (inference weight_dtype and activation_dtype "
                 "int8)");
  }
}

void check_flashcomm_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                            config::IssueCollector& issues) {
  if (!require_inference(scenario, spec, issues)) return;
  if (scenario.parallel.tp < 2) {
    issues.error("/parallel/tp", "flashcomm rewrites TP collectives; tp is 1");
  }
  if (has_strategy(scenario, kH2PName) && !param_or(spec.params, "int8_allgather", false)) {
    // h2p already runs ReduceScatter + AllGather with the norm on the shard: only the INT8 payloads would change.
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "flashcomm under h2p changes nothing: h2p already turns each TP AllReduce into ReduceScatter + "
                 "AllGather; set params.int8_allgather true for INT8 AllGather payloads, or drop flashcomm");
  }
  check_int8_payload(scenario, spec, issues);
}

void apply_flashcomm(const config::ScenarioConfig&, const nlohmann::json& params, model::InferenceStepPlan& plan) {
  if (plan.comm == model::InferenceComm::TpAllReduce) plan.comm = model::InferenceComm::FlashComm;
  plan.int8_allgather = plan.int8_allgather || param_or(params, "int8_allgather", false);
}

}  // namespace moesim::strategy
