#pragma once
// Training-step figures for summary.json "metrics": step time, tokens/s, MFU, per-NPU peak memory and OOM verdict,
// pipeline bubble and exposed communication measured on the simulated timeline, and a time breakdown.
// Definitions (FLOP convention, how bubble and exposed communication are measured): docs/training.md ("Metrics").
#include <nlohmann/json.hpp>

#include "config/scenario_config.hpp"
#include "engine/simulation.hpp"
#include "strategy/training_step_builder.hpp"

namespace moesim::metrics {

// Model FLOPs of one step: 3 x forward FLOPs per token (model_stats, MTP included) x tokens; no recompute.
double training_model_flops(const config::ScenarioConfig& scenario);

// Timeline measures, averaged over the simulated ranks. Pipeline window = [first compute op start, last
// non-optimizer compute op end] over all ranks. bubble = window minus the union of the rank's compute and its
// layer / pipeline communication (TP, CP, EP, PP; data-parallel collectives that fall into the bubble stay
// counted as bubble), over the window. exposed communication = time any collective of the rank runs while none
// of its compute does, over the step; compute = union of compute intervals, over the step.
struct PipelineTimeline {
  double window_s = 0.0;
  double bubble_fraction = 0.0;
  double exposed_comm_fraction = 0.0;
  double compute_fraction = 0.0;
};
// Only ops [first_op, end_op) count, over their span (from the end of the ops before them to their last end): one
// step of a multi-step graph.
PipelineTimeline pipeline_timeline(const model::OpGraph& graph, const engine::SimulationResult& result,
                                   std::size_t first_op = 0, std::size_t end_op = static_cast<std::size_t>(-1));

// `graph` is the step built by strategy::build_training_step for `scenario` (its schedule, memory plan and
// simulated DP size are recovered from the scenario and the graph's rank count); `step_first_op` its
// TrainingStep::step_first_op (empty = one step). Several steps: step_time_s is their mean, step_times_s lists
// them, timeline fractions are those of the last step, phase times are per step. `steady_phases`: the step's
// TrainingStep::steady_phases (empty: no steady-phase EP figures). Needs result.ops.
nlohmann::json training_metrics(const config::ScenarioConfig& scenario, const model::OpGraph& graph,
                                const engine::SimulationResult& result,
                                const std::vector<std::size_t>& step_first_op = {},
                                const std::vector<strategy::SteadyPhase>& steady_phases = {});

// Memory only (no simulation): per-stage peak, the worst stage's breakdown, oom.
nlohmann::json training_memory_json(const config::ScenarioConfig& scenario,
                                    const std::vector<std::vector<strategy::PipelineTask>>& stage_orders);

}  // namespace moesim::metrics
