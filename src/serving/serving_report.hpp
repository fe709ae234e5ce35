#pragma once
// Serving metrics for summary.json `metrics` (names and definitions: docs/serving.md "Metrics"), and the
// per-request (requests.jsonl) and per-step (steps.csv) files written next to it.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/serving_config.hpp"
#include "serving/kv_capacity.hpp"
#include "serving/serving_loop.hpp"

namespace moesim::serving {

// Linear interpolation between closest ranks (q in [0, 1]); `values` need not be sorted; 0 when empty.
double percentile(std::vector<double> values, double q);

struct ReportContext {
  int devices = 1;  // ranks serving (instances x ranks per instance)
  int instances = 1;
  int prefill_instances = 0;
  int ranks_per_instance = 1;
  config::SloTargets slo;
  KvCapacity kv;
  std::vector<std::string> class_names;
};

nlohmann::json serving_metrics(const ServingResult& result, const ReportContext& context);

void write_requests_jsonl(const std::string& out_dir, const ServingResult& result);
void write_steps_csv(const std::string& out_dir, const ServingResult& result);

}  // namespace moesim::serving
