#include "strategy/inference_mtp.hpp"

namespace moesim::strategy {

namespace {

constexpr double kDefaultFrameworkOverheadMs = 1.0;  // FusionSpec, facts 3.3 C9

std::vector<double> acceptance_of(const nlohmann::json& params) {
  std::vector<double> out;
  if (!params.is_object() || !params.contains("acceptance") || !params["acceptance"].is_array()) return out;
  for (const auto& value : params["acceptance"]) out.push_back(value.is_number() ? value.get<double>() : 0.0);
  return out;
}

}  // namespace

void check_mtp_params(config::ObjectReader& params) {
  const auto draft = params.optional_integer("draft_tokens", config::Range::AtLeastOne);
  const auto values = params.array("acceptance");
  for (const auto& [value, pointer] : values) {
    if (!value->is_number() || value->get<double>() < 0.0 || value->get<double>() > 1.0) {
      params.issues().error(pointer, "expected a probability in [0, 1]");
    }
  }
  const auto draft_tokens = static_cast<std::size_t>(draft.value_or(1));
  if (!values.empty() && values.size() != draft_tokens) {
    params.issues().error(params.child("acceptance"), "expected one acceptance probability per draft token (" +
                                                          std::to_string(draft_tokens) + "), got " +
                                                          std::to_string(values.size()));
  }
  params.optional_number("framework_overhead_ms", config::Range::NonNegative);
  params.finish();
}

void check_mtp_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                      config::IssueCollector& issues) {
  require_inference(scenario, spec, issues);
}

void apply_mtp(const config::ScenarioConfig&, const nlohmann::json& params, model::InferenceStepPlan& plan) {
  plan.mtp_draft_tokens = param_or(params, "draft_tokens", 1);
  plan.speculative_overhead_s = param_or(params, "framework_overhead_ms", kDefaultFrameworkOverheadMs) * 1e-3;
}

double expected_mtp_tokens(const std::vector<double>& acceptance) {
  double tokens = 1.0, reach = 1.0;
  for (double p : acceptance) {
    reach *= p;
    tokens += reach;
  }
  return tokens;
}

double mtp_tokens_per_step(const nlohmann::json& params) {
  return expected_mtp_tokens(acceptance_of(params));
}

}  // namespace moesim::strategy
