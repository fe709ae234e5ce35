// Family moe_comm: the hierarchical_ep plan on 2 nodes x 2 ranks, clear errors when the EP group lies inside one
// node or the scenario is not a training MoE step, the catalog entries, and the step graph's node-split groups.
#include <catch2/catch.hpp>

#include "../engine/test_fixtures.hpp"
#include "../model/training_fixtures.hpp"
#include "strategy/catalog.hpp"
#include "strategy/moe_comm.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"
#include "strategy_issues.hpp"

using namespace moesim;

namespace {

config::ScenarioConfig two_nodes_of(int ranks_per_node, const std::string& strategy) {
  auto s = test::training_scenario(test::tiny_moe_model(), test::layout(2, 1, 2, 1, 1, 2, true, true), 1024, 1, 2);
  s.topology = test::tiny_topology(4 / ranks_per_node, ranks_per_node, {test::mesh(50e9, 2e-6)});
  if (!strategy.empty()) s.strategies.push_back({strategy, nlohmann::json::object(), "/strategies/0"});
  return s;
}

}  // namespace

TEST_CASE("hierarchical_ep plans the node split of the EP group, and alltoallv is the default") {
  CHECK(strategy::moe_comm_plan(two_nodes_of(2, "")).dispatch == model::MoeDispatch::AllToAllV);
  CHECK(strategy::make_moe_comm(two_nodes_of(2, ""))->name() == "alltoallv");
  const auto plan = strategy::moe_comm_plan(two_nodes_of(2, "hierarchical_ep"));
  CHECK(plan.dispatch == model::MoeDispatch::HierarchicalEp);
  CHECK(plan.outer == 2);
  CHECK(plan.inner == 2);
  const auto spread = strategy::moe_comm_plan(two_nodes_of(1, "hierarchical_ep"));  // one EP member per node
  CHECK(spread.outer == 4);
  CHECK(spread.inner == 1);
  CHECK(test::strategy_issues_text(two_nodes_of(2, "hierarchical_ep")).empty());
}

TEST_CASE("moe_comm strategies report an EP group inside one node, a non-MoE model and an inference scenario") {
  const auto inside = test::strategy_issues_text(two_nodes_of(4, "hierarchical_ep"));
  CHECK_THAT(inside, Catch::Contains("/strategies/0/name: hierarchical_ep needs an expert-parallel group spanning "
                                     "nodes, but the group of rank 0 (4 ranks) lies inside one node of 4 ranks"));
  CHECK_THAT(inside, Catch::Contains("use alltoallv"));
  CHECK(test::strategy_issues_text(two_nodes_of(4, "alltoallv")).empty());

  for (const std::string name : {"hierarchical_ep", "alltoallv"}) {  // named, neither is a silent no-op
    auto dense = two_nodes_of(2, name);
    dense.model = test::tiny_dense_model();
    CHECK_THAT(test::strategy_issues_text(dense),
               Catch::Contains("/strategies/0/name: " + name + " lays out the MoE dispatch, but model"));
    CHECK_THAT(test::strategy_issues_text(dense), Catch::Contains("has no MoE layers"));

    auto inference = two_nodes_of(2, name);
    inference.type = config::ScenarioType::Inference;
    CHECK_THAT(test::strategy_issues_text(inference),
               Catch::Contains(name + " lays out the MoE dispatch of training steps"));
  }
  auto dense_default = two_nodes_of(2, "");  // the default plan still serves dense training steps
  dense_default.model = test::tiny_dense_model();
  CHECK(test::strategy_issues_text(dense_default).empty());

  auto schedule = two_nodes_of(2, "1f1b");
  schedule.type = config::ScenarioType::Inference;
  CHECK_THAT(test::strategy_issues_text(schedule),
             Catch::Contains("/strategies/0/name: 1f1b schedules the micro-batches of training "
                             "steps; this scenario is inference"));

  auto both = two_nodes_of(2, "hierarchical_ep");
  both.strategies.push_back({"alltoallv", nlohmann::json::object(), "/strategies/1"});
  CHECK_THAT(test::strategy_issues_text(both), Catch::Contains("more than one \"moe_comm\" strategy"));

  auto params = two_nodes_of(2, "");
  params.strategies.push_back({"hierarchical_ep", {{"outer", 2}}, "/strategies/0"});
  CHECK_THAT(test::strategy_issues_text(params), Catch::Contains("/strategies/0/params/outer: unknown key"));
}

TEST_CASE("the catalog lists the moe_comm family") {
  int found = 0;
  for (const auto& info : strategy::strategy_catalog()) {
    if (info.family != "moe_comm") continue;
    ++found;
    CHECK((info.name == "alltoallv" || info.name == "hierarchical_ep"));
    CHECK(!info.description.empty());
  }
  CHECK(found == 2);
}

TEST_CASE("hierarchical_ep step graph: AllGather / ReduceScatter across nodes, AllToAllV inside a node") {
  const auto s = two_nodes_of(2, "hierarchical_ep");
  strategy::TrainingStepOptions options;
  options.reduce_dp = false;
  const auto step = strategy::build_training_step(s, *strategy::make_pipeline_schedule(s), options);
  REQUIRE_NOTHROW(model::validate(step.graph));
  int gathers = 0, a2a = 0;
  for (const auto& op : step.graph.ops) {
    if (op.kind != model::OpKind::Collective || op.phase != "ep_comm") continue;
    const auto& c = step.graph.collectives[static_cast<std::size_t>(op.collective)];
    REQUIRE(c.ranks.size() == 2);
    const bool same_node = c.ranks[0] / 2 == c.ranks[1] / 2;
    if (c.kind == model::CollectiveKind::AllToAllV) {
      CHECK(same_node);
      ++a2a;
    } else {
      CHECK_FALSE(same_node);
      CHECK((c.kind == model::CollectiveKind::AllGather || c.kind == model::CollectiveKind::ReduceScatter));
      CHECK(c.ranks[1] - c.ranks[0] == 2);  // same position on the other node
      ++gathers;
    }
  }
  // 6 MoE blocks (5 layers + MTP) x (forward + backward) x 2 collectives x 4 member ops
  CHECK(a2a == 6 * 2 * 2 * 4);
  CHECK(gathers == 6 * 2 * 2 * 4);
}
