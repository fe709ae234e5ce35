#include "metrics/training_plan_metrics.hpp"

#include <algorithm>

#include "config/units.hpp"
#include "strategy/memory_selective_recompute_swap.hpp"

namespace moesim::metrics {

using nlohmann::json;

StepTimes step_times(const model::OpGraph& graph, const engine::SimulationResult& result,
                     const std::vector<std::size_t>& step_first_op) {
  StepTimes out;
  std::vector<std::size_t> bounds = step_first_op;
  if (bounds.empty()) bounds.push_back(0);
  bounds.push_back(graph.ops.size());
  double previous_end = 0.0;
  for (std::size_t k = 0; k + 1 < bounds.size(); ++k) {
    double end = previous_end;
    for (std::size_t id = bounds[k]; id < bounds[k + 1] && id < result.ops.size(); ++id) {
      end = std::max(end, result.ops[id].end_s);
    }
    if (result.ops.size() != graph.ops.size()) end = result.makespan_s;  // no per-op times: one step
    out.times_s.push_back(end - previous_end);
    previous_end = end;
  }
  out.last_step_first_op = bounds[bounds.size() - 2];
  double total = 0.0;
  for (double t : out.times_s) total += t;
  out.mean_s = total / double(out.times_s.size());
  return out;
}

json memory_plan_metrics(const config::ScenarioConfig& scenario, const model::OpGraph& graph,
                         const std::vector<std::vector<strategy::PipelineTask>>& stage_orders,
                         double model_flops_per_step, double steps) {
  const auto memory = strategy::resolve_memory_plan(scenario, stage_orders);
  if (memory.report.is_null()) return json::object();
  double recompute_flops = 0.0;
  std::vector<double> swap_s(static_cast<std::size_t>(graph.num_ranks), 0.0);
  for (const auto& op : graph.ops) {
    if (op.kind == model::OpKind::Compute && op.phase == "recompute" &&
        op.compute.op_class != config::OpClass::Vector) {
      recompute_flops += op.compute.flops;
    }
    if (op.kind == model::OpKind::Delay && op.phase == "swap_out")
      swap_s[static_cast<std::size_t>(op.rank)] += op.delay_s;
  }
  // the graph may simulate fewer DP replicas than the scenario has; every replica does the same work
  const double replica_scale = graph.num_ranks > 0 ? double(scenario.ranks) / graph.num_ranks : 0.0;
  const double busiest_s = swap_s.empty() ? 0.0 : *std::max_element(swap_s.begin(), swap_s.end());
  const double swap_bytes = busiest_s * scenario.topology.device.host_link_bandwidth_bytes_per_s.value;
  return {{"activation_plan", strategy::plan_text(memory.plan)},
          {"memory_plan", memory.report},
          {"recompute_flops_fraction",
           model_flops_per_step > 0.0 ? recompute_flops * replica_scale / steps / model_flops_per_step : 0.0},
          {"swap_gib_per_npu", swap_bytes / steps / config::units::kGibibyte}};
}

}  // namespace moesim::metrics
