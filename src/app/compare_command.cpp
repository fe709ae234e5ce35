// `moesim compare BASELINE CURRENT`: the predictions of two runs side by side, for regression checks in CI. Each
// argument is a summary.json or the --out folder holding one. Exit 0 when every metric is within --tolerance-rel,
// 3 when some differ, 2 on bad input (docs/validation.md, "Regression checks").
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "app/commands.hpp"
#include "app/errors.hpp"
#include "metrics/summary_compare.hpp"

namespace moesim::app {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

json read_summary(const std::string& argument) {
  const fs::path path = fs::is_directory(argument) ? fs::path(argument) / "summary.json" : fs::path(argument);
  std::ifstream in(path);
  if (!in) throw std::invalid_argument(path.string() + ": cannot read (expected a summary.json or a run's --out folder)");
  try {
    return json::parse(in);
  } catch (const json::parse_error& error) {
    throw std::invalid_argument(path.string() + ": not valid JSON: " + error.what());
  }
}

std::string value_text(const json& value) {
  if (value.is_null()) return "-";
  if (value.is_number()) {
    char text[32];
    std::snprintf(text, sizeof text, "%.6g", value.get<double>());
    return text;
  }
  return value.dump();
}

std::string table_text(const std::vector<metrics::MetricComparison>& rows, const CompareOptions& options) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof line, "%-40s %14s %14s %9s  %s\n", "metric", "baseline", "current", "change", "within");
  out += line;
  int beyond = 0;
  int changed = 0;
  for (const auto& row : rows) {
    if (!row.within_tolerance) ++beyond;
    if (row.relative_change == 0.0 && row.within_tolerance) continue;
    ++changed;
    if (options.only_beyond && row.within_tolerance) continue;
    std::snprintf(line, sizeof line, "%-40s %14s %14s %+8.3f%%  %s\n", row.name.c_str(),
                  value_text(row.baseline).c_str(), value_text(row.current).c_str(), 100.0 * row.relative_change,
                  row.within_tolerance ? "yes" : "NO");
    out += line;
  }
  std::snprintf(line, sizeof line, "%zu metric(s) compared, %d changed, %d beyond +-%g%%\n", rows.size(), changed,
                beyond, 100.0 * options.tolerance_rel);
  out += line;
  return out;
}

}  // namespace

int compare_command(const CompareOptions& options) {
  return guarded([&] {
    if (!(options.tolerance_rel >= 0.0) || !std::isfinite(options.tolerance_rel)) {
      throw std::invalid_argument("--tolerance-rel: expected a finite number >= 0");
    }
    const json baseline = read_summary(options.baseline);
    const json current = read_summary(options.current);
    metrics::CompareOptions compare;
    compare.tolerance_rel = options.tolerance_rel;
    compare.only = options.metrics;
    const auto rows = metrics::compare_summaries(baseline, current, compare);
    bool all_within = true;
    for (const auto& row : rows) all_within = all_within && row.within_tolerance;
    if (options.json) {
      json out = json::array();
      for (const auto& row : rows) {
        out.push_back({{"metric", row.name},
                       {"baseline", row.baseline},
                       {"current", row.current},
                       {"relative_change", row.relative_change},
                       {"within_tolerance", row.within_tolerance}});
      }
      std::cout << out.dump(2) << '\n';
    } else {
      std::cout << table_text(rows, options);
    }
    return all_within ? kExitOk : kExitDifferent;
  });
}

}  // namespace moesim::app
