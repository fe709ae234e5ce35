#include "strategy/expert_placement_balanced.hpp"

#include <algorithm>

#include "model/roofline.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"
#include "strategy/inference_ep_alltoall.hpp"
#include "strategy/scenario_conditions.hpp"

namespace moesim::strategy {

namespace {

constexpr double kDefaultMinGain = 0.0;  // with the cost test on, any swap that pays for its transfer

const config::StrategySpec* balanced_spec(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kBalancedPlacementName) return &spec;
  }
  return nullptr;
}

// EDPB's rule in seconds (model::SwapCosts): per step, a MoE layer's routed-expert grouped matmuls (forward, dx, dw
// of every micro-batch) at the balanced load, on the roofline, x ep: what the hot rank saves per unit of share;
// per expert, the migrated bytes over the link between the two EP ranks (first EP group; the others are alike).
model::SwapCosts swap_costs(const config::ScenarioConfig& scenario) {
  model::SwapCosts costs;
  const auto& model = *scenario.model;
  const auto& device = scenario.topology.device;
  if (!(device.peak(scenario.training->dtype) > 0.0)) return costs;
  model::LayerSlot slot;
  slot.index = model.num_dense_layers;  // the first MoE layer: every MoE layer has the same shape
  const auto forward = model::slot_forward(model, model::training_shape(scenario), slot);
  double per_micro_batch_s = 0.0;
  for (const auto& list : {forward, model::backward_ops(forward, model::Pass::BackwardInput),
                           model::backward_ops(forward, model::Pass::BackwardWeight)}) {
    for (const auto& op : list) {
      if (!op.collective && op.cost.op_class == config::OpClass::GroupedMatmul)
        per_micro_batch_s += model::op_time_s(device, op.cost);
    }
  }
  const int ep = scenario.parallel.expert_parallel_size();
  costs.seconds_per_share = ep * per_micro_batch_s * config::micro_batches_per_step(scenario);
  const model::TrainingLayout layout(scenario.parallel, scenario.parallel.dp, scenario.topology.ranks_per_node());
  const auto group = layout.ep_group(0);
  const double bytes = model::migrated_bytes_per_expert(scenario);
  costs.move_s.assign(group.size() * group.size(), 0.0);
  for (std::size_t i = 0; i < group.size(); ++i) {
    for (std::size_t j = 0; j < group.size(); ++j) {
      const auto* fabric = i == j ? nullptr : scenario.topology.fabric_between(group[i], group[j]);
      if (fabric && fabric->link_bandwidth_bytes_per_s.value > 0.0)
        costs.move_s[i * group.size() + j] = bytes / fabric->link_bandwidth_bytes_per_s.value + fabric->latency_s.value;
    }
  }
  return costs;
}

int redundant_of(const nlohmann::json& params) {
  if (!params.is_object() || !params.contains("redundant_per_rank") ||
      !params.at("redundant_per_rank").is_number_integer())
    return 0;
  return std::max(0, params.at("redundant_per_rank").get<int>());
}

bool is_dynamic(const nlohmann::json& params) {
  return params.is_object() && params.contains("mode") && params.at("mode") == "dynamic";
}

}  // namespace

void check_balanced_placement_params(config::ObjectReader& params) {
  const auto mode = params.optional_choice("mode", {"static", "dynamic"}).value_or("static");
  if (mode == "dynamic") {
    params.optional_integer("interval_steps", config::Range::AtLeastOne);
    params.optional_boolean("cost_aware");
    if (const auto gain = params.optional_number("min_gain", config::Range::NonNegative); gain && *gain >= 1.0)
      params.issues().error(config::pointer_child(params.pointer(), "min_gain"),
                            "expected a relative gain below 1, got " + std::to_string(*gain));
  }
  params.optional_integer("redundant_per_rank", config::Range::NonNegative);
  params.finish();
}

void check_balanced_placement_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                     config::IssueCollector& issues) {
  const bool inference_moe = scenario.type == config::ScenarioType::Inference && scenario.model &&
                             scenario.model->moe.has_value() && scenario.parallel.expert_parallel_size() > 1;
  if (!training_moe_with_expert_parallelism(scenario) && !inference_moe) {
    issues.error(config::pointer_child(spec.pointer, "name"),
                 "balanced places routed experts over expert-parallel ranks: it needs a training or inference "
                 "scenario of an MoE model with an expert-parallel size above 1");
    return;
  }
  const int redundant = redundant_of(spec.params);
  if (inference_moe) {
    if (is_dynamic(spec.params))
      issues.error(param_pointer(spec, "mode"), "dynamic re-places experts between training steps: inference "
                                                "simulates one routing pattern, use static");
    if (redundant > 0 && !has_strategy(scenario, kEpAllToAllName))
      issues.error(param_pointer(spec, "redundant_per_rank"),
                   "redundant experts need the all-to-all dispatch (OmniPlacement: incompatible with AllGather "
                   "dispatch): add {\"name\": \"ep_alltoall\"}");
    return;
  }
  if (redundant > 0)
    issues.error(param_pointer(spec, "redundant_per_rank"),
                 "redundant experts are an inference placement here: training replicas would need their own gradient "
                 "synchronisation, not modelled");
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

int redundant_experts_per_rank(const config::ScenarioConfig& scenario) {
  const auto* spec = balanced_spec(scenario);
  return spec ? redundant_of(spec->params) : 0;
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
  if (!p.contains("cost_aware") || p.at("cost_aware").get<bool>()) policy.costs = swap_costs(scenario);
  return policy;
}

}  // namespace moesim::strategy
