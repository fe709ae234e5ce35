#pragma once
// Training figures of the memory plan and of multi-step runs: the plan the memory strategy chose, the FLOPs its
// recompute adds, the bytes it swaps, and per-step times. docs/training.md ("Selective recompute and swap",
// "Several steps").
#include <nlohmann/json.hpp>
#include <vector>

#include "config/scenario_config.hpp"
#include "engine/simulation.hpp"
#include "model/op_graph.hpp"
#include "strategy/pipeline_schedule.hpp"

namespace moesim::metrics {

struct StepTimes {
  std::vector<double> times_s;  // step k ends when its last op ends; its time runs from the previous step's end
  double mean_s = 0.0;
  std::size_t last_step_first_op = 0;
};
// `step_first_op`: the first op id of each step (empty = the whole graph is one step).
StepTimes step_times(const model::OpGraph& graph, const engine::SimulationResult& result,
                     const std::vector<std::size_t>& step_first_op);

// With a memory strategy: "activation_plan" (text), "memory_plan" (the strategy's report), and measured on the
// graph: "recompute_flops_fraction" (matmul / attention FLOPs re-run by recompute over the step's model FLOPs,
// whole cluster) and "swap_gib_per_npu" (bytes copied to the host per step by the busiest NPU). Empty otherwise.
nlohmann::json memory_plan_metrics(const config::ScenarioConfig& scenario, const model::OpGraph& graph,
                                   const std::vector<std::vector<strategy::PipelineTask>>& stage_orders,
                                   double model_flops_per_step, double steps);

}  // namespace moesim::metrics
