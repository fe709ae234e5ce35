#pragma once
// Chrome / Perfetto trace: one process per NPU, one thread per stream, one slice per op with its
// FLOPs and bytes in args. Timestamps in microseconds of simulated time.
#include <string>

#include "engine/simulation.hpp"
#include "model/op_graph.hpp"

namespace moesim::metrics {

// Throws std::runtime_error when the file cannot be written.
void write_chrome_trace(const std::string& path, const model::OpGraph& graph, const engine::SimulationResult& result);

}  // namespace moesim::metrics
