#include <catch2/catch.hpp>

#include "test_fixtures.hpp"

using namespace moesim;
using model::CollectiveAlgorithm;
using model::CollectiveKind;

namespace {
// Rank 0: 20 compute ops on stream 0 with an all-gather after op 9 (on stream 1, depending on op 9) and a
// consumer of the all-gather at op 15. Optionally a second compute stream on rank 0 competes for the host.
model::OpGraph layered_graph(bool competing_stream) {
  model::OpGraph g;
  g.num_ranks = 2;
  std::vector<model::OpId> ids;
  model::OpId gathered = -1;
  for (int i = 0; i < 20; ++i) {
    auto op = test::compute_op(0, 0, 1e11 * (1 + i % 3), 2e8 * (1 + i % 5));
    if (i == 15) op.deps = {gathered};
    ids.push_back(g.add(op));
    if (i == 9) {
      gathered = g.add_collective_ops(
          "ag", "tp_comm", test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Ring, {0, 1}, 5e8), 1,
          {{ids.back()}, {}})[0];
    }
  }
  if (competing_stream) {
    for (int i = 0; i < 7; ++i) g.add(test::compute_op(0, 2, 3e11, 1e8, config::OpClass::Attention));
  }
  return g;
}
const config::TopologyConfig kTopo = test::tiny_topology(1, 2, {test::node_switch(100e9, 1e-6)});
}  // namespace

TEST_CASE("sim: compute coarsening on and off give the same makespan exactly on an uncontended rank",
          "[engine][sim][coarsen]") {
  const auto g = layered_graph(false);
  engine::EngineOptions on, off;
  off.coarsen_compute = false;
  const auto a = test::simulate_in_child(kTopo, g, on);
  const auto b = test::simulate_in_child(kTopo, g, off);
  REQUIRE(a.size() == b.size());
  CHECK(a[0] == Approx(b[0]).epsilon(1e-9));
  for (std::size_t i = 1; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).epsilon(1e-9).margin(1e-12));
}

TEST_CASE("sim: compute coarsening on and off agree within 2% when two streams share the rank",
          "[engine][sim][coarsen]") {
  const auto g = layered_graph(true);
  engine::EngineOptions on, off;
  off.coarsen_compute = false;
  const auto a = test::simulate_in_child(kTopo, g, on);
  const auto b = test::simulate_in_child(kTopo, g, off);
  CHECK(a[0] == Approx(b[0]).epsilon(0.02));
}

TEST_CASE("sim: two runs in two processes give bit-identical timings", "[engine][sim][determinism]") {
  const auto topo = test::tiny_topology(2, 8, {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, 1, 1.0, 2e-6)});
  model::OpGraph g = layered_graph(true);
  g.num_ranks = 16;
  auto c = test::collective(CollectiveKind::AllToAllV, CollectiveAlgorithm::Auto, test::range(0, 16), 0.0);
  for (int i = 0; i < 256; ++i) c.per_pair_elements.push_back(1e5 * (1 + (i * 37) % 11));
  g.add_collective_ops("a2a", "ep_comm", c, 1);
  g.add_collective_ops("ar", "dp_comm",
                       test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Auto, test::range(0, 16), 3e7),
                       1);
  const auto a = test::simulate_in_child(topo, g);
  const auto b = test::simulate_in_child(topo, g);
  REQUIRE(a.size() == 1 + 2 * g.ops.size());
  CHECK(a == b);
  CHECK(a[0] > 0.0);
}
