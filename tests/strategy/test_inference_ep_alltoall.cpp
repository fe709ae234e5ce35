// The ep_alltoall strategy: its layout checks (h2p, every rank an EP rank with whole experts, no duo_stream, shared
// experts on the rank's own tokens) with their JSON pointers, and the plan it yields.
#include <catch2/catch.hpp>

#include "config/scenario_config.hpp"
#include "strategy/inference_plan.hpp"
#include "strategy_issues.hpp"

using namespace moesim;
using nlohmann::json;
using test::has_issue;

namespace {

// Pro MoE on the 300I Duo (tp 4, dp 2) with every rank an EP rank and whole experts.
config::ScenarioConfig scenario(json h2p_params = json::object(), bool duo_stream = false) {
  auto s = config::load_scenario(std::string(MOESIM_SOURCE_DIR) +
                                 "/scenarios/calibration/pro_moe_300i_duo_decode_bs80.json");
  s.parallel.ep = 8;
  s.parallel.expert_tp = 1;
  s.strategies = {{"h2p", std::move(h2p_params), "/strategies/0"}, {"ep_alltoall", json::object(), "/strategies/1"}};
  if (duo_stream) s.strategies.push_back({"duo_stream", json::object(), "/strategies/2"});
  return s;
}

}  // namespace

TEST_CASE("ep_alltoall: layout checks with their pointers, and the plan") {
  const auto ok = scenario();
  CHECK(test::strategy_issues(ok).empty());
  CHECK(strategy::inference_step_plan(ok).moe_alltoall);
  CHECK_FALSE(strategy::inference_step_plan(config::load_scenario(
                  std::string(MOESIM_SOURCE_DIR) + "/scenarios/calibration/pro_moe_300i_duo_decode_bs80.json"))
                  .moe_alltoall);
  auto no_h2p = ok;
  no_h2p.strategies.erase(no_h2p.strategies.begin());
  no_h2p.parallel.dp = 1;
  CHECK(has_issue(test::strategy_issues(no_h2p), "/strategies/1/name", "add {\"name\": \"h2p\"}"));
  auto split = ok;
  split.parallel.ep = 4;
  split.parallel.expert_tp = 2;
  CHECK(has_issue(test::strategy_issues(split), "/parallel/expert_tp", "it needs expert_tp 1 (ep = tp x dp = 8), got 2"));
  CHECK(has_issue(test::strategy_issues(scenario(json::object(), true)), "/strategies/2/name",
                  "duo_stream chunks the AllGather / ReduceScatter that ep_alltoall replaces"));
  CHECK(has_issue(test::strategy_issues(scenario({{"shared_expert_tp", 8}})), "/strategies/0/params/shared_expert_tp",
                  "set 1 or leave it out"));
  CHECK(test::strategy_issues(scenario({{"shared_expert_tp", 1}})).empty());
}

TEST_CASE("balanced in inference: static placement only") {
  auto s = scenario();
  s.strategies.push_back({"balanced", json::object(), "/strategies/2"});
  CHECK(test::strategy_issues(s).empty());
  CHECK(strategy::inference_step_plan(s).expert_placement == model::ExpertPlacement::Balanced);
  s.strategies.back().params = {{"mode", "dynamic"}};
  CHECK(has_issue(test::strategy_issues(s), "/strategies/2/params/mode", "use static"));
}

TEST_CASE("balanced's redundant experts: inference with ep_alltoall only") {
  auto s = scenario();
  s.strategies.push_back({"balanced", {{"redundant_per_rank", 1}}, "/strategies/2"});
  CHECK(test::strategy_issues(s).empty());
  CHECK(strategy::inference_step_plan(s).redundant_experts_per_rank == 1);
  auto gather = s;
  gather.strategies.erase(gather.strategies.begin() + 1);  // no ep_alltoall
  CHECK(has_issue(test::strategy_issues(gather), "/strategies/2/params/redundant_per_rank",  // its own pointer
                  "incompatible with AllGather dispatch"));
}
