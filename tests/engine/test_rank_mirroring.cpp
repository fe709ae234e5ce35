// Mirrored ranks (engine/rank_mirroring.hpp, engine/mirror_flows.hpp): which graphs are invariant under shifting
// local indices, which op mirrors which, and that the mirrored simulation gives every op the time and every link
// the bytes of the full one.
#include <catch2/catch.hpp>

#include "engine/rank_mirroring.hpp"
#include "test_fixtures.hpp"

using namespace moesim;

namespace {

using model::CollectiveAlgorithm;
using model::CollectiveKind;

config::TopologyConfig two_nodes(double oversubscription = 1.0, int nodes_per_leaf = 2) {
  return test::tiny_topology(2, 4,
                             {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, nodes_per_leaf, oversubscription, 1e-6)});
}

model::Collective direct(CollectiveKind kind, std::vector<int> ranks, double elements) {
  return test::collective(kind, CollectiveAlgorithm::Direct, std::move(ranks), elements);
}

// Two nodes of 4. Per rank: compute (a length per stream), a node-wide AllGather and ReduceScatter on stream 1
// beside an 8-rank all-to-all on stream 2 (the pair links carry both), then an AllReduce between the two ranks of
// the same local index (one per index) on stream 1, and a last compute that waits for the all-to-all.
model::OpGraph symmetric_graph() {
  model::OpGraph g;
  g.num_ranks = 8;
  g.collectives.push_back(direct(CollectiveKind::AllGather, {0, 1, 2, 3}, 8e6));
  g.collectives.push_back(direct(CollectiveKind::AllGather, {4, 5, 6, 7}, 8e6));
  g.collectives.push_back(direct(CollectiveKind::ReduceScatter, {0, 1, 2, 3}, 6e6));
  g.collectives.push_back(direct(CollectiveKind::ReduceScatter, {4, 5, 6, 7}, 6e6));
  g.collectives.push_back(direct(CollectiveKind::AllToAll, test::range(0, 8), 16e6));
  for (int l = 0; l < 4; ++l) {
    g.collectives.push_back(test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, {l, 4 + l}, 4e6));
  }
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::compute_op(r, 0, 3e9, 1e6));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(r < 4 ? 0 : 1, r, 1, {static_cast<model::OpId>(r)}));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(r < 4 ? 2 : 3, r, 1));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(4, r, 2));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(5 + r % 4, r, 1));
  for (int r = 0; r < 8; ++r) {
    model::Op op = test::compute_op(r, 0, 1e9, 1e6);
    op.deps = {static_cast<model::OpId>(24 + r)};
    g.ops.push_back(op);
  }
  return g;
}

std::vector<double> links_and_counts(const engine::SimulationResult& r) {
  std::vector<double> out{static_cast<double>(r.mirrored_ranks), static_cast<double>(r.flows)};
  for (const auto& link : r.links) out.push_back(link.bytes);
  return out;
}

// With the other reductions off, then on: the mirrored run gives every op the time and every link the bytes of
// the full run, and mirrors `mirrored_ranks` ranks. Returns the SimGrid flows of both runs with the reductions on.
std::pair<double, double> check_mirrored_equals_full(const config::TopologyConfig& topo, const model::OpGraph& g,
                                                     double mirrored_ranks) {
  std::pair<double, double> flows;
  for (const bool reductions : {false, true}) {
    engine::EngineOptions full;
    full.analytic_pair_links = reductions;
    full.fold_symmetric_meshes = reductions;
    full.aggregate_cross_node_flows = reductions;
    full.mirror_symmetric_ranks = false;
    engine::EngineOptions mirrored = full;
    mirrored.mirror_symmetric_ranks = true;
    const auto a = test::simulate_in_child(topo, g, full);
    const auto b = test::simulate_in_child(topo, g, mirrored);
    REQUIRE(a.size() == b.size());
    CHECK(a[0] > 0.0);
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-12).margin(1e-15));
    const auto la = test::simulate_in_child_with(topo, g, full, links_and_counts);
    const auto lb = test::simulate_in_child_with(topo, g, mirrored, links_and_counts);
    CHECK(la[0] == 0.0);
    CHECK(lb[0] == mirrored_ranks);
    REQUIRE(la.size() == lb.size());
    for (std::size_t i = 2; i < la.size(); ++i) CHECK(lb[i] == Approx(la[i]).epsilon(1e-12));
    flows = {la[1], lb[1]};
  }
  return flows;
}

}  // namespace

TEST_CASE("rank mirroring: a node-symmetric graph mirrors every rank but the first of each node", "[engine][mirror]") {
  const auto g = symmetric_graph();
  const auto m = engine::find_rank_mirror(g, 4);
  REQUIRE(m.active());
  CHECK(m.refusal.empty());
  CHECK(m.node_size == 4);
  CHECK(m.shift == 1);
  CHECK(m.simulated(0));
  CHECK(m.simulated(4));
  CHECK_FALSE(m.simulated(5));
  CHECK(m.source[3] == 0);    // compute of rank 3 <- rank 0
  CHECK(m.source[13] == 12);  // ReduceScatter op of rank 5 <- rank 4
  CHECK(m.source[0] == -1);
  CHECK(m.collective_class[0] == engine::MirrorClass::Closed);
  CHECK(m.collective_class[4] == engine::MirrorClass::Closed);
  CHECK(m.collective_class[5] == engine::MirrorClass::Shifted);
  CHECK(m.sigma_member[0] == std::vector<int>{1, 2, 3, 0});
}

TEST_CASE("rank mirroring: asymmetric graphs are refused with the reason", "[engine][mirror]") {
  SECTION("one rank computes more") {
    auto g = symmetric_graph();
    g.ops[2].compute.flops *= 1.5;
    const auto m = engine::find_rank_mirror(g, 4);
    CHECK_FALSE(m.active());
    CHECK(m.refusal.find("differs from its counterpart") != std::string::npos);
  }
  SECTION("groups of two ranks inside a node: mirrored under a shift by two, not by one") {
    model::OpGraph g;
    g.num_ranks = 8;
    for (int first = 0; first < 8; first += 2) {
      g.collectives.push_back(direct(CollectiveKind::AllGather, {first, first + 1}, 1e6));
    }
    for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(r / 2, r, 0));
    const auto m = engine::find_rank_mirror(g, 4);
    REQUIRE(m.active());
    CHECK(m.shift == 2);
    CHECK(m.simulated(1));
    CHECK_FALSE(m.simulated(2));
    CHECK(m.source[7] == 5);
    CHECK(m.collective_class[0] == engine::MirrorClass::Shifted);
  }
  SECTION("pairs across nodes at different local indices") {
    model::OpGraph g;
    g.num_ranks = 8;
    for (int l = 0; l < 4; ++l) g.collectives.push_back(direct(CollectiveKind::AllGather, {l, 4 + (l + 1) % 4}, 1e6));
    for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(r < 4 ? r : (r + 3) % 4, r, 0));
    const auto m = engine::find_rank_mirror(g, 4);
    CHECK_FALSE(m.active());
    CHECK(m.refusal.find("shift 1: collective 0 (all_gather) mixes leaders") != std::string::npos);
    CHECK(m.refusal.find("shift 2: collective 1 (all_gather) mixes leaders") != std::string::npos);
  }
  SECTION("a skewed all-to-all-v") {
    auto g = symmetric_graph();
    auto& a2a = g.collectives[4];
    a2a.kind = CollectiveKind::AllToAllV;
    a2a.per_pair_elements.assign(64, 2e6);
    for (int i = 0; i < 8; ++i) a2a.per_pair_elements[static_cast<std::size_t>(i * 8 + i)] = 0.0;
    a2a.per_pair_elements[1] = 3e6;  // rank 0 -> rank 1 carries more
    const auto m = engine::find_rank_mirror(g, 4);
    CHECK_FALSE(m.active());
    CHECK(m.refusal.find("not invariant") != std::string::npos);
  }
  SECTION("a single node") {
    auto g = symmetric_graph();
    CHECK_FALSE(engine::find_rank_mirror(g, 8).active());
  }
}

TEST_CASE("mirrored ranks: the mirrored simulation gives the same op times and link bytes", "[engine][mirror][sim]") {
  const auto [full_flows, mirrored_flows] = check_mirrored_equals_full(two_nodes(), symmetric_graph(), 6.0);
  CHECK(mirrored_flows < full_flows / 3.0);
}

TEST_CASE("mirrored ranks: a binding leaf uplink keeps every rank simulated", "[engine][mirror][sim]") {
  // One node per leaf at oversubscription 2: the cross-node flows of all local indices share the leaf uplinks,
  // which a leader alone would not load as the full run does.
  const auto topo = two_nodes(2.0, 1);
  const auto refusal = test::simulate_in_child_with(topo, symmetric_graph(), {}, [](const auto& r) {
    return std::vector<double>{static_cast<double>(r.mirrored_ranks),
                               r.mirror_refusal.find("shared by several ranks") != std::string::npos ? 1.0 : 0.0};
  });
  CHECK(refusal[0] == 0.0);
  CHECK(refusal[1] == 1.0);
}

TEST_CASE("mirrored ranks: TP2 groups under a shift by two, with proxy receives, op for op", "[engine][mirror][sim]") {
  // Two nodes of 4: TP2 all-gathers ({0,1}, {2,3}, ...) on stream 1 after compute, an 8-rank all-to-all on stream 2
  // over the same pair links, an all-reduce per local index across the nodes. Ranks 0 and 1 of each node run; rank
  // 0's flow to rank 3 is the image of what rank 1 receives from rank 2, so rank 1 waits for rank 0's word.
  const auto topo = two_nodes();
  model::OpGraph g;
  g.num_ranks = 8;
  for (int first = 0; first < 8; first += 2) {
    g.collectives.push_back(direct(CollectiveKind::AllGather, {first, first + 1}, 8e6));
  }
  g.collectives.push_back(direct(CollectiveKind::AllToAll, test::range(0, 8), 16e6));
  for (int l = 0; l < 4; ++l) {
    g.collectives.push_back(test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, {l, 4 + l}, 4e6));
  }
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::compute_op(r, 0, 1e9 * (1 + r % 2), 1e6));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(r / 2, r, 1, {static_cast<model::OpId>(r)}));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(4, r, 2));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(5 + r % 4, r, 1));
  check_mirrored_equals_full(topo, g, 4.0);
}

namespace {

// Four nodes of 2 ranks, two groups of 4 ranks ({0..3}, {4..7}) that run alike: per rank a compute whose size
// depends on the rank's place in its group (so no shift of local indices holds), a skewed all-to-all-v inside each
// group (the same matrix) on stream 2, a ring all-reduce of each pair {r, r + 4} across the groups on stream 1 (an
// expert-DP pair: each member's flow is the image of the one it receives), an 8-rank ring all-reduce on stream 3,
// and a last compute after the all-to-all-v.
model::OpGraph two_group_graph() {
  model::OpGraph g;
  g.num_ranks = 8;
  for (int first : {0, 4}) {
    auto a2a = direct(CollectiveKind::AllToAllV, test::range(first, first + 4), 0.0);
    a2a.per_pair_elements.assign(16, 0.0);
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) {
        if (i != j) a2a.per_pair_elements[static_cast<std::size_t>(i * 4 + j)] = 1e6 * (1 + j) * (1 + (i + j) % 3);
      }
    }
    g.collectives.push_back(a2a);
  }
  for (int r = 0; r < 4; ++r) {
    g.collectives.push_back(test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, {r, r + 4}, 6e6));
  }
  g.collectives.push_back(
      test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, test::range(0, 8), 8e6));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::compute_op(r, 0, 1e9 * (1 + r % 4), 1e6));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(r / 4, r, 2, {static_cast<model::OpId>(r)}));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(2 + r % 4, r, 1));
  for (int r = 0; r < 8; ++r) g.ops.push_back(test::collective_op(6, r, 3));
  for (int r = 0; r < 8; ++r) {
    model::Op op = test::compute_op(r, 0, 2e9, 1e6);
    op.deps = {static_cast<model::OpId>(8 + r)};
    g.ops.push_back(op);
  }
  return g;
}

config::TopologyConfig four_nodes_of_two(double oversubscription = 1.0, int nodes_per_leaf = 4) {
  return test::tiny_topology(4, 2,
                             {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, nodes_per_leaf, oversubscription, 1e-6)});
}

}  // namespace

TEST_CASE("rank mirroring: two groups that run alike mirror under a block shift of whole nodes", "[engine][mirror]") {
  const auto g = two_group_graph();
  const auto m = engine::find_rank_mirror(g, 2);
  REQUIRE(m.active());
  CHECK(m.block_shift());
  CHECK(m.period == 8);
  CHECK(m.shift == 4);
  CHECK(m.simulated(3));
  CHECK_FALSE(m.simulated(4));
  CHECK(m.leader_of(6) == 2);
  CHECK(m.source[6] == 2);   // compute of rank 6 <- rank 2
  CHECK(m.source[13] == 9);  // all-to-all-v op of rank 5 <- rank 1
  CHECK(m.collective_class[0] == engine::MirrorClass::Shifted);
  CHECK(m.collective_class[2] == engine::MirrorClass::Closed);  // the pair {0, 4}
  CHECK(m.sigma_member[2] == std::vector<int>{1, 0});
  CHECK(m.collective_class[6] == engine::MirrorClass::Closed);  // the 8-rank ring
  CHECK(m.sigma_member[6] == std::vector<int>{4, 5, 6, 7, 0, 1, 2, 3});

  SECTION("the groups differ: refused, with the shifts tried") {
    auto h = two_group_graph();
    h.collectives[1].per_pair_elements[1] *= 2.0;  // group {4..7} sends more from its first to its second rank
    const auto r = engine::find_rank_mirror(h, 2);
    CHECK_FALSE(r.active());
    INFO(r.refusal);
    CHECK(r.refusal.find("shift 1: op 0 'compute' on rank 0 differs") != std::string::npos);
    CHECK(r.refusal.find(
              "block shift 2 of 4 nodes: collective 0 (all_to_all_v) differs from its image (root or per-pair") !=
          std::string::npos);
  }
}

TEST_CASE("mirrored ranks: a block shift gives the same op times and link bytes, over loopback ports",
          "[engine][mirror][sim]") {
  const auto [full_flows, mirrored_flows] = check_mirrored_equals_full(four_nodes_of_two(), two_group_graph(), 4.0);
  CHECK(mirrored_flows < full_flows);
}

TEST_CASE("mirrored ranks: a block shift with a binding leaf uplink keeps every rank simulated",
          "[engine][mirror][sim]") {
  // One node per leaf at oversubscription 2: leaders and mirrored ranks share leaf uplinks.
  const auto refusal =
      test::simulate_in_child_with(four_nodes_of_two(2.0, 1), two_group_graph(), {}, [](const auto& r) {
        return std::vector<double>{static_cast<double>(r.mirrored_ranks),
                                   r.mirror_refusal.find("shared by several ranks") != std::string::npos ? 1.0 : 0.0};
      });
  CHECK(refusal[0] == 0.0);
  CHECK(refusal[1] == 1.0);
}

TEST_CASE("mirrored ranks: a block shift across Clos leaves is refused, since the full run is not symmetric",
          "[engine][mirror][sim]") {
  // Leaves of 3 nodes: group {0..3} (nodes 0, 1) exchanges inside one leaf, group {4..7} (nodes 2, 3) over the spine.
  const auto topo = four_nodes_of_two(1.0, 3);
  const auto refusal = test::simulate_in_child_with(topo, two_group_graph(), {}, [](const auto& r) {
    return std::vector<double>{static_cast<double>(r.mirrored_ranks),
                               r.mirror_refusal.find("block shift 2 of 4 nodes: the route") != std::string::npos &&
                                       r.mirror_refusal.find("platform is not symmetric") != std::string::npos
                                   ? 1.0
                                   : 0.0};
  });
  CHECK(refusal[0] == 0.0);
  CHECK(refusal[1] == 1.0);
  // The reason it must be: the two groups' all-to-all-vs (ops 8 and 12) end at different times in the full run.
  const auto full = test::simulate_in_child(topo, two_group_graph());
  const auto end_of = [&full](int op) { return full[static_cast<std::size_t>(2 + 2 * op)]; };
  CHECK(end_of(12) > end_of(8) + 0.5e-6);
}

namespace {

// A cluster-wide switch (CloudMatrix384's UB plane): every pair, in the node or across nodes, over the two ranks'
// ports; no pair links.
config::TopologyConfig unified_bus(int nodes, int ranks_per_node) {
  return test::tiny_topology(
      nodes, ranks_per_node,
      {test::fabric("ub", config::FabricKind::Switch, config::FabricScope::Cluster, 100e9, 2e-6)});
}

}  // namespace

TEST_CASE("mirrored ranks: over a cluster-wide switch in-node flows go to the leader's ports, op for op",
          "[engine][mirror][sim]") {
  // Shift by 1: rank 0's in-node flows return to it over its loopback (its port out and in), its flows to node 1's
  // mirrored ranks go to rank 4; 6 of 8 ranks mirrored.
  const auto [full_flows, mirrored_flows] = check_mirrored_equals_full(unified_bus(2, 4), symmetric_graph(), 6.0);
  CHECK(mirrored_flows < full_flows / 2.0);
  // A block shift over the same fabric: 4 of 8.
  check_mirrored_equals_full(unified_bus(4, 2), two_group_graph(), 4.0);
}

TEST_CASE("mirrored ranks: an in-node switch beside a cross-node Clos mirrors whole nodes only",
          "[engine][mirror][sim]") {
  // A rank's loopback is over its NIC while its in-node flows leave by its switch port, so no local shift holds. A
  // block shift of one node does once cross-node flows are aggregated (node 0's in-node flows stay among leaders,
  // each cross-node one goes between equal local indices and so returns to its sender); the flat all-to-all's flow
  // 0 -> 5 would have to be redirected to rank 1, over the switch instead of the NIC, and is refused.
  const auto topo = test::tiny_topology(2, 4, {test::node_switch(50e9, 1e-6), test::clos(25e9, 5e-6, 2, 1.0, 1e-6)});
  engine::EngineOptions full;
  full.mirror_symmetric_ranks = false;
  const engine::EngineOptions mirrored;  // the reductions on, cross-node aggregation included
  REQUIRE(mirrored.aggregate_cross_node_flows);
  const auto a = test::simulate_in_child(topo, symmetric_graph(), full);
  const auto b = test::simulate_in_child(topo, symmetric_graph(), mirrored);
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) CHECK(b[i] == Approx(a[i]).epsilon(1e-12).margin(1e-15));
  const auto shape = test::simulate_in_child_with(topo, symmetric_graph(), mirrored, [](const auto& r) {
    return std::vector<double>{static_cast<double>(r.mirrored_ranks), static_cast<double>(r.mirror_period),
                               static_cast<double>(r.mirror_shift)};
  });
  CHECK(shape == std::vector<double>{4.0, 8.0, 4.0});
  engine::EngineOptions flat = mirrored;
  flat.aggregate_cross_node_flows = false;
  const auto refused = test::simulate_in_child_with(topo, symmetric_graph(), flat, [](const auto& r) {
    return std::vector<double>{static_cast<double>(r.mirrored_ranks),
                               r.mirror_refusal.find("block shift 1 of 2 nodes: collective 4 (all_to_all): a flow "
                                                     "cannot be redirected to its image's leader") != std::string::npos
                                   ? 1.0
                                   : 0.0};
  });
  CHECK(refused == std::vector<double>{0.0, 1.0});

  SECTION("the nodes differ: the local shifts are refused for want of an in-node loopback") {
    auto g = symmetric_graph();
    for (int r = 4; r < 8; ++r) g.ops[static_cast<std::size_t>(r)].compute.flops = 4e9;
    const auto refusal = test::simulate_in_child_with(topo, g, {}, [](const auto& r) {
      return std::vector<double>{
          static_cast<double>(r.mirrored_ranks),
          r.mirror_refusal.find("shift 1: collective 0 (all_gather): a flow whose image returns to its sender has no "
                                "loopback over its ports") != std::string::npos
              ? 1.0
              : 0.0};
    });
    CHECK(refusal[0] == 0.0);
    CHECK(refusal[1] == 1.0);
  }
}
