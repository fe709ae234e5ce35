#include "strategy/expert_placement_balanced.hpp"

#include "strategy/scenario_conditions.hpp"

namespace moesim::strategy {

namespace {

constexpr double kDefaultMinGain = 0.05;  // our choice: re-place a layer when its hottest rank gets >= 5 % lighter

const config::StrategySpec* balanced_spec(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kBalancedPlacementName) return &spec;
  }
  return nullptr;
}

bool is_dynamic(const nlohmann::json& params) {
  return params.is_object() && params.contains("mode") && params.at("mode") == "dynamic";
}

}  // namespace

void check_balanced_placement_params(config::ObjectReader& params) {
  const auto mode = params.optional_choice("mode", {"static", "dynamic"}).value_or("static");
  if (mode == "dynamic") {
    params.optional_integer("interval_steps", config::Range::AtLeastOne);
    if (const auto gain = params.optional_number("min_gain", config::Range::NonNegative); gain && *gain >= 1.0)
      params.issues().error(config::pointer_child(params.pointer(), "min_gain"), "expected a relative gain below 1, got " +
                                                                 std::to_string(*gain));
  }
  params.finish();
}

void check_balanced_placement_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                     config::IssueCollector& issues) {
  if (!training_moe_with_expert_parallelism(scenario)) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "balanced places routed experts over expert-parallel ranks: it needs a training scenario of an MoE "
                 "model with an expert-parallel size above 1");
    return;
  }
  if (is_dynamic(spec.params) && scenario.parallel.expert_tp > 1)
    issues.error(param_pointer(spec, "mode"), "dynamic migrates whole experts: it needs expert_tp 1");
  if (is_dynamic(spec.params) && scenario.training->steps < 2) {
    issues.error(param_pointer(spec, "mode"),
                 "dynamic re-places experts between steps: it needs training.steps >= 2, got " +
                     std::to_string(scenario.training->steps));
  }
}

model::ExpertPlacement expert_placement(const config::ScenarioConfig& scenario) {
  return balanced_spec(scenario) ? model::ExpertPlacement::Balanced : model::ExpertPlacement::Contiguous;
}

model::PlacementPolicy expert_placement_policy(const config::ScenarioConfig& scenario) {
  model::PlacementPolicy policy;
  policy.placement = expert_placement(scenario);
  const auto* spec = balanced_spec(scenario);
  if (!spec || !is_dynamic(spec->params)) return policy;
  policy.dynamic = true;
  const auto& p = spec->params;
  policy.interval_steps = p.contains("interval_steps") ? p.at("interval_steps").get<int>() : 1;
  policy.min_gain = p.contains("min_gain") ? p.at("min_gain").get<double>() : kDefaultMinGain;
  return policy;
}

}  // namespace moesim::strategy
