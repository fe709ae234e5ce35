#include "strategy/inference_duo_stream.hpp"

namespace moesim::strategy {

void check_duo_stream_params(config::ObjectReader& params) {
  const auto chunks = params.optional_integer("chunks", config::Range::AtLeastOne);
  if (chunks && *chunks < 2) params.issues().error(params.child("chunks"), "expected an integer >= 2, got 1");
  params.optional_boolean("reread_weights");
  params.finish();
}

void check_duo_stream_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                             config::IssueCollector& issues) {
  if (!require_inference(scenario, spec, issues)) return;
  if (!scenario.model || !scenario.model->moe) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "duo_stream overlaps the expert block's collectives; "
                 "the model has no MoE layers");
  }
  if (!has_strategy(scenario, "h2p") && !has_strategy(scenario, "flashcomm")) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "duo_stream chunks the AllGather / ReduceScatter around the experts: add {\"name\": \"h2p\"} or "
                 "{\"name\": \"flashcomm\"} (the default TP AllReduce layout has neither)");
  }
}

void apply_duo_stream(const config::ScenarioConfig&, const nlohmann::json& params, model::InferenceStepPlan& plan) {
  plan.duo_stream_chunks = param_or(params, "chunks", 2);
  plan.duo_stream_reread_weights = param_or(params, "reread_weights", false);
}

}  // namespace moesim::strategy
