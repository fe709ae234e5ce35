// `moesim run` on static inference steps: MTP turns the step time into TPOT per expected token, the host dispatch
// shows up as a phase, and a run with every strategy is deterministic.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

using nlohmann::json;

TEST_CASE("mtp: TPOT is the step time over the expected tokens per step, throughput counts them") {
  const std::string scenario = "scenarios/calibration/pro_moe_800i_a2_decode_bs456.json";
  const auto plain = run_scenario(scenario, {}, "plain")["metrics"];
  CHECK(plain["tokens_per_step_per_sequence"].get<double>() == 1.0);
  CHECK(plain["tpot_ms"].get<double>() == Approx(plain["step_time_s"].get<double>() * 1e3));
  const auto summary = run_scenario(
      scenario, {R"(strategies=[{"name":"mtp","params":{"draft_tokens":2,"acceptance":[0.8,0.5]}}])"}, "mtp");
  const auto& m = summary["metrics"];
  const double tokens = 1 + 0.8 + 0.8 * 0.5;
  CHECK(m["tokens_per_step_per_sequence"].get<double>() == Approx(tokens));
  CHECK(m["tpot_ms"].get<double>() == Approx(m["step_time_s"].get<double>() * 1e3 / tokens));
  CHECK(m["throughput_tokens_per_s"].get<double>() == Approx(456 * tokens / m["step_time_s"].get<double>()));
  // The verify step over 3 tokens per sequence plus 2 draft passes costs more than a plain step, less than 3.
  CHECK(m["step_time_s"].get<double>() > plain["step_time_s"].get<double>());
  CHECK(m["step_time_s"].get<double>() < 3 * plain["step_time_s"].get<double>());
  CHECK(summary["phases_s"]["mtp_draft"].get<double>() > 0);
}

TEST_CASE("the host dispatch phase is reported and bounds a batch-1 decode step") {
  const auto summary = run_scenario("scenarios/calibration/pro_moe_800i_a2_decode_bs1.json", {}, "host");
  const double host_s = summary["phases_s"]["host"].get<double>();
  CHECK(host_s > 0);
  CHECK(summary["simulated_time_s"].get<double>() >= host_s);  // host-bound: the device waits for every launch
}

TEST_CASE("a 300I Duo step with every strategy is deterministic") {
  const std::string all =
      R"(strategies=[{"name":"h2p","params":{"shared_expert_tp":8}},{"name":"topocomm","params":{"int8_allgather":true}},)"
      R"({"name":"duo_stream","params":{"chunks":2}},{"name":"mul_attention"},{"name":"swift_gmm"},)"
      R"({"name":"mtp","params":{"acceptance":[0.7]}}])";
  auto a = run_scenario("scenarios/calibration/pro_moe_300i_duo_decode_bs80.json", {all}, "det_a");
  auto b = run_scenario("scenarios/calibration/pro_moe_300i_duo_decode_bs80.json", {all}, "det_b");
  a.erase("sim");
  b.erase("sim");
  CHECK(a.dump() == b.dump());
}
