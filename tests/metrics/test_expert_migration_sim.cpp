// Dynamic expert placement over several steps on the engine (each simulation in a forked child): the migrations
// the placement asks for appear between the steps with the bytes of the moved experts' weights and optimizer
// shards, take the time of their largest transfer on a full mesh, and hold back only the next forward.
#include <algorithm>
#include <catch2/catch.hpp>

#include "../model/training_fixtures.hpp"
#include "metrics/training_metrics.hpp"
#include "model/expert_load.hpp"
#include "model/model_stats.hpp"
#include "step_sim.hpp"
#include "strategy/catalog.hpp"
#include "strategy/expert_loads.hpp"

using namespace moesim;

namespace {

constexpr double kPairBandwidth = 10e9;  // bytes/s per HCCS-like pair link of the test node

// Tiny MoE (16 experts, 4 per rank), TP1 PP1 DP4 = EP4 on one full-mesh node, uniform load drifting by 0.5 per
// step, 3 steps.
config::ScenarioConfig scenario(const std::string& mode) {
  auto model = test::tiny_moe_model();
  model.mtp_layers = 0;
  auto s = test::training_scenario(model, test::layout(1, 1, 4, 1, 1, 4), 2048, 1, 8);
  s.topology = test::tiny_topology(1, 4, {test::mesh(kPairBandwidth, 2e-6)});
  s.training->expert_load.drift_sigma = 0.5;
  s.training->steps = 3;
  s.file = "s.json";
  // the mechanism with every improving swap (cost_aware off); the cost test is the model layer's (model tests)
  s.strategies = {{"balanced", {{"mode", mode}}, "/strategies/0"}};
  if (mode == "dynamic") s.strategies[0].params["cost_aware"] = false;
  return s;
}

}  // namespace

TEST_CASE("dynamic placement: migrations before the step that uses them, sized as weights plus optimizer shard") {
  const auto s = scenario("dynamic");
  const auto loads = strategy::scenario_expert_loads(s);
  REQUIRE(loads.moves[2].size() > 0);
  const auto run = test::simulate_training_step(s);
  const auto& g = run.step.graph;
  // one exchange per step with moves (one EP group, one virtual stage), in that step's part of the graph
  std::vector<std::size_t> migrations;
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    if (g.ops[i].name == "expert_migration" && g.ops[i].rank == 0) migrations.push_back(i);
  }
  const auto& first = run.step.step_first_op;
  REQUIRE(first.size() == 3);
  std::size_t expected = 0;
  for (std::size_t step = 1; step < 3; ++step) expected += loads.moves[step].empty() ? 0 : 1;
  REQUIRE(migrations.size() == expected);
  const std::size_t id = migrations.back();
  CHECK(id >= first[2]);
  const auto& c = g.collectives[static_cast<std::size_t>(g.ops[id].collective)];
  REQUIRE(c.kind == model::CollectiveKind::AllToAllV);
  // bf16 weights + fp32 master, m and v over an expert-DP group of 1 (DP4 = EP4): 14 bytes per parameter
  const double per_expert = model::expert_params(*s.model) * 14.0;
  double total = 0.0, largest = 0.0;
  for (double e : c.per_pair_elements) {
    total += e * 4.0;
    largest = std::max(largest, e * 4.0);
  }
  CHECK(total == Approx(per_expert * static_cast<double>(loads.moves[2].size())));
  // the pairs run side by side on their own links: the exchange lasts its largest transfer
  const auto t = run.result.ops[id];
  CHECK(t.end_s - t.start_s == Approx(largest / kPairBandwidth).epsilon(0.02));
  // the step's first forward waits for it; the previous step's optimizer came first
  for (int rank = 0; rank < 4; ++rank) {
    double arrived = 0.0, forward = 1e30, optimizer = 0.0;
    for (std::size_t i = first[1]; i < g.ops.size(); ++i) {
      const auto& op = g.ops[i];
      if (op.rank != rank) continue;
      if (op.name == "expert_migration" && i >= first[2]) arrived = run.result.ops[i].end_s;
      if (op.name == "optimizer" && i < first[2]) optimizer = run.result.ops[i].end_s;
      if (i >= first[2] && op.kind == model::OpKind::Compute && op.name != "optimizer")
        forward = std::min(forward, run.result.ops[i].start_s);
    }
    INFO("rank " << rank);
    CHECK(arrived > optimizer);
    CHECK(forward >= arrived - 1e-12);
  }
  const auto m = metrics::training_metrics(s, g, run.result, run.step.step_first_op);
  CHECK(m["expert_moves"].get<std::size_t>() == loads.move_count());
  CHECK(m["expert_load_max_factor_by_step"].size() == 3);
  CHECK(m["phase_time_s"].contains("expert_migration"));
  CHECK(m["expert_migration_gib"].get<double>() > 0.0);
}

TEST_CASE("dynamic placement evens the drifted load that static placement keeps, and needs several steps") {
  const auto fixed = strategy::scenario_expert_loads(scenario("static"));
  const auto moving = strategy::scenario_expert_loads(scenario("dynamic"));
  CHECK(fixed.move_count() == 0);
  CHECK(moving.steps[2].max_factor() < fixed.steps[2].max_factor());
  auto one = scenario("dynamic");
  one.training->steps = 1;
  config::IssueCollector issues("s.json");
  strategy::validate_strategies(one, issues);
  CHECK_THROWS_WITH(issues.throw_if_any(), Catch::Contains("/strategies/0/params/mode: dynamic re-places experts "
                                                           "between steps: it needs training.steps >= 2, got 1"));
}
