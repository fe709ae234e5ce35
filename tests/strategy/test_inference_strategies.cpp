// The inference strategies other than h2p (mtp, duo_stream, flashcomm, topocomm, mul_attention, swift_gmm): catalog
// entries, strict params with pointers, layout checks, the plan each yields, and expected tokens per step.
#include <catch2/catch.hpp>

#include "strategy_issues.hpp"

#include "config/scenario_config.hpp"
#include "strategy/catalog.hpp"
#include "strategy/inference_mtp.hpp"
#include "strategy/inference_plan.hpp"
#include "strategy/inference_topocomm.hpp"

using namespace moesim;
using nlohmann::json;

namespace {

config::ScenarioConfig calibration(const std::string& name) {
  return config::load_scenario(std::string(MOESIM_SOURCE_DIR) + "/scenarios/calibration/" + name + ".json");
}

// Replaces the scenario's strategies with `list` (as written in a scenario file).
config::ScenarioConfig with(config::ScenarioConfig s, const json& list) {
  s.strategies.clear();
  for (std::size_t i = 0; i < list.size(); ++i) {
    config::StrategySpec spec;
    spec.name = list[i]["name"].get<std::string>();
    spec.params = list[i].contains("params") ? list[i]["params"] : json::object();
    spec.pointer = "/strategies/" + std::to_string(i);
    s.strategies.push_back(spec);
  }
  return s;
}

std::vector<config::ConfigIssue> issues_of(const config::ScenarioConfig& scenario) {
  return test::strategy_issues(scenario);
}

using test::has_issue;

const json kH2P = {{"name", "h2p"}, {"params", {{"shared_expert_tp", 8}}}};

}  // namespace

TEST_CASE("every inference strategy is in the catalog, one family each, with a sourced description") {
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"flashcomm", "inference_comm"},        {"topocomm", "collective_algorithm"},
      {"duo_stream", "inference_overlap"},    {"mul_attention", "attention_kernel"},
      {"swift_gmm", "grouped_matmul_kernel"}, {"mtp", "speculative_decoding"}};
  for (const auto& [name, family] : expected) {
    INFO(name);
    bool found = false;
    for (const auto& info : strategy::strategy_catalog()) {
      if (info.name != name) continue;
      found = true;
      CHECK(info.family == family);
      const bool sourced =
          info.description.find("[P]") != std::string::npos || info.description.find("facts") != std::string::npos;
      CHECK(sourced);
    }
    CHECK(found);
  }
}

TEST_CASE("all strategies together on the 300I Duo scenario pass the checks and fill the plan") {
  const auto s = with(calibration("pro_moe_300i_duo_decode_bs80"),
                      json::array({kH2P,
                                   {{"name", "topocomm"}, {"params", {{"int8_allgather", true}}}},
                                   {{"name", "duo_stream"}, {"params", {{"chunks", 3}}}},
                                   {{"name", "mul_attention"}},
                                   {{"name", "swift_gmm"}},
                                   {{"name", "mtp"}, {"params", {{"draft_tokens", 2}, {"acceptance", {0.8, 0.5}}}}}}));
  CHECK(issues_of(s).empty());
  const auto plan = strategy::inference_step_plan(s);
  CHECK(plan.comm == model::InferenceComm::H2P);
  CHECK(plan.int8_allgather);
  CHECK(plan.tier_ranks == 4);  // two PCIe domains of 4 chips
  CHECK(plan.tier_algorithm == model::CollectiveAlgorithm::Direct);
  CHECK(plan.duo_stream_chunks == 3);
  CHECK(plan.attention_class == config::OpClass::FusedAttention);
  CHECK(plan.grouped_matmul_class == config::OpClass::FusedGroupedMatmul);
  CHECK(plan.mtp_draft_tokens == 2);
  CHECK(plan.speculative_overhead_s == Approx(1e-3));  // FusionSpec default (facts C9)
  CHECK(strategy::expected_tokens_per_step(s) == Approx(1 + 0.8 + 0.8 * 0.5));
  model::validate(strategy::build_inference_step(s));
}

TEST_CASE("expected tokens per step: 1 without mtp and for prefill, 1 + sum of cumulative acceptance with it") {
  CHECK(strategy::expected_mtp_tokens({}) == 1.0);
  CHECK(strategy::expected_mtp_tokens({0.5}) == Approx(1.5));
  CHECK(strategy::expected_mtp_tokens({1.0, 1.0, 1.0}) == Approx(4.0));
  CHECK(strategy::expected_mtp_tokens({0.0, 1.0}) == Approx(1.0));  // a rejected first draft ends the run
  const auto mtp = json::array({{{"name", "mtp"}, {"params", {{"acceptance", {0.6}}}}}});
  CHECK(strategy::expected_tokens_per_step(calibration("pro_moe_800i_a2_decode_bs1")) == 1.0);
  CHECK(strategy::expected_tokens_per_step(with(calibration("pro_moe_800i_a2_decode_bs1"), mtp)) == Approx(1.6));
  CHECK(strategy::expected_tokens_per_step(with(calibration("pro_moe_800i_a2_prefill_2x2048"), mtp)) == 1.0);
}

TEST_CASE("mtp params: acceptance required, one probability per draft token, each in [0, 1]") {
  const auto base = calibration("pro_moe_800i_a2_decode_bs1");
  auto issues = issues_of(with(base, json::array({{{"name", "mtp"}}})));
  CHECK(has_issue(issues, "/strategies/0/params/acceptance", ""));
  issues =
      issues_of(with(base, json::array({{{"name", "mtp"}, {"params", {{"draft_tokens", 2}, {"acceptance", {0.5}}}}}})));
  CHECK(has_issue(issues, "/strategies/0/params/acceptance", "one acceptance probability per draft token (2), got 1"));
  issues = issues_of(with(base, json::array({{{"name", "mtp"}, {"params", {{"acceptance", {1.5}}}}}})));
  CHECK(has_issue(issues, "/strategies/0/params/acceptance/0", "[0, 1]"));
  issues = issues_of(
      with(base, json::array({{{"name", "mtp"}, {"params", {{"acceptance", {0.5}}, {"framework_overhead_ms", -1}}}}})));
  CHECK(has_issue(issues, "/strategies/0/params/framework_overhead_ms", ""));
  issues = issues_of(with(base, json::array({{{"name", "mtp"}, {"params", {{"acceptance", {0.5}}, {"drafts", 1}}}}})));
  CHECK(has_issue(issues, "/strategies/0/params/drafts", "unknown key"));
}

TEST_CASE("duo_stream needs at least 2 chunks and the h2p or flashcomm layout") {
  const auto duo = calibration("pro_moe_300i_duo_decode_bs80");
  auto issues = issues_of(with(duo, json::array({kH2P, {{"name", "duo_stream"}, {"params", {{"chunks", 1}}}}})));
  CHECK(has_issue(issues, "/strategies/1/params/chunks", ">= 2"));
  issues = issues_of(with(calibration("pro_moe_800i_a2_decode_bs456"), json::array({{{"name", "duo_stream"}}})));
  CHECK(has_issue(issues, "/strategies/0/name", "add {\"name\": \"h2p\"} or {\"name\": \"flashcomm\"}"));
  issues = issues_of(with(calibration("pro_moe_800i_a2_decode_bs456"),
                          json::array({{{"name", "flashcomm"}}, {{"name", "duo_stream"}}})));
  CHECK(issues.empty());
}

TEST_CASE("flashcomm and topocomm: INT8 payloads need W8A8, flashcomm under h2p needs them, topocomm algorithms are checked") {
  auto s = calibration("pro_moe_800i_a2_decode_bs456");
  s.inference->activation_dtype = config::Dtype::FP16;
  auto issues = issues_of(with(s, json::array({{{"name", "flashcomm"}, {"params", {{"int8_allgather", true}}}}})));
  CHECK(has_issue(issues, "/strategies/0/params/int8_allgather", "W8A8"));
  issues = issues_of(with(s, json::array({{{"name", "topocomm"}, {"params", {{"algorithm", "carrier_pigeon"}}}}})));
  CHECK(has_issue(issues, "/strategies/0/params/algorithm", "direct"));
  const auto duo = calibration("pro_moe_300i_duo_decode_bs80");  // under h2p only the INT8 option would act
  issues = issues_of(with(duo, json::array({kH2P, {{"name", "flashcomm"}}})));
  CHECK(has_issue(issues, "/strategies/1/name", "flashcomm under h2p changes nothing"));
  CHECK(issues_of(with(duo, json::array({kH2P, {{"name", "flashcomm"}, {"params", {{"int8_allgather", true}}}}})))
            .empty());
  const auto plan = strategy::inference_step_plan(
      with(calibration("pro_moe_800i_a2_decode_bs456"), json::array({{{"name", "topocomm"}}})));
  CHECK(plan.tier_ranks == 0);  // 4 ranks of one HCCS full mesh: one tier
  CHECK(plan.tier_algorithm == model::CollectiveAlgorithm::Direct);
  CHECK(plan.comm == model::InferenceComm::TpAllReduce);
}

TEST_CASE("fused-operator strategies need the topology's fused efficiencies") {
  auto s = calibration("pro_moe_800i_a2_decode_bs456");
  // The 910C device file has no fused classes (the 910B2 one, shared by the 800T/800I A2, has them).
  s.topology = config::load_topology(std::string(MOESIM_SOURCE_DIR) + "/topologies/cloudmatrix384.json");
  const auto issues = issues_of(with(s, json::array({{{"name", "mul_attention"}}, {{"name", "swift_gmm"}}})));
  CHECK(has_issue(issues, "/strategies/0/name", "device.efficiency.fused_attention"));
  CHECK(has_issue(issues, "/strategies/1/name", "device.efficiency.fused_grouped_matmul"));
  CHECK(has_issue(issues, "/strategies/1/name", "devices/ascend_910c.json"));
}

TEST_CASE("inference strategies are refused in a training scenario") {
  auto s = calibration("pro_moe_800i_a2_decode_bs456");
  s.type = config::ScenarioType::Training;
  const auto issues = issues_of(with(s, json::array({{{"name", "mtp"}, {"params", {{"acceptance", {0.5}}}}}})));
  CHECK(has_issue(issues, "/strategies/0/name", "inference"));
}
