// The CLI end to end: subcommands, exit codes, JSON outputs, determinism of run.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"

using nlohmann::json;

TEST_CASE("every subcommand has --help") {
  for (const char* command : {"describe", "describe-topology", "check", "list", "run"}) {
    const auto result = run_moesim({command, "--help"});
    INFO(command);
    CHECK(result.exit_code == 0);
    CHECK(result.out.find("Usage") != std::string::npos);
  }
}

TEST_CASE("describe --json gives the published Pro MoE parameter counts") {
  const auto result = run_moesim({"describe", "models/pangu_pro_moe_72b.json", "--json"});
  REQUIRE(result.exit_code == 0);
  const auto j = json::parse(result.out);
  CHECK(j["params_total"].get<double>() == Approx(71.99e9).epsilon(0.005));
  CHECK(j["params_active"].get<double>() == Approx(16.5e9).epsilon(0.01));
  CHECK(j["flops_per_token_forward"].get<double>() > 2 * 16e9);
  CHECK(j["kv_bytes_per_token"].get<double>() == Approx(48.0 * 2 * 8 * 128 * 2));
}

TEST_CASE("check accepts every shipped scenario and prints what it resolved") {
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(std::string(MOESIM_SOURCE_DIR) + "/scenarios")) {
    if (entry.path().extension() != ".json") continue;
    const auto relative = std::filesystem::relative(entry.path(), MOESIM_SOURCE_DIR).string();
    const auto result = run_moesim({"check", relative});
    INFO(relative << "\n" << result.err);
    CHECK(result.exit_code == 0);
    CHECK(result.out.find("layout") != std::string::npos);
    CHECK(result.out.find("OK") != std::string::npos);
  }
}

TEST_CASE("check prints the efficiencies the scenario uses, those raised by matmul_retiling marked") {
  // 910B2 matmul 0.44 / 0.49 (topology file); matmul_retiling's defaults: compute x 1.10, memory x 1.05
  const auto plain = run_moesim({"check", "scenarios/calibration/pro_moe_72b_train_baseline.json"});
  REQUIRE(plain.exit_code == 0);
  CHECK(plain.out.find("matmul 0.44 / 0.49  grouped_matmul") != std::string::npos);
  CHECK(plain.out.find("raised by") == std::string::npos);
  const auto raised = run_moesim({"check", "scenarios/calibration/pro_moe_72b_train_optimized.json"});
  REQUIRE(raised.exit_code == 0);
  CHECK(raised.out.find("matmul 0.484* / 0.5145*") != std::string::npos);
  CHECK(raised.out.find("attention 0.3025 / 0.49  ") != std::string::npos);
  CHECK(raised.out.find("(* raised by matmul_retiling)") != std::string::npos);
}

TEST_CASE("check estimates a training scenario's memory per NPU, as run reports it, with the OOM verdict") {
  const auto check = run_moesim({"check", "scenarios/llama2_70b_train_64.json"});
  REQUIRE(check.exit_code == 0);
  const auto at = check.out.find("memory      estimate (memory model, no simulation): peak ");
  REQUIRE(at != std::string::npos);
  const double peak =
      std::stod(check.out.substr(at + std::string("memory      estimate (memory model, no simulation): peak ").size()));
  CHECK(check.out.find("GiB of 64 on stage 0 (weights ") != std::string::npos);
  CHECK(check.out.find("): fits") != std::string::npos);
  const auto metrics = run_scenario("scenarios/llama2_70b_train_64.json", {}, "check_memory")["metrics"];
  CHECK(peak == Approx(metrics["peak_memory_gib"].get<double>()).epsilon(1e-3));  // printed to 4 digits
  // ZB-H1 on the Ultra MoE 4K layout raises stage 15 above the 64 GiB (docs/training.md "Zero bubble")
  const auto oom = run_moesim(
      {"check", "scenarios/ultra_moe_718b_train_6144.json", "--set", "strategies=[{\"name\": \"zero_bubble\"}]"});
  REQUIRE(oom.exit_code == 0);
  CHECK(oom.out.find("on stage 15") != std::string::npos);
  CHECK(oom.out.find("): OOM on rank 5760") != std::string::npos);
  const auto plan = run_moesim({"check", "scenarios/calibration/llama2_70b_train_800t_a2.json"});
  CHECK(plan.out.find("activation plan: ffn_activation:recompute (first [10, 8, 6, 4, 2, 0, 0, 0] layers") !=
        std::string::npos);
}

TEST_CASE("check prints a training scenario's expert load and its busiest EP rank, as run reports it") {
  const std::string scenario = "scenarios/calibration/pro_moe_72b_train_optimized.json";
  const std::string load = R"(training.expert_load={"distribution": "zipf", "exponent": 0.5})";
  const auto check = run_moesim({"check", scenario, "--set", load});
  REQUIRE(check.exit_code == 0);
  const std::string head = R"(expert load {"distribution":"zipf","exponent":0.5}: busiest EP rank )";
  const auto at = check.out.find(head);
  REQUIRE(at != std::string::npos);
  const double factor = std::stod(check.out.substr(at + head.size()));
  const auto metrics = run_scenario(scenario, {load}, "check_load")["metrics"];
  CHECK(factor == Approx(metrics["expert_load_max_factor"].get<double>()).epsilon(1e-3));
  CHECK(factor > 1.1);
  // a uniform load prints no line
  CHECK(run_moesim({"check", scenario}).out.find("expert load") == std::string::npos);
}

TEST_CASE("check estimates an inference step's memory per rank, as run reports it") {
  const std::string scenario = "scenarios/calibration/pro_moe_800i_a2_decode_bs456.json";
  const auto check = run_moesim({"check", scenario, "--set", "inference.batch_size=912"});
  REQUIRE(check.exit_code == 0);
  const std::string head = "memory      estimate (memory model, no simulation): ";
  const auto at = check.out.find(head);
  REQUIRE(at != std::string::npos);
  const double total = std::stod(check.out.substr(at + head.size()));
  CHECK(check.out.find("): OOM") != std::string::npos);  // docs/inference.md "Memory": twice the batch
  const auto metrics = run_scenario(scenario, {"inference.batch_size=912"}, "check_inference")["metrics"];
  CHECK(total == Approx(metrics["peak_memory_gib"].get<double>()).epsilon(1e-3));
  CHECK(metrics["oom"] == true);
}

TEST_CASE("check --json --set reflects the override") {
  const auto result =
      run_moesim({"check", "scenarios/pro_moe_800i_a2_decode.json", "--json", "--set", "inference.batch_size=64"});
  REQUIRE(result.exit_code == 0);
  CHECK(json::parse(result.out)["inference"]["batch_size"] == 64);
}

TEST_CASE("list finds the shipped models, topologies and device files") {
  const auto result = run_moesim({"list", "--json"});
  REQUIRE(result.exit_code == 0);
  const auto j = json::parse(result.out);
  CHECK(j["models"].size() >= 4);
  CHECK(j["topologies"].size() >= 5);
  CHECK(j["devices"].size() >= 3);  // topologies/devices/ is listed on its own, not as broken topologies
  for (const auto& section : {"models", "topologies", "devices", "scenarios"}) {
    for (const auto& row : j[section]) {
      INFO(row.dump());
      CHECK_FALSE(row.contains("error"));
    }
  }
}

TEST_CASE("describe-topology reports the 800T A2 cluster") {
  const auto result = run_moesim({"describe-topology", "topologies/atlas_800t_a2_cluster.json", "--json"});
  REQUIRE(result.exit_code == 0);
  CHECK(result.out.find("6144") != std::string::npos);
}
