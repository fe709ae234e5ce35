// The h2p strategy: catalog entry, params checked strictly (pointers in messages), layout checks, and the plan.
#include <catch2/catch.hpp>

#include "strategy_issues.hpp"

#include "config/scenario_config.hpp"
#include "strategy/catalog.hpp"
#include "strategy/inference_plan.hpp"

using namespace moesim;
using nlohmann::json;

namespace {

config::ScenarioConfig duo_scenario() {
  return config::load_scenario(std::string(MOESIM_SOURCE_DIR) +
                               "/scenarios/calibration/pro_moe_300i_duo_decode_bs80.json");
}

std::vector<config::ConfigIssue> issues_of(const config::ScenarioConfig& scenario) {
  return test::strategy_issues(scenario);
}

using test::has_issue;

}  // namespace

TEST_CASE("h2p is in the strategy catalog with a sourced description") {
  bool found = false;
  for (const auto& info : strategy::strategy_catalog()) {
    if (info.name != "h2p") continue;
    found = true;
    CHECK(info.family == "inference_parallel");
    CHECK(info.description.find("4.2.1") != std::string::npos);
  }
  CHECK(found);
}

TEST_CASE("the shipped H2P scenario passes the strategy checks and yields the H2P plan") {
  const auto s = duo_scenario();
  CHECK(issues_of(s).empty());
  const auto plan = strategy::inference_step_plan(s);
  CHECK(plan.comm == model::InferenceComm::H2P);
  CHECK(plan.shared_expert_tp == 8);
  CHECK(plan.allgather_after_norm);
  CHECK(strategy::build_inference_step(s).collectives.size() == 48 * 6 + 4);
}

TEST_CASE("an unknown h2p param is an error naming its pointer") {
  auto s = duo_scenario();
  s.strategies[0].params["chunks"] = 4;
  const auto issues = issues_of(s);
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].pointer == "/strategies/0/params/chunks");
}

TEST_CASE("h2p params are type- and range-checked") {
  auto s = duo_scenario();
  s.strategies[0].params = json{{"shared_expert_tp", 0}, {"allgather_after_norm", "yes"}};
  auto issues = issues_of(s);
  CHECK(has_issue(issues, "/strategies/0/params/shared_expert_tp", ""));
  CHECK(has_issue(issues, "/strategies/0/params/allgather_after_norm", ""));
  s.strategies[0].params = json{{"shared_expert_tp", 3}};
  issues = issues_of(s);
  CHECK(has_issue(issues, "/strategies/0/params/shared_expert_tp", "must divide"));
}

TEST_CASE("h2p needs the routed experts over every rank, and attention dp needs h2p") {
  auto s = duo_scenario();
  s.parallel.expert_tp = 1;
  CHECK(has_issue(issues_of(s), "/parallel/ep", "ep x expert_tp = 4 x 1 must equal tp x dp = 8"));
  s = duo_scenario();
  s.strategies.clear();
  CHECK(has_issue(issues_of(s), "/parallel/dp", "h2p"));
  CHECK(strategy::inference_step_plan(s).comm == model::InferenceComm::TpAllReduce);
}
