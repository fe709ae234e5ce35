// Metric-by-metric comparison of two summary.json documents (see summary_compare.hpp).
#include "metrics/summary_compare.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace moesim::metrics {

using nlohmann::json;

namespace {

void flatten(const json& value, const std::string& name, std::map<std::string, json>& out) {
  if (value.is_object()) {
    for (const auto& [key, child] : value.items()) flatten(child, name.empty() ? key : name + "." + key, out);
  } else if (value.is_array()) {
    for (std::size_t i = 0; i < value.size(); ++i) flatten(value[i], name + "[" + std::to_string(i) + "]", out);
  } else {
    out[name] = value;
  }
}

std::map<std::string, json> predictions(const json& summary, const char* which) {
  if (!summary.is_object() || !summary.contains("metrics") || !summary["metrics"].is_object()) {
    throw std::invalid_argument(std::string(which) + ": /metrics: expected a summary.json object with a metrics object");
  }
  std::map<std::string, json> out;
  flatten(summary["metrics"], "", out);
  if (summary.contains("simulated_time_s")) out["simulated_time_s"] = summary["simulated_time_s"];
  return out;
}

// `baseline` / `current` are nullptr when that summary lacks the metric.
MetricComparison compare_one(const std::string& name, const json* baseline, const json* current,
                             const CompareOptions& options) {
  MetricComparison row{name, baseline ? *baseline : json(), current ? *current : json(), 0.0, true};
  if (!baseline || !current) {
    row.relative_change = 1.0;
    row.within_tolerance = false;
  } else if (baseline->is_number() && current->is_number()) {
    const double a = baseline->get<double>();
    const double b = current->get<double>();
    if (std::abs(a) <= options.zero_tolerance_abs) {
      row.relative_change = std::abs(b) <= options.zero_tolerance_abs ? 0.0 : (b > 0 ? 1.0 : -1.0);
    } else {
      row.relative_change = (b - a) / std::abs(a);
    }
    row.within_tolerance = std::abs(row.relative_change) <= options.tolerance_rel;
  } else {
    row.within_tolerance = *baseline == *current;
    row.relative_change = row.within_tolerance ? 0.0 : 1.0;
  }
  return row;
}

}  // namespace

std::vector<MetricComparison> compare_summaries(const json& baseline, const json& current,
                                                const CompareOptions& options) {
  const auto before = predictions(baseline, "baseline");
  const auto after = predictions(current, "current");
  std::vector<std::string> names;
  for (const auto& [name, value] : before) names.push_back(name);
  for (const auto& [name, value] : after) {
    if (!before.count(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  std::vector<MetricComparison> rows;
  for (const auto& name : names) {
    if (!options.only.empty() && std::find(options.only.begin(), options.only.end(), name) == options.only.end()) {
      continue;
    }
    const auto a = before.find(name);
    const auto b = after.find(name);
    rows.push_back(compare_one(name, a == before.end() ? nullptr : &a->second, b == after.end() ? nullptr : &b->second,
                               options));
  }
  for (const auto& wanted : options.only) {
    if (!before.count(wanted) && !after.count(wanted)) {
      throw std::invalid_argument("--metric " + wanted + ": no such metric in either summary");
    }
  }
  return rows;
}

}  // namespace moesim::metrics
