// Analytic pair-link flows (engine/pair_link_flows.hpp): which ranks own their pair links, which flows of a phase
// are timed analytically and for how long, and that simulations with and without it agree.
#include <algorithm>
#include <catch2/catch.hpp>

#include "engine/collective_plan.hpp"
#include "engine/fabric_router.hpp"
#include "engine/pair_link_flows.hpp"
#include "test_fixtures.hpp"

using namespace moesim;

namespace {

using model::CollectiveAlgorithm;
using model::CollectiveKind;

// One op per member of collective `index` on `stream`.
void add_members(model::OpGraph& g, int index, int stream) {
  for (int r : g.collectives[static_cast<std::size_t>(index)].ranks) g.ops.push_back(test::collective_op(index, r, stream));
}

std::vector<std::vector<int>> member_streams(const model::OpGraph& g) {
  std::vector<std::vector<int>> out(g.collectives.size());
  for (std::size_t c = 0; c < g.collectives.size(); ++c) out[c].assign(g.collectives[c].ranks.size(), 0);
  for (const auto& op : g.ops) {
    if (op.kind != model::OpKind::Collective) continue;
    const auto& ranks = g.collectives[static_cast<std::size_t>(op.collective)].ranks;
    const auto m = std::find(ranks.begin(), ranks.end(), op.rank) - ranks.begin();
    out[static_cast<std::size_t>(op.collective)][static_cast<std::size_t>(m)] = op.stream;
  }
  return out;
}

config::TopologyConfig two_nodes() {
  return test::tiny_topology(2, 4, {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, 2, 1.0, 0.0)});
}

}  // namespace

TEST_CASE("pair links: a rank owns its pair links only when one stream meets its node peers", "[engine][pairlink]") {
  const auto topo = two_nodes();
  engine::FabricRouter router(topo, 8, {}, {});
  REQUIRE(router.pair_link_domain() == 4);
  model::OpGraph g;
  g.num_ranks = 8;
  // 0-3 all-gather on stream 1 (node 0); 4-7 the same on stream 1 (node 1); {0, 4} cross-node on stream 2: fine.
  g.collectives.push_back(test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Direct, {0, 1, 2, 3}, 4e6));
  g.collectives.push_back(test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Direct, {4, 5, 6, 7}, 4e6));
  g.collectives.push_back(test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {0, 4}, 1e6));
  // {5, 6} on stream 3: ranks 5 and 6 now meet node peers from two streams.
  g.collectives.push_back(test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {5, 6}, 1e6));
  add_members(g, 0, 1);
  add_members(g, 1, 1);
  add_members(g, 2, 2);
  add_members(g, 3, 3);
  const auto exclusive = engine::exclusive_pair_link_sources(router, g, member_streams(g));
  CHECK(exclusive == std::vector<char>{1, 1, 1, 1, 1, 0, 0, 1});
}

TEST_CASE("pair links: an intra-node phase is timed as bytes / link bandwidth, cross-node flows stay simulated",
          "[engine][pairlink]") {
  const auto topo = two_nodes();
  engine::FabricRouter router(topo, 8, {}, {});
  const auto a2a = test::collective(CollectiveKind::AllToAll, CollectiveAlgorithm::Direct, test::range(0, 8), 8e6);
  const engine::PlanContext ctx{router, 0, 4, topo, false};
  const auto plan = engine::plan_collective(a2a, ctx);
  REQUIRE(plan.phases.size() == 1);
  const std::vector<char> all(8, 1);
  const auto flows = engine::analytic_pair_link_flows(plan.phases[0], a2a, router, 0, all, true);
  int analytic = 0;
  for (std::size_t f = 0; f < flows.analytic.size(); ++f) {
    const auto& flow = plan.phases[0].flows[f];
    CHECK(bool(flows.analytic[f]) == (flow.src / 4 == flow.dst / 4));
    analytic += flows.analytic[f];
  }
  CHECK(analytic == 2 * 4 * 3);
  // each pair carries 8e6 / 8 x 2 bytes (bf16 elements) = 2 MB: 2e6 / 50e9 = 40 us
  for (double w : flows.wait_s) CHECK(w == Approx(2e6 / 50e9));
  CHECK_FALSE(engine::keeps_members_synchronized(plan.phases[0], flows));  // cross-node flows remain

  const auto unsynced = engine::analytic_pair_link_flows(plan.phases[0], a2a, router, 0, all, false);
  CHECK_FALSE(unsynced.any);
  const std::vector<char> none(8, 0);
  CHECK_FALSE(engine::analytic_pair_link_flows(plan.phases[0], a2a, router, 0, none, true).any);
  engine::RouterOptions ports;
  ports.aggregated_node_ports = true;  // a shared port is no pair link
  engine::FabricRouter aggregated(topo, 8, {}, ports);
  CHECK(aggregated.pair_link_domain() == 0);
  CHECK_FALSE(engine::analytic_pair_link_flows(plan.phases[0], a2a, aggregated, 0, all, true).any);
}

TEST_CASE("pair links: the simulation with analytic pair-link flows equals the fully simulated one",
          "[engine][pairlink][sim]") {
  // Two nodes of 4: per node a TP all-gather + reduce-scatter (ring and direct) on stream 1, an 8-rank all-to-all
  // on stream 1, compute on stream 0, and on ranks 5 and 6 an intra-node transfer on stream 3 that shares their
  // pair links (5 and 6 must then stay simulated).
  const auto topo = two_nodes();
  model::OpGraph g;
  g.num_ranks = 8;
  g.collectives.push_back(test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Ring, {0, 1, 2, 3}, 4e6));
  g.collectives.push_back(test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Ring, {4, 5, 6, 7}, 4e6));
  g.collectives.push_back(test::collective(CollectiveKind::AllToAll, CollectiveAlgorithm::Direct, test::range(0, 8), 8e6));
  g.collectives.push_back(
      test::collective(CollectiveKind::ReduceScatter, CollectiveAlgorithm::Direct, {0, 1, 2, 3}, 4e6));
  g.collectives.push_back(
      test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Hierarchical, test::range(0, 8), 8e6));
  g.collectives.push_back(test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {5, 6}, 3e6));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::compute_op(r, 0, 1e9 * (1 + r % 3), 1e6));
  for (int c = 0; c < 5; ++c) add_members(g, c, 1);
  g.ops.push_back(test::collective_op(5, 5, 3));
  g.ops.push_back(test::collective_op(5, 6, 4));
  // the all-gathers wait for the compute op of each member
  for (std::size_t i = 8; i < g.ops.size(); ++i) {
    if (g.ops[i].collective <= 1) g.ops[i].deps = {static_cast<model::OpId>(g.ops[i].rank)};
  }
  engine::EngineOptions plain;
  plain.analytic_pair_links = false;
  engine::EngineOptions fast;
  fast.analytic_pair_links = true;
  const auto a = test::simulate_in_child(topo, g, plain);
  const auto b = test::simulate_in_child(topo, g, fast);
  REQUIRE(a.size() == b.size());
  CHECK(a[0] > 0.0);
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-9).margin(1e-12));
}
