#include "strategy/inference_swift_gmm.hpp"

#include "strategy/inference_mul_attention.hpp"

namespace moesim::strategy {

void check_swift_gmm_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                            config::IssueCollector& issues) {
  if (!require_inference(scenario, spec, issues)) return;
  if (scenario.model && !scenario.model->moe) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "swift_gmm costs the routed experts' grouped GEMMs; "
                 "the model has no MoE layers");
  }
  check_fused_class(scenario, spec, config::OpClass::FusedGroupedMatmul, issues);
}

void apply_swift_gmm(const config::ScenarioConfig&, const nlohmann::json&, model::InferenceStepPlan& plan) {
  plan.grouped_matmul_class = config::OpClass::FusedGroupedMatmul;
}

}  // namespace moesim::strategy
