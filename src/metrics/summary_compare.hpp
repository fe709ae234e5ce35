#pragma once
// Compares the predictions of two summary.json documents (a baseline and a new run) metric by metric, for
// regression checks in CI: every scalar under `metrics` (nested objects and arrays flattened to dotted / indexed
// names) plus `simulated_time_s`. Engine statistics (`sim`) and per-NPU tables are not predictions and are skipped.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace moesim::metrics {

struct MetricComparison {
  std::string name;         // e.g. "step_time_s", "ttft_ms.p99", "step_times_s[1]"
  nlohmann::json baseline;  // null when the baseline lacks the metric (a metric present in one run only is a change)
  nlohmann::json current;   // null when the current run lacks it
  double relative_change;   // (current - baseline) / |baseline| for numbers; 0 or 1 otherwise
  bool within_tolerance;
};

struct CompareOptions {
  double tolerance_rel = 0.0;         // |relative change| allowed per metric
  double zero_tolerance_abs = 1e-12;  // numbers this close to a zero baseline count as equal
  std::vector<std::string> only;      // compare only these metric names (empty = all)
};

// Both documents must be summary.json objects; throws std::invalid_argument naming the missing part otherwise.
std::vector<MetricComparison> compare_summaries(const nlohmann::json& baseline, const nlohmann::json& current,
                                                const CompareOptions& options);

}  // namespace moesim::metrics
