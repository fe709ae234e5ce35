// `moesim run` end to end on microbenchmarks: summary.json, trace, determinism.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

using nlohmann::json;

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("moesim_test_" + name + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

}  // namespace

TEST_CASE("run writes summary.json with the engine figures and a Chrome trace") {
  const auto dir = temp_dir("run");
  const auto result = run_moesim(
      {"run", "scenarios/microbench_allreduce_node.json", "--out", dir, "--trace", dir + "/trace.json", "--quiet"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find("busbw") != std::string::npos);
  const auto summary = json::parse(read_text_file(dir + "/summary.json"));
  CHECK(summary["schema_version"] == 1);
  CHECK(summary["simulated_time_s"].get<double>() > 0);
  CHECK(summary["npus"].size() == 8);
  CHECK(summary["metrics"]["busbw_gb_per_s"].get<double>() > 0);
  for (const char* key : {"wall_s", "events", "peak_rss_mib"}) CHECK(summary["sim"].contains(key));
  CHECK(!summary["links_top"].empty());
  const auto trace = json::parse(read_text_file(dir + "/trace.json"));
  std::size_t slices = 0;
  for (const auto& event : trace["traceEvents"]) {
    if (event["ph"] == "X") {
      ++slices;
      CHECK(event["args"].contains("bytes"));
    }
  }
  CHECK(slices == 8 * 5);  // 8 ranks x 5 iterations
  std::filesystem::remove_all(dir);
}

TEST_CASE("the same scenario and seed give byte-identical results apart from sim.*") {
  const auto a = temp_dir("det_a"), b = temp_dir("det_b");
  for (const auto& dir : {a, b}) {
    const auto result = run_moesim({"run", "scenarios/microbench_alltoall_64.json", "--out", dir, "--quiet", "--set",
                                    "microbenchmark.operation=all_to_all_v"});
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
  }
  auto sa = json::parse(read_text_file(a + "/summary.json"));
  auto sb = json::parse(read_text_file(b + "/summary.json"));
  sa.erase("sim");
  sb.erase("sim");
  CHECK(sa.dump() == sb.dump());
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}

TEST_CASE("a training layout that does not fit in device memory is an OOM verdict, not an error") {
  const auto dir = temp_dir("oom");
  const auto result =
      run_moesim({"run", "scenarios/llama2_70b_train_64.json", "--out", dir, "--quiet", "--set", "parallel.tp=2",
                  "--set", "parallel.pp=2", "--set", "parallel.dp=16", "--set", "training.global_batch_size=32"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find("oom") != std::string::npos);
  const auto metrics = json::parse(read_text_file(dir + "/summary.json"))["metrics"];
  CHECK(metrics["oom"] == true);
  CHECK(metrics["peak_memory_gib"].get<double>() > metrics["device_memory_gib"].get<double>());
  CHECK(metrics.contains("oom_rank"));
  CHECK(metrics.contains("memory_breakdown_gib"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the dense training baseline fits and reports MFU") {
  const auto dir = temp_dir("dense");
  const auto result = run_moesim({"run", "scenarios/llama2_70b_train_64.json", "--out", dir, "--quiet"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  const auto metrics = json::parse(read_text_file(dir + "/summary.json"))["metrics"];
  CHECK(metrics["oom"] == false);
  CHECK(metrics["mfu"].get<double>() > 0.0);
  CHECK(metrics["mfu"].get<double>() < 1.0);
  CHECK(metrics["bubble_fraction"].get<double>() > 0.0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("memory strategy auto mode picks modules until the step fits its headroom and reports the choice") {
  const auto dir = temp_dir("auto_memory");
  // Llama 2 70B on 48 NPUs, TP4 PP4 DP4: the peak (61 GiB) exceeds 64 GiB minus a 15 GiB headroom
  const auto result = run_moesim(
      {"run", "scenarios/llama2_70b_train_64.json", "--out", dir, "--quiet", "--set", "ranks=48", "--set",
       "parallel.tp=4", "--set", "parallel.pp=4", "--set", "parallel.dp=3", "--set", "training.global_batch_size=24",
       "--set",
       R"(strategies=[{"name": "1f1b"}, {"name": "selective_recompute_swap", "params": {"mode": "auto", "headroom_gib": 15}}])"});
  INFO(result.err);
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find("activation_plan") != std::string::npos);
  const auto metrics = json::parse(read_text_file(dir + "/summary.json"))["metrics"];
  const auto& plan = metrics["memory_plan"];
  CHECK(plan["mode"] == "auto");
  CHECK(plan["fits"] == true);
  REQUIRE(!plan["choices"].empty());
  CHECK(plan["peak_memory_before_gib"].get<double>() > plan["target_gib"].get<double>());
  CHECK(metrics["peak_memory_gib"].get<double>() == Approx(plan["peak_memory_after_gib"].get<double>()));
  CHECK(metrics["peak_memory_gib"].get<double>() <= 64.0 - 15.0);
  CHECK(metrics["activation_memory_saved_fraction"].get<double>() > 0.2);
  CHECK(metrics["activation_plan"].get<std::string>() != "keep all");
  std::filesystem::remove_all(dir);
}

TEST_CASE("mirrored ranks change no figure: a 64-NPU Ultra MoE slice with every training strategy, with and without") {
  // TP8 nodes with a uniform expert load: 56 of 64 ranks take their node's first rank's timings (engine/
  // rank_mirroring.hpp). Every figure of summary.json but the engine's own must be the same, bit for bit.
  const std::vector<std::string> sets = {
      "--set",
      "ranks=64",
      "--set",
      "parallel.pp=2",
      "--set",
      "parallel.dp=4",
      "--set",
      "training.global_batch_size=16",
      "--set",
      R"(strategies=[{"name": "zero_bubble"}, {"name": "adaptive_pipe"}, {"name": "hierarchical_ep"},)"
      R"( {"name": "selective_recompute_swap", "params": {"mode": "auto", "headroom_gib": 30}}])"};
  const auto a = temp_dir("mirror_on"), b = temp_dir("mirror_off");
  for (const auto& [dir, extra] : {std::pair{a, std::string("--quiet")}, std::pair{b, std::string("--no-mirror")}}) {
    std::vector<std::string> args = {"run", "scenarios/ultra_moe_718b_train_6144.json", "--out", dir, "--quiet"};
    args.insert(args.end(), sets.begin(), sets.end());
    args.push_back(extra);
    const auto result = run_moesim(args);
    INFO(result.err);
    REQUIRE(result.exit_code == 0);
  }
  auto sa = json::parse(read_text_file(a + "/summary.json"));
  auto sb = json::parse(read_text_file(b + "/summary.json"));
  CHECK(sa["sim"]["mirrored_ranks"] == 56);
  CHECK(sb["sim"]["mirrored_ranks"] == 0);
  CHECK(sa["sim"]["mirror_period"] == 8);  // a shift of local indices by 1: one rank of each node runs
  CHECK(sa["sim"]["mirror_shift"] == 1);
  CHECK_FALSE(sb["sim"].contains("mirror_period"));
  CHECK(sa["sim"]["events"].get<double>() < sb["sim"]["events"].get<double>() / 4.0);
  sa.erase("sim");
  sb.erase("sim");
  sa.erase("links_top");  // link bytes: summed in another order with mirroring (1e-16 relative)
  sb.erase("links_top");
  CHECK(sa.dump() == sb.dump());
  std::filesystem::remove_all(a);
  std::filesystem::remove_all(b);
}
