// The `serving` block: shipped serving scenarios resolve; traces load with their line numbers.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "config/scenario_config.hpp"

using namespace moesim::config;

namespace {

std::string repo(const std::string& relative) {
  return std::string(MOESIM_SOURCE_DIR) + "/" + relative;
}

}  // namespace

TEST_CASE("the Poisson serving scenario resolves to 2 instances' workload, scheduler and SLO") {
  const auto s = load_scenario(repo("scenarios/pro_moe_800i_a2_serving_poisson.json"));
  REQUIRE(s.serving);
  const auto& w = s.serving->workload;
  CHECK(w.arrival.kind == ArrivalKind::Poisson);
  CHECK(w.arrival.rate_per_s == 12);
  CHECK(w.prompt_tokens.kind == LengthKind::Lognormal);
  CHECK(w.prompt_tokens.upper_bound() == 4096);
  CHECK(w.requests == 10000);
  CHECK(s.serving->scheduler.max_batch == 256);
  CHECK(s.serving->slo.tpot_s == Approx(0.1));
  CHECK(s.ranks == 8);
  CHECK(s.parallel.ranks() == 4);
  const auto resolved = resolved_json(s);
  CHECK(resolved["serving"]["workload"]["arrival"]["kind"] == "poisson");
  CHECK_FALSE(resolved["inference"].contains("batch_size"));
}

TEST_CASE("a trace scenario loads its JSONL file relative to the scenario") {
  const auto s = load_scenario(repo("scenarios/pro_moe_800i_a2_serving_trace.json"));
  const auto& a = s.serving->workload.arrival;
  CHECK(a.kind == ArrivalKind::Trace);
  REQUIRE(a.trace.size() == 600);
  CHECK(a.trace.front().line == 1);
  CHECK(a.trace.front().prompt_tokens > 0);
  CHECK(s.serving->scheduler.chunked_prefill);
}

TEST_CASE("trace files: blank lines are skipped, every bad line is reported with its number") {
  const auto path = (std::filesystem::temp_directory_path() / "moesim_trace_test.jsonl").string();
  {
    std::ofstream out(path);
    out << "{\"arrival_s\": 0, \"prompt_tokens\": 5, \"output_tokens\": 2}\n\n"
        << "{\"arrival_s\": -1, \"prompt_tokens\": 5, \"output_tokens\": 2}\n"
        << "{\"arrival_s\": 1, \"prompt_tokens\": 5, \"output_tokens\": 2, \"extra\": 1}\n"
        << "not json\n";
  }
  try {
    load_request_trace(path);
    FAIL("expected a ConfigError");
  } catch (const ConfigError& error) {
    REQUIRE(error.issues().size() == 3);
    CHECK(error.issues()[0].to_string().find("line 3 /arrival_s: expected a number >= 0, got -1") != std::string::npos);
    CHECK(error.issues()[1].to_string().find("line 4 /extra: unknown key") != std::string::npos);
    CHECK(error.issues()[2].to_string().find("line 5: malformed JSON") != std::string::npos);
  }
  std::filesystem::remove(path);
}
