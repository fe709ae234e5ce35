// The serving step-cost profile against direct static simulations: the profile (one engine run in this process)
// is interpolated at off-grid points and compared with `moesim run` of the static decode / prefill scenario.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "config/scenario_config.hpp"
#include "serving/step_profile.hpp"
#include "serving_test_config.hpp"

using namespace moesim;
using nlohmann::json;

namespace {

std::string repo(const std::string& relative) {
  return std::string(MOESIM_SOURCE_DIR) + "/" + relative;
}

// `moesim run` of a static scenario with overrides; returns summary.json "metrics".
json static_metrics(const std::string& scenario, const std::vector<std::string>& sets) {
  return run_scenario(scenario, sets, "profile")["metrics"];
}

serving::ProfiledStepCost simulate_profile(const config::ScenarioConfig& scenario) {
  const auto profile = serving::build_profile_graph(scenario, serving::choose_profile_grids(scenario));
  const auto result = engine::simulate(profile.topology, profile.graph);
  return serving::ProfiledStepCost(serving::read_step_profile(profile, result));
}

double decode_ms(const serving::ProfiledStepCost& cost, int batch, int kv) {
  serving::StepShape shape;
  shape.decode_seqs = batch;
  shape.decode_kv_tokens = double(batch) * kv;
  return cost.step(shape).time_s * 1e3;
}

double prefill_ms(const serving::ProfiledStepCost& cost, int prompts, int length) {
  serving::StepShape shape;
  shape.prefill_seqs = prompts;
  shape.prefill_tokens = double(prompts) * length;
  shape.prefill_attention = prompts * double(length) * length / 2.0;
  return cost.step(shape).time_s * 1e3;
}

}  // namespace

TEST_CASE("800I A2 serving profile: interpolated step times match static simulations") {
  const auto scenario = config::load_scenario(repo("scenarios/pro_moe_800i_a2_serving_poisson.json"));
  const auto cost = simulate_profile(scenario);
  const std::string decode = "scenarios/pro_moe_800i_a2_decode.json";
  auto static_decode = [&](int batch, int kv) {
    return static_metrics(decode, {"inference.batch_size=" + std::to_string(batch),
                                   "inference.input_len=" + std::to_string(kv)})["tpot_ms"]
        .get<double>();
  };
  auto static_prefill = [&](int length) {
    return static_metrics(decode, {"inference.phase=prefill", "inference.batch_size=1",
                                   "inference.input_len=" + std::to_string(length)})["ttft_ms"]
        .get<double>();
  };
  // On the grid (batch 64, KV 2568): the chained sample equals the step simulated alone.
  CHECK(decode_ms(cost, 64, 2568) == Approx(static_decode(64, 2568)).epsilon(1e-6));
  CHECK(prefill_ms(cost, 1, 1024) == Approx(static_prefill(1024)).epsilon(1e-6));
  // Off the grid: within 3 %.
  CHECK(decode_ms(cost, 100, 3000) == Approx(static_decode(100, 3000)).epsilon(0.03));
  CHECK(decode_ms(cost, 5, 700) == Approx(static_decode(5, 700)).epsilon(0.03));
  CHECK(decode_ms(cost, 200, 4500) == Approx(static_decode(200, 4500)).epsilon(0.03));
  CHECK(prefill_ms(cost, 1, 1500) == Approx(static_prefill(1500)).epsilon(0.03));
  CHECK(prefill_ms(cost, 1, 300) == Approx(static_prefill(300)).epsilon(0.03));
  CHECK(prefill_ms(cost, 1, 6000) == Approx(static_prefill(6000)).epsilon(0.03));
}

TEST_CASE("300I Duo H2P serving profile (attention DP 2): interpolated step times match static simulations") {
  // The bs80 calibration scenario with a serving block attached: the step layout and strategies are the same.
  const std::string file = "scenarios/calibration/pro_moe_300i_duo_decode_bs80.json";
  auto scenario = config::load_scenario(repo(file));
  scenario.serving = test::duo_serving_block(4096, false);
  const auto cost = simulate_profile(scenario);
  auto static_decode = [&](int batch, int kv) {
    return static_metrics(file, {"inference.batch_size=" + std::to_string(batch),
                                 "inference.input_len=" + std::to_string(kv)})["tpot_ms"]
        .get<double>();
  };
  auto static_prefill = [&](int length) {  // one prompt per attention group
    return static_metrics(file, {"inference.phase=prefill", "inference.batch_size=2",
                                 "inference.input_len=" + std::to_string(length)})["ttft_ms"]
        .get<double>();
  };
  CHECK(decode_ms(cost, 80, 2048) == Approx(static_decode(80, 2048)).epsilon(0.03));
  CHECK(decode_ms(cost, 3, 1000) == Approx(static_decode(3, 1000)).epsilon(0.03));
  CHECK(prefill_ms(cost, 2, 700) == Approx(static_prefill(700)).epsilon(0.03));
}
