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

TEST_CASE("inference memory: Pro MoE 72B at the published batch 456 fits an 800I A2 rank, twice that does not") {
  // Per rank of TP4 / EP4: every weight but norms and router over 4 ranks at W8; the KV of 456 sequences at 2049
  // tokens, GQA's 8 KV heads over 4 ranks, 48 layers, K and V of 128 fp16 values per head.
  const std::string scenario = "scenarios/calibration/pro_moe_800i_a2_decode_bs456.json";
  const auto m = run_scenario(scenario, {}, "memory")["metrics"];
  const double gib = 1024.0 * 1024 * 1024;
  const double kv = 456 * 2049.0 * (2 * 48 * 8 * 128 * 2) / 4;
  CHECK(m["memory_breakdown_gib"]["kv_cache"].get<double>() == Approx(kv / gib).epsilon(1e-12));
  CHECK(m["memory_breakdown_gib"]["weights"].get<double>() == Approx(71.99e9 / 4 / gib).epsilon(0.01));
  CHECK(m["memory_breakdown_gib"]["redundant_expert_weights"].get<double>() == 0.0);
  CHECK(m["device_memory_gib"].get<double>() == 64.0);
  CHECK(m["peak_memory_gib"].get<double>() > 55.0);  // the published batch nearly fills the rank
  CHECK_FALSE(m["oom"].get<bool>());
  const auto doubled = run_scenario(scenario, {"inference.batch_size=912"}, "memory_x2")["metrics"];
  CHECK(doubled["oom"].get<bool>());  // a result (exit 0, checked by run_scenario), not an error
  CHECK(doubled["tpot_ms"].get<double>() > m["tpot_ms"].get<double>());
}

TEST_CASE("inference memory: each redundant expert slot holds one more routed expert of every MoE layer") {
  const std::string scenario = "scenarios/ultra_moe_cloudmatrix384_decode_ep64.json";
  const auto plain = run_scenario(scenario, {}, "redundant_0")["metrics"];
  const auto one = run_scenario(
      scenario, {R"(strategies=[{"name":"h2p"},{"name":"ep_alltoall"},{"name":"balanced","params":{"redundant_per_rank":1}}])"},
      "redundant_1")["metrics"];
  // Ultra MoE: 58 MoE layers of 256 routed experts, 3 x 7680 x 2048 parameters each, at W8 (1 byte).
  const double expert_all_layers = 58 * 3 * 7680 * 2048.0;
  const double gib = 1024.0 * 1024 * 1024;
  CHECK(one["memory_breakdown_gib"]["redundant_expert_weights"].get<double>() ==
        Approx(expert_all_layers / gib).epsilon(1e-9));
  CHECK(one["peak_memory_gib"].get<double>() ==
        Approx(plain["peak_memory_gib"].get<double>() + expert_all_layers / gib).epsilon(1e-9));
}

TEST_CASE("sampled routing: a finite decode batch leaves EP64 dies uneven under a balanced router, MoGE devices not") {
  // Ultra MoE (top-8 of 256, 4 experts per die): 6144 tokens x 8 rows drawn per layer put some die above its mean.
  const std::string ultra = "scenarios/ultra_moe_cloudmatrix384_decode_ep64.json";
  const std::string sampled = R"(inference.expert_load={"distribution": "uniform", "sampled": true})";
  const auto even = run_scenario(ultra, {}, "sampled_off")["metrics"];
  const auto drawn = run_scenario(ultra, {sampled}, "sampled_on")["metrics"];
  const auto other = run_scenario(ultra, {sampled, "seed=2"}, "sampled_seed2")["metrics"];
  CHECK(drawn["expert_load_max_factor"].get<double>() > 1.05);
  CHECK(drawn["expert_load_max_factor"].get<double>() < 1.3);
  CHECK(drawn["tpot_ms"].get<double>() > even["tpot_ms"].get<double>());
  CHECK(other["expert_load_max_factor"].get<double>() != drawn["expert_load_max_factor"].get<double>());
  // Pro MoE (MoGE: one expert per group of 8 per token, two whole groups per rank at EP4): every rank gets exactly
  // a quarter of the rows whatever the draw, so the step does not change.
  const std::string pro = "scenarios/calibration/pro_moe_800i_a2_decode_bs456.json";
  const auto pro_even = run_scenario(pro, {}, "moge_off")["metrics"];
  const auto pro_drawn = run_scenario(pro, {sampled}, "moge_on")["metrics"];
  CHECK(pro_drawn["expert_load_max_factor"].get<double>() == Approx(1.0).epsilon(1e-12));
  CHECK(pro_drawn["tpot_ms"].get<double>() == Approx(pro_even["tpot_ms"].get<double>()).epsilon(1e-12));
}
