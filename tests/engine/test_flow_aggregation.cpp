// Cross-node flow aggregation (engine/flow_aggregation.hpp): which phases it merges, that every link keeps its
// byte load, and that simulated times agree with the unmerged simulation (exactly alone, within 2% with other
// traffic on the same NICs).
#include <catch2/catch.hpp>
#include <map>

#include "engine/collective_plan.hpp"
#include "engine/flow_aggregation.hpp"
#include "test_fixtures.hpp"

using namespace moesim;
using model::CollectiveAlgorithm;
using model::CollectiveKind;

namespace {

// 4 nodes x 8 ranks: HCCS-like mesh in a node, Clos across (2 nodes per leaf, so some routes cross the spine).
struct Fixture {
  config::TopologyConfig topo =
      test::tiny_topology(4, 8, {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, 2, 1.0, 2e-6)});
  engine::FabricRouter router{topo, 32, {}, {}};
  engine::PlanContext plain{router, 0, 8, topo, false};
  engine::PlanContext merged{router, 0, 8, topo, true};
};

std::map<int, double> link_loads(const engine::CollectivePlan& plan, const model::Collective& c,
                                 const engine::FabricRouter& router) {
  std::map<int, double> loads;
  for (const auto& phase : plan.phases) {
    for (const auto& f : phase.flows) {
      const auto route =
          router.route_or_throw(0, c.ranks[static_cast<std::size_t>(f.src)], c.ranks[static_cast<std::size_t>(f.dst)]);
      for (int i = 0; i < route.count; ++i) loads[route.links[static_cast<std::size_t>(i)]] += f.bytes;
    }
  }
  return loads;
}

model::Collective uniform_a2av(std::vector<int> ranks, double elements) {
  auto c = test::collective(CollectiveKind::AllToAllV, CollectiveAlgorithm::Direct, std::move(ranks), elements);
  const std::size_t p = c.ranks.size();
  c.per_pair_elements.assign(p * p, elements / static_cast<double>(p));
  return c;
}

}  // namespace

TEST_CASE("aggregation: a uniform 32-rank all-to-all-v keeps every link's bytes with 10 instead of 31 flows per rank",
          "[engine][aggregation]") {
  Fixture fx;
  const auto c = uniform_a2av(test::range(0, 32), 32e6);
  const auto plain = engine::plan_collective(c, fx.plain);
  const auto merged = engine::plan_collective(c, fx.merged);
  REQUIRE(plain.phases.size() == 1);
  REQUIRE(merged.phases.size() == 1);
  CHECK(plain.phases[0].flows.size() == 32 * 31);
  CHECK(merged.phases[0].flows.size() == 32 * (7 + 3));
  CHECK(merged.phases[0].alpha_s == plain.phases[0].alpha_s);
  const auto a = link_loads(plain, c, fx.router);
  const auto b = link_loads(merged, c, fx.router);
  REQUIRE(a.size() == b.size());
  for (const auto& [link, bytes] : a) CHECK(b.at(link) == Approx(bytes).epsilon(1e-12));
  for (const auto& f : merged.phases[0].flows) CHECK((f.src % 8 == f.dst % 8 || f.src / 8 == f.dst / 8));
}

TEST_CASE("aggregation: skewed matrices, rings and meshes across nodes are left unchanged", "[engine][aggregation]") {
  Fixture fx;
  auto skewed = uniform_a2av(test::range(0, 32), 32e6);
  skewed.per_pair_elements[1 * 32 + 10] *= 2.0;  // rank 1 sends more to node 1 than node 0 sends to rank 9
  CHECK(engine::plan_collective(skewed, fx.merged).phases[0].flows.size() == 32 * 31);
  const auto ring = test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Ring, test::range(0, 32), 1e6);
  CHECK(engine::plan_collective(ring, fx.merged).phases[0].flows.size() == 32);
  // Uneven layout (3 ranks on node 0, 1 on node 1): not merged.
  const auto uneven = uniform_a2av({0, 1, 2, 8}, 4e6);
  CHECK(engine::plan_collective(uneven, fx.merged).phases[0].flows.size() == 12);
  // A cluster-wide full mesh has a link per pair: merging would put 8 flows on one pair link.
  auto mesh_topo = test::tiny_topology(
      4, 8, {test::fabric("m", config::FabricKind::FullMesh, config::FabricScope::Cluster, 25e9, 1e-6)});
  engine::FabricRouter mesh_router{mesh_topo, 32, {}, {}};
  engine::PlanContext ctx{mesh_router, 0, 8, mesh_topo, true};
  CHECK(engine::plan_collective(uniform_a2av(test::range(0, 32), 32e6), ctx).phases[0].flows.size() == 32 * 31);
}

namespace {

// Two uniform EP all-to-all-vs over 4 nodes, then a compute op; when `with_ring`, a DP-like ring over the 32 ranks
// (one rank per node is a member's neighbour across nodes) runs on a second stream at the same time.
model::OpGraph a2a_graph(bool with_ring) {
  model::OpGraph g;
  g.num_ranks = 32;
  g.collectives.push_back(uniform_a2av(test::range(0, 32), 64e6));
  g.collectives.push_back(uniform_a2av(test::range(0, 32), 16e6));
  if (with_ring) {
    std::vector<int> ring;
    for (int l = 0; l < 8; ++l) {
      for (int n = 0; n < 4; ++n) ring.push_back(n * 8 + l);
    }
    g.collectives.push_back(test::collective(CollectiveKind::ReduceScatter, CollectiveAlgorithm::Ring, ring, 64e6));
  }
  for (int r = 0; r < 32; ++r) {
    for (int k = 0; k < 2; ++k) {
      model::Op op;
      op.name = "a2a";
      op.kind = model::OpKind::Collective;
      op.rank = r;
      op.collective = k;
      g.ops.push_back(op);
    }
    g.ops.push_back(test::compute_op(r, 0, 1e9 * (1 + r % 3), 1e6));
    if (with_ring) {
      model::Op op;
      op.name = "ring";
      op.kind = model::OpKind::Collective;
      op.rank = r;
      op.stream = 1;
      op.collective = 2;
      g.ops.push_back(op);
    }
  }
  return g;
}

// {makespan, start_0, end_0, ...} of the run.
std::vector<double> times(const model::OpGraph& g, bool aggregate) {
  const auto topo = test::tiny_topology(4, 8, {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, 2, 1.0, 2e-6)});
  engine::EngineOptions options;
  options.aggregate_cross_node_flows = aggregate;
  return test::simulate_in_child(topo, g, options);
}

}  // namespace

TEST_CASE("aggregation: all-to-alls alone give the unmerged simulation's makespan", "[engine][aggregation][sim]") {
  const auto g = a2a_graph(false);
  const auto plain = times(g, false);
  const auto merged = times(g, true);
  REQUIRE(plain.size() == merged.size());
  CHECK(plain[0] > 0.0);
  for (std::size_t i = 0; i < plain.size(); ++i) CHECK(merged[i] == Approx(plain[i]).epsilon(1e-9));
}

TEST_CASE("aggregation: with a concurrent ring on the NICs the makespan stays within 2%",
          "[engine][aggregation][sim]") {
  // The NICs stay saturated in both runs, so the makespan agrees; but the merged all-to-all competes as 3 instead
  // of 24 flows per NIC against the ring's one, so it ends later (the ring earlier). Measured here, with the ring
  // overlapping the whole exchange (worst case): rank 0's first all-to-all ends at 5.127 ms instead of 4.007 ms.
  const auto g = a2a_graph(true);
  const auto plain = times(g, false);
  const auto merged = times(g, true);
  CHECK(merged[0] == Approx(plain[0]).epsilon(0.02));
  const double a2a_plain = plain[2], a2a_merged = merged[2];  // end of rank 0's first all-to-all
  CHECK(a2a_merged > a2a_plain);
  CHECK(a2a_merged < 1.35 * a2a_plain);
}
