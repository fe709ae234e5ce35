#pragma once
// Family "pipeline_schedule": the order in which each pipeline stage runs the forward and backward passes of the
// step's micro-batches over its model chunks. A schedule only orders work; the step builder
// (training_step_builder) turns the order into ops, PP send/recv and dependencies, and the engine measures the
// resulting bubbles. Selected by {"name": "1f1b"} / {"name": "interleaved_1f1b"} / {"name": "zero_bubble"} /
// {"name": "dualpipev"} / {"name": "zbv"} in a scenario's strategies; default: 1f1b when vpp == 1, interleaved_1f1b
// when vpp > 1 (docs/training.md).
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config_error.hpp"
#include "config/scenario_config.hpp"
#include "model/training_layout.hpp"

namespace moesim::strategy {

// Which part of a backward task: Whole = input and weight gradients together, slot by slot (dx then dw of each
// layer, as autograd runs them; the gradient is sent on when both are done); Input = B, the input gradients (dx)
// only, sent on at once; Weight = W, the weight gradients (dw) only (Qi et al., arXiv 2401.10241).
enum class BackwardPart { Whole, Input, Weight };

// Which tasks an overlap strategy may run as one interleaved group. ByStrategy: the strategy decides from the order
// (adaptive_pipe pairs a backward with the forward after it). WithNext: the schedule runs this task overlapped with
// the next one of the order (DualPipe's overlapped forward-backward chunk), and nothing else pairs. Alone: never
// grouped.
enum class Pairing { ByStrategy, WithNext, Alone };

struct PipelineTask {
  int micro_batch = 0;
  int chunk = 0;                            // model chunk on this stage (virtual stage = chunk x pp + stage)
  bool forward = true;                      // false: backward, of `part`
  BackwardPart part = BackwardPart::Whole;  // backward tasks only
  Pairing pairing = Pairing::ByStrategy;
  // Receives the output gradient from the next virtual stage and sends the input gradient on (Whole or Input).
  bool input_gradient() const { return !forward && part != BackwardPart::Weight; }
  // Ends the micro-batch's use of its activations on this chunk (Whole or Weight: W still reads the layer inputs).
  bool releases() const { return !forward && part != BackwardPart::Input; }
};

// Why a schedule cannot run a layout: the scenario key to blame and the message.
struct LayoutProblem {
  std::string pointer, message;
};

class PipelineSchedule {
 public:
  virtual ~PipelineSchedule() = default;
  virtual std::string name() const = 0;
  // Contract: for 0 <= stage < pp, returns for every (micro_batch, chunk) its forward and either one Whole backward
  // or one Input and one later Weight backward, each backward after its forward, in an order that, run on all
  // stages with blocking receives, cannot deadlock.
  // Throws std::invalid_argument with layout_problem's message when the layout does not suit the schedule.
  virtual std::vector<PipelineTask> stage_order(int stage, int pp, int vpp, int micro_batches) const = 0;
  // Contract: the reason pp x vpp with `micro_batches` per DP rank does not suit the schedule (e.g. 1f1b with
  // vpp > 1), or nullopt; check_pipeline_layout reports it, stage_order throws it.
  virtual std::optional<LayoutProblem> layout_problem(int pp, int vpp, int micro_batches) const = 0;
  // Where the chunks sit along the pipeline (which neighbour a chunk's output goes to).
  virtual model::ChunkPlacement placement() const { return model::ChunkPlacement::Interleaved; }
};

// Every stage's order of `schedule` for the scenario's pp, vpp and micro-batches per DP rank (index = stage).
std::vector<std::vector<PipelineTask>> stage_orders(const PipelineSchedule& schedule,
                                                    const config::ScenarioConfig& scenario);

// The schedule a training scenario asks for (its "pipeline_schedule" strategy, or the default above).
std::unique_ptr<PipelineSchedule> make_pipeline_schedule(const config::ScenarioConfig& scenario);
std::unique_ptr<PipelineSchedule> make_pipeline_schedule(const std::string& name);
std::vector<std::string> pipeline_schedule_names();
// The chunk placement of the scenario's schedule (model::assign_layers needs it).
model::ChunkPlacement chunk_placement(const config::ScenarioConfig& scenario);
// Layout checks of the scenario's schedule (its layout_problem), into `issues`.
void check_pipeline_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues);

// Largest number of (micro-batch, chunk) forwards whose releasing backward (Whole or Weight) has not run yet, over
// the order: the micro-batch activations a stage holds at its peak (B alone frees nothing: W reads the inputs).
// `per_chunk` (optional) receives the count of each chunk at that peak.
int peak_in_flight(const std::vector<PipelineTask>& order, int vpp, std::vector<int>* per_chunk = nullptr);

}  // namespace moesim::strategy
