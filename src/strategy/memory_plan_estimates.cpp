#include "strategy/memory_plan_estimates.hpp"

#include <algorithm>

#include "model/activation_recompute.hpp"
#include "model/training_memory.hpp"
#include "strategy/block_time_estimates.hpp"
#include "strategy/expert_loads.hpp"
#include "strategy/expert_placement_balanced.hpp"
#include "strategy/moe_comm.hpp"
#include "strategy/step_shape.hpp"

namespace moesim::strategy {

MemoryPlanEstimator::MemoryPlanEstimator(const config::ScenarioConfig& scenario,
                                         const std::vector<std::vector<PipelineTask>>& orders)
    : scenario_(scenario),
      virtual_stages_(model::assign_layers(*scenario.model, scenario.parallel, chunk_placement(scenario))),
      shape_(step_shape(scenario)),
      layout_(scenario.parallel, scenario.parallel.dp, scenario.topology.ranks_per_node()),
      micro_batches_(config::micro_batches_per_step(scenario)) {
  layout_.set_cp_ulysses(shape_.cp_ulysses);
  expert_load_ = scenario_expert_loads(scenario).worst();
  const auto& p = scenario.parallel;
  const auto& model = *scenario.model;
  for (int s = 0; s < p.pp; ++s) {
    Stage stage;
    const int peak = peak_in_flight(orders[static_cast<std::size_t>(s)], p.vpp, &stage.in_flight_per_chunk);
    stage.in_flight_micro_batches = double(peak) / p.vpp;
    stage.first_rank = layout_.stage_ranks(s).front();
    for (const auto& vs : virtual_stages_) {
      if (vs.stage != s) continue;
      std::vector<std::vector<model::BlockOp>> parts;
      if (vs.embedding) parts.push_back(model::embedding_forward(model, shape_));
      const std::vector<int> positions = model::layer_positions(vs);
      for (std::size_t i = 0; i < vs.slots.size(); ++i) {
        parts.push_back(model::slot_forward(model, shape_, vs.slots[i]));
        stage.slots.push_back({vs.slots[i], parts.back(), vs.chunk, vs.chunk * p.pp + vs.stage, positions[i]});
      }
      if (vs.head) parts.push_back(model::head_forward(model, shape_));
      if (!can_time()) continue;
      for (const auto& ops : parts) {
        stage.period_s += ops_time_s(ops, stage.first_rank);
        stage.period_s += ops_time_s(model::backward_ops(ops, model::Pass::BackwardInput), stage.first_rank);
        stage.period_s += ops_time_s(model::backward_ops(ops, model::Pass::BackwardWeight), stage.first_rank);
      }
    }
    stages_.push_back(std::move(stage));
  }
}

bool MemoryPlanEstimator::can_swap() const {
  return scenario_.topology.device.host_link_bandwidth_bytes_per_s.value > 0.0;
}

bool MemoryPlanEstimator::can_time() const {
  return BlockTimeEstimator(scenario_, layout_).can_time(shape_.dtype);
}

double MemoryPlanEstimator::capacity_bytes() const {
  return scenario_.topology.device.memory_bytes.value;
}

double MemoryPlanEstimator::stage_peak_bytes(const model::ActivationPlan& plan, int stage) const {
  return model::stage_memory(scenario_, virtual_stages_, stage,
                             stages_[static_cast<std::size_t>(stage)].in_flight_per_chunk, plan,
                             moe_comm_plan(scenario_), expert_load_)
      .breakdown.total();
}

double MemoryPlanEstimator::peak_memory_bytes(const model::ActivationPlan& plan) const {
  double peak = 0.0;
  for (int s = 0; s < scenario_.parallel.pp; ++s) peak = std::max(peak, stage_peak_bytes(plan, s));
  return peak;
}

int MemoryPlanEstimator::stage_layer_slots(int stage) const {
  int most = 0;
  for (const auto& vs : virtual_stages_) {
    if (vs.stage != stage) continue;
    const auto n = std::count_if(vs.slots.begin(), vs.slots.end(),
                                 [](const model::LayerSlot& slot) { return slot.kind != model::SlotKind::Padding; });
    most = std::max(most, static_cast<int>(n));
  }
  return most;
}

double MemoryPlanEstimator::activation_saved_fraction(const model::ActivationPlan& plan) const {
  double with = 0.0, without = 0.0;
  for (int s = 0; s < scenario_.parallel.pp; ++s) {
    const auto memory =
        model::stage_memory(scenario_, virtual_stages_, s, stages_[static_cast<std::size_t>(s)].in_flight_per_chunk,
                            plan, moe_comm_plan(scenario_), expert_load_);
    with = std::max(with, memory.breakdown.activations_bytes);
    without = std::max(without, memory.breakdown.activations_keep_all_bytes);
  }
  return without > 0.0 ? 1.0 - with / without : 0.0;
}

double MemoryPlanEstimator::ops_time_s(const std::vector<model::BlockOp>& ops, int rank) const {
  return BlockTimeEstimator(scenario_, layout_).ops_time_s(ops, rank);
}

double MemoryPlanEstimator::added_time_s(const model::ActivationPlan& plan) const {
  if (plan.empty() || !can_time()) return 0.0;
  const auto& model = *scenario_.model;
  const double host_bw = scenario_.topology.device.host_link_bandwidth_bytes_per_s.value;
  double worst = 0.0;
  for (std::size_t s = 0; s < stages_.size(); ++s) {
    const Stage& stage = stages_[s];
    double recompute_s = 0.0, swapped = 0.0;
    for (const auto& slot : stage.slots) {
      const model::ActivationPlan slot_plan = plan.at_slot(slot.chunk, static_cast<int>(s), slot.layer_position);
      recompute_s +=
          ops_time_s(model::recompute_ops(model, shape_, slot.slot, slot.forward, slot_plan), stage.first_rank);
      swapped += model::swap_bytes(model, shape_, slot.slot, slot_plan, slot.virtual_stage);
    }
    double exposed_s = 0.0;
    if (swapped > 0.0) {
      const double t = host_bw > 0.0 ? swapped / host_bw : 0.0;
      const double window = (std::max(1.0, stage.in_flight_micro_batches) - 0.5) * stage.period_s;
      exposed_s = std::max({0.0, 2.0 * t - window, t - stage.period_s});
    }
    worst = std::max(worst, recompute_s + exposed_s);
  }
  return worst * micro_batches_;
}

}  // namespace moesim::strategy
