// Folded mesh phases (engine/mesh_folding.hpp): which domains fold, what a folded phase looks like, and that
// simulations with and without folding give the same op times and link bytes.
#include <catch2/catch.hpp>

#include "engine/collective_plan.hpp"
#include "engine/fabric_router.hpp"
#include "engine/mesh_folding.hpp"
#include "test_fixtures.hpp"

using namespace moesim;

namespace {

using model::CollectiveAlgorithm;
using model::CollectiveKind;

config::TopologyConfig two_nodes() {
  return test::tiny_topology(2, 4, {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, 2, 1.0, 0.0)});
}

// foldable_domains over the given collectives, each planned on the default plane.
std::vector<char> foldable(const engine::FabricRouter& router, const config::TopologyConfig& topo,
                           const std::vector<model::Collective>& collectives) {
  const engine::PlanContext ctx{router, 0, topo.ranks_per_node(), topo, false};
  std::vector<engine::CollectivePlan> plans;
  for (const auto& c : collectives) plans.push_back(engine::plan_collective(c, ctx));
  std::vector<engine::PlannedCollective> distinct;
  for (std::size_t i = 0; i < collectives.size(); ++i) distinct.push_back({&collectives[i], &plans[i], 0});
  return engine::foldable_domains(router, router.num_ranks(), distinct, 128);
}

model::Collective direct(CollectiveKind kind, std::vector<int> ranks, double elements = 4e6) {
  return test::collective(kind, CollectiveAlgorithm::Direct, std::move(ranks), elements);
}

}  // namespace

TEST_CASE("mesh folding: uniform mesh phases fold to one flow per member, to its successor", "[engine][fold]") {
  const auto topo = two_nodes();
  engine::FabricRouter router(topo, 8, {}, {});
  const auto ag = direct(CollectiveKind::AllGather, {0, 1, 2, 3});
  const auto a2a = direct(CollectiveKind::AllToAll, test::range(0, 8), 8e6);  // in-node meshes plus cross-node flows
  const auto ok = foldable(router, topo, {ag, a2a});
  CHECK(ok == std::vector<char>{1, 1});

  const engine::PlanContext ctx{router, 0, 4, topo, false};
  auto plan = engine::plan_collective(ag, ctx);
  REQUIRE(plan.phases.size() == 1);
  const double per_pair = plan.phases[0].flows.front().bytes;
  CHECK(engine::fold_mesh_flows(plan, ag, router, 0, ok, 128) == 12 - 4);
  const auto& phase = plan.phases[0];
  REQUIRE(phase.flows.size() == 4);
  REQUIRE(phase.folded_sets.size() == 1);
  CHECK(phase.folded_sets[0] == std::vector<int>{0, 1, 2, 3});
  for (int m = 0; m < 4; ++m) {
    CHECK(phase.flows[static_cast<std::size_t>(m)].src == m);
    CHECK(phase.flows[static_cast<std::size_t>(m)].dst == (m + 1) % 4);
    CHECK(phase.flows[static_cast<std::size_t>(m)].bytes == per_pair);
    CHECK(phase.flows[static_cast<std::size_t>(m)].folded_set == 0);
  }

  // The all-to-all keeps its 2 x 16 cross-node flows and folds the 2 x 12 in-node ones.
  auto a2a_plan = engine::plan_collective(a2a, ctx);
  CHECK(engine::fold_mesh_flows(a2a_plan, a2a, router, 0, ok, 128) == 2 * (12 - 4));
  CHECK(a2a_plan.phases[0].flows.size() == 32 + 8);
  // A window below a member's posted comms (7 sends + 7 receives) staggers its flows: nothing folds.
  auto windowed = engine::plan_collective(a2a, ctx);
  CHECK(engine::fold_mesh_flows(windowed, a2a, router, 0, ok, 8) == 0);
}

TEST_CASE("mesh folding: a domain with a point-to-point transfer, overlapping sets or a late phase keeps its flows",
          "[engine][fold]") {
  const auto topo = two_nodes();
  engine::FabricRouter router(topo, 8, {}, {});
  const auto ag0 = direct(CollectiveKind::AllGather, {0, 1, 2, 3});
  const auto ag1 = direct(CollectiveKind::AllGather, {4, 5, 6, 7});
  // a SendRecv on the pair link 5 -> 6 loads one link of node 1 only
  CHECK(foldable(router, topo, {ag0, ag1, direct(CollectiveKind::SendRecv, {5, 6})}) == std::vector<char>{1, 0});
  // {0, 1, 2} overlaps {0, 1, 2, 3}: links 0-3 would carry less than 0-1
  CHECK(foldable(router, topo, {ag0, ag1, direct(CollectiveKind::AllGather, {0, 1, 2})}) == std::vector<char>{0, 1});
  // disjoint sets are fine
  CHECK(foldable(router, topo, {direct(CollectiveKind::AllGather, {0, 1}), direct(CollectiveKind::AllGather, {2, 3}),
                                ag1}) == std::vector<char>{1, 1});
  // hierarchical all-reduce: the in-node all-gather after the cross-node phase starts when each member's
  // cross-node ring ends, not together
  const auto hier =
      test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Hierarchical, test::range(0, 8), 8e6);
  CHECK(foldable(router, topo, {hier}) == std::vector<char>{0, 0});
  // a full-mesh fabric given as aggregated ports has no pair links: nothing to fold
  engine::RouterOptions ports;
  ports.aggregated_node_ports = true;
  engine::FabricRouter aggregated(topo, 8, {}, ports);
  CHECK(foldable(aggregated, topo, {ag0}).empty());
}

TEST_CASE("mesh folding: the folded simulation gives the same op times and link bytes", "[engine][fold][sim]") {
  // Two nodes of 4. Per node, a TP all-gather then reduce-scatter (Direct) on stream 1 after compute ops of
  // different lengths, and an 8-rank all-to-all (in-node meshes + cross-node flows) on stream 2 that overlaps
  // them: pair links carry flows of two streams at once, so nothing is analytic and SimGrid shares them.
  const auto topo = two_nodes();
  model::OpGraph g;
  g.num_ranks = 8;
  g.collectives.push_back(direct(CollectiveKind::AllGather, {0, 1, 2, 3}, 8e6));
  g.collectives.push_back(direct(CollectiveKind::AllGather, {4, 5, 6, 7}, 8e6));
  g.collectives.push_back(direct(CollectiveKind::ReduceScatter, {0, 1, 2, 3}, 6e6));
  g.collectives.push_back(direct(CollectiveKind::ReduceScatter, {4, 5, 6, 7}, 6e6));
  g.collectives.push_back(direct(CollectiveKind::AllToAll, test::range(0, 8), 16e6));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::compute_op(r, 0, 1e9 * (1 + r % 3), 1e6));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(r < 4 ? 0 : 1, r, 1, {static_cast<model::OpId>(r)}));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(r < 4 ? 2 : 3, r, 1));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(4, r, 2));
  for (const bool analytic : {false, true}) {
    engine::EngineOptions unfolded;
    unfolded.fold_symmetric_meshes = false;
    unfolded.analytic_pair_links = analytic;
    engine::EngineOptions folded = unfolded;
    folded.fold_symmetric_meshes = true;
    const auto a = test::simulate_in_child(topo, g, unfolded);
    const auto b = test::simulate_in_child(topo, g, folded);
    REQUIRE(a.size() == b.size());
    CHECK(a[0] > 0.0);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-9).margin(1e-12));
    auto links_and_counts = [](const engine::SimulationResult& r) {
      std::vector<double> out{static_cast<double>(r.flows), static_cast<double>(r.folded_flows)};
      for (const auto& link : r.links) out.push_back(link.bytes);
      return out;
    };
    const auto la = test::simulate_in_child_with(topo, g, unfolded, links_and_counts);
    const auto lb = test::simulate_in_child_with(topo, g, folded, links_and_counts);
    CHECK(la[1] == 0.0);
    CHECK(lb[1] == 2 * 8 + 2 * 8 + 2 * 8);  // per node: 12 -> 4 flows in each of the three mesh phases
    if (!analytic) CHECK(lb[0] == la[0] - lb[1]);
    REQUIRE(la.size() == lb.size());
    for (std::size_t i = 2; i < la.size(); ++i) CHECK(lb[i] == Approx(la[i]).epsilon(1e-12));
  }
}
