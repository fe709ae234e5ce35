#pragma once
// Where each NPU's time went: compute, communication, host delays, idle, and communication not
// hidden under compute (exposed), measured from the simulated op intervals.
#include <map>
#include <string>
#include <vector>

#include "engine/simulation.hpp"
#include "model/op_graph.hpp"

namespace moesim::metrics {

struct NpuUsage {
  int rank = 0;
  double busy_s = 0;          // union of compute intervals
  double comm_s = 0;          // union of collective intervals
  double host_s = 0;          // union of host-side delays
  double idle_s = 0;          // makespan minus the union of everything
  double exposed_comm_s = 0;  // communication while no compute ran on this NPU
};

std::vector<NpuUsage> npu_usage(const model::OpGraph& graph, const engine::SimulationResult& result);

// Sum of op durations per phase, averaged over the ranks that have ops.
std::map<std::string, double> phase_time_s(const model::OpGraph& graph, const engine::SimulationResult& result);

}  // namespace moesim::metrics
