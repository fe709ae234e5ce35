// Strategy "matmul_retiling" ([P] section 4.1, facts T14): it raises the device's GEMM efficiencies (compute by the
// cube-utilization gain, memory by the HBM-tiling gain; defaults 10 % and 5 %) and nothing else, notes itself in
// each changed value's source, and refuses a gain that would lift an efficiency above 1. The engine side:
// tests/metrics/test_matmul_retiling_sim.cpp.
#include <catch2/catch.hpp>

#include "../engine/test_fixtures.hpp"
#include "../model/training_fixtures.hpp"
#include "strategy_issues.hpp"
#include "strategy/kernel_matmul_retiling.hpp"

using namespace moesim;

namespace {

config::StrategySpec retiling(nlohmann::json params = nlohmann::json::object()) {
  return {"matmul_retiling", std::move(params), "/strategies/0"};
}

// Tiny dense model on one rank of the test device (matmul 0.8 / 0.9, attention 0.5 / 0.8), 2 micro-batches of 2K.
config::ScenarioConfig one_rank(const std::vector<config::StrategySpec>& strategies) {
  auto s = test::training_scenario(test::tiny_dense_model(2), test::layout(1, 1, 1), 2048, 1, 2);
  s.topology.device = test::test_device();
  s.strategies = strategies;
  return s;
}

const config::OpClassEfficiency& eff(const config::ScenarioConfig& s, config::OpClass c) {
  return s.topology.device.efficiency[static_cast<std::size_t>(c)];
}

}  // namespace

TEST_CASE("matmul_retiling raises the GEMM classes by the published lower bounds and leaves the others") {
  auto s = one_rank({retiling()});
  strategy::apply_matmul_retiling(s);
  CHECK(eff(s, config::OpClass::Matmul).compute.value == Approx(0.8 * 1.10));
  CHECK(eff(s, config::OpClass::Matmul).memory.value == Approx(0.9 * 1.05));
  CHECK(eff(s, config::OpClass::GroupedMatmul).compute.value == Approx(0.6 * 1.10));
  CHECK(eff(s, config::OpClass::GroupedMatmul).memory.value == Approx(0.7 * 1.05));
  CHECK(eff(s, config::OpClass::Attention).compute.value == 0.5);
  CHECK(eff(s, config::OpClass::Vector).memory.value == 0.85);
  CHECK_THAT(eff(s, config::OpClass::Matmul).compute.source, Catch::Contains("matmul_retiling"));
  CHECK_THAT(eff(s, config::OpClass::Matmul).compute.source, Catch::Contains("T14"));
  // explicit gains; a zero gain leaves the value and its source alone
  auto t = one_rank({retiling({{"cube_utilization_gain", 0.2}, {"hbm_tiling_gain", 0.0}})});
  strategy::apply_matmul_retiling(t);
  CHECK(eff(t, config::OpClass::Matmul).compute.value == Approx(0.8 * 1.2));
  CHECK(eff(t, config::OpClass::Matmul).memory.value == 0.9);
  CHECK(eff(t, config::OpClass::Matmul).memory.source == "test fixture");
  // not listed: nothing changes
  auto u = one_rank({});
  strategy::apply_matmul_retiling(u);
  CHECK(eff(u, config::OpClass::Matmul).compute.value == 0.8);
}

TEST_CASE("matmul_retiling refuses a gain that lifts an efficiency above 1 and checks its params") {
  // matmul memory 0.9 x 1.2 = 1.08
  const auto issues = test::strategy_issues(one_rank({retiling({{"hbm_tiling_gain", 0.2}})}));
  CHECK(test::has_issue(issues, "/strategies/0/params", "matmul memory efficiency 0.9 to 1.08"));
  CHECK(test::has_issue(issues, "/strategies/0/params", "lower hbm_tiling_gain"));
  CHECK(test::strategy_issues(one_rank({retiling()})).empty());
  CHECK(test::has_issue(test::strategy_issues(one_rank({retiling({{"cube_utilization_gain", -0.1}})})),
                        "/strategies/0/params/cube_utilization_gain", ""));
  CHECK(test::has_issue(test::strategy_issues(one_rank({retiling({{"gain", 0.1}})})), "/strategies/0/params/gain",
                        ""));
}
