// `moesim run` on serving scenarios end to end: summary metrics, requests.jsonl, steps.csv, determinism, P/D,
// chunked prefill and trace replay; static inference scenarios keep their scalar metrics.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli_runner.hpp"

using nlohmann::json;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("moesim_serving_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> rows;
  std::istringstream in(read_text_file(path));
  for (std::string line; std::getline(in, line);) rows.push_back(json::parse(line));
  return rows;
}

}  // namespace

TEST_CASE("a Poisson serving run writes latency distributions, per-request and per-step files") {
  const auto dir = temp_dir("poisson");
  const auto summary =
      run_scenario_into(dir, "scenarios/pro_moe_800i_a2_serving_poisson.json", {"serving.workload.requests=400"});
  const auto& m = summary["metrics"];
  CHECK(m["mode"] == "serving");
  CHECK(m["requests"] == 400);
  for (const char* name : {"ttft_ms", "tpot_ms", "e2e_latency_ms"}) {
    INFO(name);
    const auto& d = m[name];
    CHECK(d["p50"].get<double>() > 0);
    CHECK(d["p50"].get<double>() <= d["p90"].get<double>());
    CHECK(d["p90"].get<double>() <= d["p99"].get<double>());
    CHECK(m[std::string(name) + "_p50"] == d["p50"]);
  }
  const double throughput = m["throughput_tokens_per_s"].get<double>();
  CHECK(throughput == Approx(m["output_tokens"].get<double>() / m["duration_s"].get<double>()));
  CHECK(m["throughput_tokens_per_s_per_device"].get<double>() == Approx(throughput / 8));
  CHECK(summary["simulated_time_s"] == m["duration_s"]);
  CHECK(m["slo_attainment"]["ttft_ms_target"] == 2000.0);
  CHECK(m["kv_cache_utilisation"]["peak"].get<double>() > 0);
  CHECK(m["kv_cache_utilisation"]["peak"].get<double>() <= 1.0);
  CHECK(m["batch_size_series"]["mean_batch"].size() == 100);
  double shares = 0;
  for (const auto& [name, share] : m["op_class_time_share"].items()) shares += share.get<double>();
  CHECK(shares == Approx(1.0));
  CHECK(m["profile"]["samples"].get<int>() > 20);

  const auto requests = read_jsonl(dir + "/requests.jsonl");
  REQUIRE(requests.size() == 400);
  for (const auto& r : requests) {
    CHECK(r["finish_s"].get<double>() >= r["first_token_s"].get<double>());
    CHECK(r["first_token_s"].get<double>() > r["arrival_s"].get<double>());
  }
  CHECK(read_text_file(dir + "/steps.csv").rfind("start_s,end_s,instance,decode_seqs", 0) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("serving runs are deterministic apart from sim.*") {
  const auto a = temp_dir("det_a"), b = temp_dir("det_b");
  const std::vector<std::string> sets = {"serving.workload.requests=300", "serving.scheduler.chunked_prefill=true",
                                         "serving.scheduler.max_tokens_per_step=1024"};
  auto sa = run_scenario_into(a, "scenarios/pro_moe_800i_a2_serving_poisson.json", sets);
  auto sb = run_scenario_into(b, "scenarios/pro_moe_800i_a2_serving_poisson.json", sets);
  sa.erase("sim");
  sb.erase("sim");
  CHECK(sa.dump() == sb.dump());
  CHECK(read_text_file(a + "/requests.jsonl") == read_text_file(b + "/requests.jsonl"));
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

TEST_CASE("prefill/decode disaggregation moves the KV cache over RoCE and decodes on the other instance") {
  const auto dir = temp_dir("pd");
  const auto summary = run_scenario_into(dir, "scenarios/pro_moe_800i_a2_serving_pd.json", {"serving.workload.requests=200"});
  const auto& m = summary["metrics"];
  CHECK(m["instances"]["prefill"] == 1);
  CHECK(m["instances"]["decode"] == 1);
  CHECK(m["profile"]["transfer_fabric"] == "roce");
  CHECK(m["kv_transfer_ms"]["p50"].get<double>() > 0);
  for (const auto& r : read_jsonl(dir + "/requests.jsonl")) {
    if (r["output_tokens"].get<int>() > 1) {
      CHECK(r["instance"] == 0);
      CHECK(r["decode_instance"] == 1);
    }
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("a trace replay serves every request of the trace") {
  const auto dir = temp_dir("trace");
  const auto summary = run_scenario_into(dir, "scenarios/pro_moe_800i_a2_serving_trace.json");
  CHECK(summary["metrics"]["requests"] == 600);
  CHECK(summary["scenario"]["serving"]["workload"]["arrival"]["trace_requests"] == 600);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a static inference scenario keeps its scalar step metrics") {
  const auto dir = temp_dir("static");
  const auto summary = run_scenario_into(dir, "scenarios/pro_moe_800i_a2_decode.json");
  CHECK(summary["metrics"]["mode"] == "static_batch");
  CHECK(summary["metrics"]["tpot_ms"].is_number());
  CHECK_FALSE(summary["scenario"].contains("serving"));
  std::filesystem::remove_all(dir);
}
