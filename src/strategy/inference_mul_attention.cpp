#include "strategy/inference_mul_attention.hpp"

namespace moesim::strategy {

void check_fused_class(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                       config::OpClass op_class, config::IssueCollector& issues) {
  if (scenario.topology.device.has_efficiency(op_class)) return;
  const auto& topology = scenario.topology;
  const std::string& file = topology.device_file.empty() ? topology.file : topology.device_file;
  issues.error(config::pointer_child(spec.pointer, "name"), spec.name + " needs the topology's device.efficiency." +
                                                                config::to_string(op_class) + " (" + file +
                                                                " has none)");
}

void check_mul_attention_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                config::IssueCollector& issues) {
  if (!require_inference(scenario, spec, issues)) return;
  check_fused_class(scenario, spec, config::OpClass::FusedAttention, issues);
}

void apply_mul_attention(const config::ScenarioConfig&, const nlohmann::json&, model::InferenceStepPlan& plan) {
  plan.attention_class = config::OpClass::FusedAttention;
}

}  // namespace moesim::strategy
