#pragma once
// Family "pipeline_schedule": the order in which each pipeline stage runs the forward and backward passes of the
// step's micro-batches over its model chunks. A schedule only orders work; the step builder
// (training_step_builder) turns the order into ops, PP send/recv and dependencies, and the engine measures the
// resulting bubbles. Selected by {"name": "1f1b"} / {"name": "interleaved_1f1b"} in a scenario's strategies;
// default: 1f1b when vpp == 1, interleaved_1f1b when vpp > 1 (docs/training.md).
#include <memory>
#include <string>
#include <vector>

#include "config/scenario_config.hpp"

namespace moesim::strategy {

struct PipelineTask {
  int micro_batch = 0;
  int chunk = 0;        // model chunk on this stage (virtual stage = chunk x pp + stage)
  bool forward = true;  // false: backward (input gradient then weight gradient)
};

class PipelineSchedule {
 public:
  virtual ~PipelineSchedule() = default;
  virtual std::string name() const = 0;
  // Contract: for 0 <= stage < pp, returns every (micro_batch, chunk) forward and backward exactly once, each
  // backward after its forward, in an order that, run on all stages with blocking receives, cannot deadlock.
  // Throws std::invalid_argument when the layout does not suit the schedule (e.g. 1f1b with vpp > 1).
  virtual std::vector<PipelineTask> stage_order(int stage, int pp, int vpp, int micro_batches) const = 0;
};

// The schedule a training scenario asks for (its "pipeline_schedule" strategy, or the default above).
std::unique_ptr<PipelineSchedule> make_pipeline_schedule(const config::ScenarioConfig& scenario);
std::unique_ptr<PipelineSchedule> make_pipeline_schedule(const std::string& name);
std::vector<std::string> pipeline_schedule_names();

// Largest number of (micro-batch, chunk) forwards whose backward has not run yet, over the order: the micro-batch
// activations a stage holds at its peak. `per_chunk` (optional) receives the count of each chunk at that peak.
int peak_in_flight(const std::vector<PipelineTask>& order, int vpp, std::vector<int>* per_chunk = nullptr);

}  // namespace moesim::strategy
