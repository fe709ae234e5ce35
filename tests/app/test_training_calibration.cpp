// Training calibration scenarios: all pass `moesim check`; the Pro MoE optimized layout ([P] Table 2, facts T12)
// beats the baseline layout on simulated MFU (published: +35% relative; the measured gain is printed).
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

using nlohmann::json;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("moesim_test_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

json run_metrics(const std::string& file, const std::string& dir, const std::vector<std::string>& sets = {}) {
  std::vector<std::string> args{"run", file, "--out", dir, "--quiet"};
  for (const auto& set : sets) args.insert(args.end(), {"--set", set});
  const auto result = run_moesim(args);
  INFO(file << "\n" << result.err);
  REQUIRE(result.exit_code == 0);
  return json::parse(read_text_file(dir + "/summary.json"))["metrics"];
}

}  // namespace

TEST_CASE("every training calibration scenario passes check") {
  for (const char* name : {"ultra_moe_718b_train_6144", "pro_moe_72b_train_baseline", "pro_moe_72b_train_optimized",
                           "llama2_70b_train_800t_a2"}) {
    const std::string file = std::string("scenarios/calibration/") + name + ".json";
    const auto result = run_moesim({"check", file});
    INFO(file << "\n" << result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out.find("training") != std::string::npos);
  }
  const auto ultra = run_moesim({"check", "scenarios/calibration/ultra_moe_718b_train_6144.json"});
  CHECK(ultra.out.find("published   mfu = 0.3 (+-10%, fit)") != std::string::npos);
  CHECK(ultra.out.find("published   tokens_per_s = 1.46e+06 (+-10%, fit)") != std::string::npos);
  CHECK(ultra.out.find("published   ep_comm_hidden_fraction_steady = 0.98 (+-10%, check)") != std::string::npos);
  CHECK(ultra.out.find("hierarchical_ep") != std::string::npos);
}

TEST_CASE(
    "Ultra MoE calibration layout, 512-NPU slice (all 16 stages, 32 micro-batches): Adaptive Pipe hides >= 90 "
    "% of the EP time of the steady 1F1B phase, warm-up forwards keep the whole-step figure lower") {
  const auto dir = temp_dir("ultra_slice_ep");
  const auto result =
      run_moesim({"run", "scenarios/calibration/ultra_moe_718b_train_6144.json", "--out", dir, "--quiet", "--set",
                  "ranks=512", "--set", "parallel.dp=4", "--set", "training.global_batch_size=256"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  const auto m = json::parse(read_text_file(dir + "/summary.json"))["metrics"];
  const double steady = m["ep_comm_hidden_fraction_steady"].get<double>();
  const double whole = m["ep_comm_hidden_fraction"].get<double>();
  const double share = m["ep_comm_steady_share"].get<double>();
  std::cout << "Ultra MoE calibration layout, 512-NPU slice: EP hidden " << whole << " over the step, " << steady
            << " in the steady phase (" << share << " of the EP time)\n";
  CHECK(m["micro_batches"].get<int>() == 32);
  CHECK(steady >= 0.90);
  CHECK(steady <= 1.0);
  // the steady phase holds about half of the EP time at 32 micro-batches over PP16 x VPP2; the rest hides little
  CHECK(share > 0.4);
  CHECK(share < 0.65);
  CHECK(whole > 0.6);
  CHECK(whole < steady);
  std::filesystem::remove_all(dir);
}

TEST_CASE(
    "Pro MoE: the optimized layout (TP8 EP2 PP5 VPP5, hierarchical EP) beats the baseline (TP1 EP8 CP8 PP6 VPP4)") {
  const auto dir = temp_dir("pro_moe_pair");
  const auto base = run_metrics("scenarios/calibration/pro_moe_72b_train_baseline.json", dir + "/base");
  const auto opt = run_metrics("scenarios/calibration/pro_moe_72b_train_optimized.json", dir + "/opt");
  // Same model, NPUs and tokens per step: the MFU ratio is the throughput ratio.
  REQUIRE(base["tokens_per_step"] == opt["tokens_per_step"]);
  const double gain = opt["mfu"].get<double>() / base["mfu"].get<double>() - 1.0;
  std::cout << "Pro MoE 72B training, 4080 NPUs: baseline MFU " << base["mfu"].get<double>() << " (step "
            << base["step_time_s"].get<double>() << " s), optimized MFU " << opt["mfu"].get<double>() << " (step "
            << opt["step_time_s"].get<double>() << " s): relative gain " << 100.0 * gain
            << " % (published +35 %, facts T12)\n";
  CHECK(gain > 0.18);  // regression guard: +24.2 % measured (docs/training.md), short of the published +35 %
  CHECK_FALSE(base["oom"].get<bool>());
  CHECK_FALSE(opt["oom"].get<bool>());
  CHECK(opt["simulated_dp"].get<int>() < opt["full_dp"].get<int>());  // the DP-symmetry reduction is on
  std::filesystem::remove_all(dir);
}

TEST_CASE("CoC on Llama 2 70B at ModelLink's TP8 PP8 VPP2 layout: a throughput gain, short of MindSpeed's +7.85 %") {
  const auto dir = temp_dir("llama_coc");
  const std::string file = "scenarios/llama2_70b_train_64_tp8_coc.json";
  // 64 of the file's 512 micro-batches keep the test short; the gain is the same to 0.1 % (docs/training.md)
  const std::string batch = "training.global_batch_size=128";
  const auto plain = run_metrics(file, dir + "/plain", {batch, R"(strategies=[{"name": "interleaved_1f1b"}])"});
  const auto coc = run_metrics(file, dir + "/coc", {batch});
  const double gain = plain["step_time_s"].get<double>() / coc["step_time_s"].get<double>() - 1.0;
  std::cout << "Llama 2 70B, TP8 PP8 VPP2, 64 NPUs: CoC gain " << 100.0 * gain << " % (MindSpeed: +7.85 %), TP time "
            << "hidden " << coc["tp_comm_hidden_fraction"].get<double>() << ", exposed "
            << plain["tp_comm_exposed_s"].get<double>() << " -> " << coc["tp_comm_exposed_s"].get<double>() << " s\n";
  CHECK(coc["tp_comm_overlap"] == "coc");
  CHECK(plain["tp_comm_overlap"] == "none");
  // without coc only the column-parallel backward's collectives hide (0.40 measured), with it 0.85
  CHECK(plain["tp_comm_hidden_fraction"].get<double>() < 0.5);
  CHECK(coc["tp_comm_hidden_fraction"].get<double>() > plain["tp_comm_hidden_fraction"].get<double>() + 0.2);
  // regression guard and bound: measured +3.7 %, short of the published +7.85 % (its layout is unstated; the
  // baseline already overlaps the column-parallel backward's collectives, docs/training.md)
  CHECK(gain > 0.02);
  CHECK(gain < 1.5 * 0.0785);
  // the step gets shorter by less than the TP time the plain run exposed
  CHECK(plain["step_time_s"].get<double>() - coc["step_time_s"].get<double>() <
        plain["tp_comm_exposed_s"].get<double>());
  std::filesystem::remove_all(dir);
}
