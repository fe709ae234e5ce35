#pragma once
// Analytic estimates the "memory" strategy (memory_selective_recompute_swap) ranks its choices with, before any
// simulation: peak device memory of a plan (the memory model, model/training_memory, over every pipeline stage)
// and the step time it adds (recompute ops timed with the roofline, recomputed collectives with a bandwidth
// estimate, swap exposure from the schedule). The simulation measures the real cost; these only order choices.
// docs/training.md ("Selective recompute and swap", "auto mode").
#include <vector>

#include "config/scenario_config.hpp"
#include "model/activation_plan.hpp"
#include "model/expert_load.hpp"
#include "model/training_blocks.hpp"
#include "model/training_layout.hpp"
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

class MemoryPlanEstimator {
 public:
  MemoryPlanEstimator(const config::ScenarioConfig& scenario, const std::vector<std::vector<PipelineTask>>& orders);

  // Peak per-NPU memory over the pipeline stages with `plan` (bytes), and the device memory.
  double peak_memory_bytes(const model::ActivationPlan& plan) const;
  double capacity_bytes() const;
  // Peak memory of pipeline stage `stage` alone with `plan`, and the most layer slots (transformer layers and MTP
  // modules) any of its virtual stages holds.
  double stage_peak_bytes(const model::ActivationPlan& plan, int stage) const;
  int stage_layer_slots(int stage) const;
  const config::ParallelLayout& parallel() const { return scenario_.parallel; }
  // Activation bytes that `plan` removes from a stage's peak, as a fraction of the stage's activations with
  // nothing dropped: 1 - max_s(activations_s(plan)) / max_s(activations_s(keep all)).
  double activation_saved_fraction(const model::ActivationPlan& plan) const;

  // Contract: estimated step time `plan` adds over keeping everything, >= 0. Per stage and micro-batch: the
  // recompute ops' time (roofline; collectives by bandwidth) plus the swap exposure; the slowest stage x
  // micro-batches. Swap exposure per micro-batch: max(0, 2 t - window, t - period) with t = swapped bytes / host
  // link bandwidth, period = the stage's forward + backward time of one micro-batch, window = (in-flight
  // micro-batches - 1/2) x period (the compute between a micro-batch's forward and its backward).
  double added_time_s(const model::ActivationPlan& plan) const;
  // Whether the device can swap (a host link bandwidth is given) and whether ops can be timed (a peak is given).
  bool can_swap() const;
  bool can_time() const;

 private:
  struct Slot {
    model::LayerSlot slot;
    std::vector<model::BlockOp> forward;
    int chunk = 0;
    int virtual_stage = 0;
    int layer_position = 0;  // among the virtual stage's layer slots (model::layer_positions)
  };
  struct Stage {
    std::vector<int> in_flight_per_chunk;
    double in_flight_micro_batches = 0.0;  // (micro-batch, chunk) pairs at the peak / vpp
    double period_s = 0.0;                 // forward + backward of one micro-batch over the stage's chunks
    std::vector<Slot> slots;
    int first_rank = 0;
  };
  double ops_time_s(const std::vector<model::BlockOp>& ops, int rank) const;

  const config::ScenarioConfig& scenario_;
  std::vector<model::VirtualStage> virtual_stages_;
  model::TrainingShape shape_;
  model::TrainingLayout layout_;
  std::vector<Stage> stages_;
  model::ExpertLoad expert_load_;  // the step's (skewed loads raise the hot ranks' expert activations)
  int micro_batches_ = 0;
};

}  // namespace moesim::strategy
