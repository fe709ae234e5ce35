#include <catch2/catch.hpp>

#include "test_fixtures.hpp"

using namespace moesim;
using model::CollectiveAlgorithm;
using model::CollectiveKind;

namespace {
config::TopologyConfig topo4() {
  return test::tiny_topology(1, 4, {test::node_switch(100e9, 1e-6)});
}
}  // namespace

TEST_CASE("sim: collectives reached in crossed order report a deadlock instead of hanging", "[engine][sim][error]") {
  // Rank 0 runs X then Y on stream 1, rank 1 runs Y then X: each waits in a collective the other never reaches.
  model::OpGraph g;
  g.num_ranks = 2;
  const int x = g.add_collective(test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, {0, 1}, 1e6));
  const int y = g.add_collective(test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, {0, 1}, 1e6));
  auto member = [&](int rank, int collective) {
    model::Op op;
    op.name = collective == x ? "X" : "Y";
    op.kind = model::OpKind::Collective;
    op.rank = rank;
    op.stream = 1;
    op.collective = collective;
    g.add(op);
  };
  member(0, x);
  member(1, y);
  member(0, y);
  member(1, x);
  try {
    engine::simulate(topo4(), g);
    FAIL("no error");
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    CHECK(what.find("deadlock") != std::string::npos);
    CHECK(what.find("1 of 2 members arrived") != std::string::npos);
  }
}

TEST_CASE("sim: a group naming a nonexistent rank is rejected before simulation", "[engine][sim][error]") {
  model::OpGraph g;
  g.num_ranks = 4;
  auto c = test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Ring, {0, 1, 7}, 1e6);
  g.add_collective(c);
  model::Op op;
  op.kind = model::OpKind::Collective;
  op.collective = 0;
  for (int r : {0, 1}) {
    op.rank = r;
    g.add(op);
  }
  CHECK_THROWS_WITH(engine::simulate(topo4(), g), Catch::Contains("rank 7 does not exist"));
}

TEST_CASE("sim: a zero-size collective is rejected before simulation", "[engine][sim][error]") {
  model::OpGraph g;
  g.num_ranks = 4;
  g.add_collective_ops(
      "ar", "tp", test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, test::range(0, 4), 0.0), 1);
  CHECK_THROWS_AS(engine::simulate(topo4(), g), std::invalid_argument);
}

TEST_CASE("sim: more ranks than the topology, or an unroutable group, is rejected", "[engine][sim][error]") {
  model::OpGraph g;
  g.num_ranks = 8;
  g.add_collective_ops("ar", "tp", test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, {0, 5}, 1e6),
                       1);
  CHECK_THROWS_WITH(engine::simulate(topo4(), g), Catch::Contains("has 4"));
  // Two nodes joined by nothing: a node-scoped switch only.
  const auto islands = test::tiny_topology(2, 4, {test::node_switch(100e9, 1e-6)});
  CHECK_THROWS_WITH(engine::simulate(islands, g), Catch::Contains("no fabric connects"));
}

TEST_CASE("sim: an unknown forced fabric is rejected", "[engine][sim][error]") {
  model::OpGraph g;
  g.num_ranks = 2;
  auto c = test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {0, 1}, 1e6);
  c.fabric = "nvlink";
  g.add_collective_ops("kv", "kv", c, 1);
  CHECK_THROWS_WITH(engine::simulate(topo4(), g), Catch::Contains("unknown fabric 'nvlink'"));
}

TEST_CASE("sim: a second simulation in one process is refused", "[engine][sim][error]") {
  model::OpGraph g;
  g.num_ranks = 1;
  g.add(test::compute_op(0, 0, 1e9, 0));
  engine::simulate(topo4(), g);
  CHECK_THROWS_AS(engine::simulate(topo4(), g), std::logic_error);
}
