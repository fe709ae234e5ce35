#pragma once
// summary.json: the scenario as resolved, per-NPU time use, exposed communication, busiest links,
// workload metrics, and engine figures under "sim" (the only fields that vary between identical runs).
#include <nlohmann/json.hpp>
#include <string>

#include "config/scenario_config.hpp"
#include "engine/simulation.hpp"
#include "model/op_graph.hpp"

namespace moesim::metrics {

inline constexpr int kSummarySchemaVersion = 1;

struct EngineFigures {
  double wall_s = 0;        // whole run: graph building + platform + simulation
  double peak_rss_mib = 0;  // of the process
};

// `workload_metrics` goes under "metrics" (e.g. microbenchmark bandwidths, training step time).
nlohmann::json build_summary(const config::ScenarioConfig& scenario, const model::OpGraph& graph,
                             const engine::SimulationResult& result, const nlohmann::json& workload_metrics,
                             const EngineFigures& figures, int top_links = 10);

// A short human-readable table of a summary, for stdout.
std::string summary_text(const nlohmann::json& summary);

// Writes `summary` to DIR/summary.json (creating DIR); throws std::runtime_error on I/O failure.
void write_summary(const std::string& out_dir, const nlohmann::json& summary);

double peak_rss_mib();

}  // namespace moesim::metrics
