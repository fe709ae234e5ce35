// summary_compare: flattening, relative change, tolerance, missing metrics, non-numeric values.
#include "metrics/summary_compare.hpp"

#include <catch2/catch.hpp>

using moesim::metrics::compare_summaries;
using moesim::metrics::CompareOptions;
using nlohmann::json;

namespace {

const moesim::metrics::MetricComparison& row(const std::vector<moesim::metrics::MetricComparison>& rows,
                                             const std::string& name) {
  for (const auto& r : rows) {
    if (r.name == name) return r;
  }
  FAIL("no row " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("compare_summaries flattens nested metrics and measures relative change against the baseline") {
  const json a = {{"metrics", {{"step_time_s", 2.0}, {"ttft_ms", {{"p50", 100.0}, {"p99", 0.0}}}, {"steps", {1.0, 2.0}},
                               {"schedule", "1f1b"}, {"oom", false}}},
                  {"simulated_time_s", 2.0},
                  {"sim", {{"wall_s", 1.0}}}};
  json b = a;
  b["metrics"]["step_time_s"] = 2.1;
  b["metrics"]["ttft_ms"]["p99"] = 1e-15;
  b["metrics"]["steps"][1] = 1.0;
  b["sim"]["wall_s"] = 9.0;  // engine statistics are not predictions
  CompareOptions options;
  options.tolerance_rel = 0.04;
  const auto rows = compare_summaries(a, b, options);
  CHECK(rows.size() == 8);  // 7 metric values (steps has two) + simulated_time_s
  CHECK(row(rows, "step_time_s").relative_change == Approx(0.05));
  CHECK_FALSE(row(rows, "step_time_s").within_tolerance);
  CHECK(row(rows, "ttft_ms.p50").relative_change == 0.0);
  CHECK(row(rows, "ttft_ms.p99").within_tolerance);  // both at zero within 1e-12
  CHECK(row(rows, "steps[1]").relative_change == Approx(-0.5));
  CHECK(row(rows, "schedule").within_tolerance);
  CHECK(row(rows, "simulated_time_s").within_tolerance);
  options.tolerance_rel = 0.5;
  for (const auto& r : compare_summaries(a, b, options)) CHECK(r.within_tolerance);
}

TEST_CASE("compare_summaries: a metric in one summary only, or a changed string, is beyond any tolerance") {
  const json a = {{"metrics", {{"x", 1.0}, {"overlap", "none"}}}};
  const json b = {{"metrics", {{"y", 1.0}, {"overlap", "adaptive_pipe"}}}};
  CompareOptions options;
  options.tolerance_rel = 10.0;
  const auto rows = compare_summaries(a, b, options);
  REQUIRE(rows.size() == 3);
  for (const auto& r : rows) CHECK_FALSE(r.within_tolerance);
  CHECK(row(rows, "x").current.is_null());
  CHECK(row(rows, "y").baseline.is_null());
}

TEST_CASE("compare_summaries: --metric selection and bad documents") {
  const json a = {{"metrics", {{"x", 1.0}, {"z", 3.0}}}};
  CompareOptions options;
  options.only = {"z"};
  const auto rows = compare_summaries(a, a, options);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].name == "z");
  options.only = {"nope"};
  CHECK_THROWS_WITH(compare_summaries(a, a, options), Catch::Contains("--metric nope"));
  CHECK_THROWS_WITH(compare_summaries(json::object(), a, {}), Catch::Contains("baseline: /metrics"));
  CHECK_THROWS_WITH(compare_summaries(a, json::array(), {}), Catch::Contains("current: /metrics"));
}
