// Sizes of the 300I Duo inference strategies (docs/inference.md): H2P against the single-parallelism layouts it
// replaces (pure TP8 costs every rank all token-expert rows of the batch: 8x the expert activation traffic,
// hand-computed below, and two 8-rank AllReduces per layer), and DuoStream's fused chunks.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli_runner.hpp"
#include "config/scenario_config.hpp"

using nlohmann::json;
using namespace moesim;

namespace {

const std::string kScenario = "scenarios/calibration/pro_moe_300i_duo_decode_bs80.json";

json run_summary(const std::vector<std::string>& sets, const std::string& tag) {
  return run_scenario(kScenario, sets, "h2p_" + tag);
}

std::vector<std::string> tp8(int ep, int expert_tp) {
  return {"parallel.tp=8", "parallel.dp=1", "parallel.ep=" + std::to_string(ep),
          "parallel.expert_tp=" + std::to_string(expert_tp), "strategies=[]"};
}

}  // namespace

TEST_CASE("300I Duo batch 80: H2P beats pure TP8 and TP8 + EP8, and pure TP8 pays 8x the expert activation traffic") {
  const auto h2p = run_summary({}, "h2p");
  const auto pure = run_summary(tp8(1, 8), "pure");
  const auto ep8 = run_summary(tp8(8, 1), "ep8");
  const double h2p_ms = h2p["metrics"]["tpot_ms"].get<double>();
  CHECK(h2p_ms < ep8["metrics"]["tpot_ms"].get<double>());
  CHECK(ep8["metrics"]["tpot_ms"].get<double>() < pure["metrics"]["tpot_ms"].get<double>());
  // Per rank and layer, with 80 tokens, hidden h = 5120, top-8 of 64 experts of width 1344, fp16 activations:
  // pure TP8 has 640 rows of width 168, EP8 80 rows of width 1344 (same weight bytes). Permute, gate_up, down and
  // unpermute each move (640 - 80) x h x 2 bytes more under pure TP8 (the activation op moves the same bytes).
  const auto scenario = config::load_scenario(std::string(MOESIM_SOURCE_DIR) + "/" + kScenario);
  const auto& device = scenario.topology.device;
  const double bandwidth = device.memory_bandwidth_bytes_per_s.value;
  auto eff = [&](config::OpClass c) { return device.efficiency[static_cast<std::size_t>(c)].memory.value; };
  const double extra_bytes = (640.0 - 80.0) * 5120 * 2;
  const double expected_s =
      48 * extra_bytes *
      (2 / (bandwidth * eff(config::OpClass::Vector)) + 2 / (bandwidth * eff(config::OpClass::GroupedMatmul)));
  const double moe_diff_s = pure["phases_s"]["moe"].get<double>() - ep8["phases_s"]["moe"].get<double>();
  CHECK(moe_diff_s == Approx(expected_s).epsilon(0.02));
}

TEST_CASE("300I Duo batch 80: DuoStream's fused chunks hide more of the expert collectives as chunks grow") {
  const std::string h2p = R"({"name":"h2p","params":{"shared_expert_tp":8}})";
  auto with = [&](const std::string& more) { return std::vector<std::string>{"strategies=[" + h2p + more + "]"}; };
  const auto plain = run_summary(with(""), "duo0");
  const double base = plain["metrics"]["tpot_ms"].get<double>();
  const double collectives_ms = plain["phases_s"]["ep_comm"].get<double>() * 1e3;
  const double two = run_summary(with(R"(,{"name":"duo_stream"})"), "duo2")["metrics"]["tpot_ms"].get<double>();
  const double four =
      run_summary(with(R"(,{"name":"duo_stream","params":{"chunks":4}})"), "duo4")["metrics"]["tpot_ms"].get<double>();
  INFO("h2p " << base << " ms, 2 chunks " << two << " ms, 4 chunks " << four << " ms, collectives " << collectives_ms);
  // Chunks after the first are iterations of kernels launched once, so more chunks hide more; the first
  // AllGather and last ReduceScatter chunks (7 ring synchronisations each) stay exposed, so less than all.
  CHECK(two < base);
  CHECK(four < two);
  CHECK(base - four < collectives_ms);
  // Re-reading the weights per chunk costs far more than the collectives it hides (weight-bound decode GEMMs).
  const double reread =
      run_summary(with(R"(,{"name":"duo_stream","params":{"reread_weights":true}})"), "reread")["metrics"]["tpot_ms"]
          .get<double>();
  CHECK(reread > base + collectives_ms);
}
