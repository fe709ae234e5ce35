#include <catch2/catch.hpp>
#include <stdexcept>

#include "model/op_graph.hpp"

using namespace moesim::model;

namespace {
Collective group(std::vector<int> ranks, double elements = 100.0) {
  Collective c;
  c.kind = CollectiveKind::AllReduce;
  c.ranks = std::move(ranks);
  c.elements = elements;
  return c;
}
}  // namespace

TEST_CASE("op graph: names round-trip and unknown names are refused", "[model][op_graph]") {
  for (const auto& name : collective_kind_names()) {
    CollectiveKind kind{};
    REQUIRE(parse_collective_kind(name, kind));
    CHECK(to_string(kind) == name);
  }
  for (const auto& name : collective_algorithm_names()) {
    CollectiveAlgorithm algorithm{};
    REQUIRE(parse_collective_algorithm(name, algorithm));
    CHECK(to_string(algorithm) == name);
  }
  CollectiveKind kind{};
  CHECK_FALSE(parse_collective_kind("allreduce", kind));
  CHECK(collective_kind_names().size() == 7);
}

TEST_CASE("op graph: bytes follow the dtype and sum the alltoallv matrix", "[model][op_graph]") {
  Collective c = group({0, 1}, 1000.0);
  c.dtype = Dtype::BF16;
  CHECK(c.bytes() == 2000.0);
  c.dtype = Dtype::INT8;
  CHECK(c.bytes() == 1000.0);
  c.dtype = Dtype::FP32;
  CHECK(c.bytes() == 4000.0);
  c.kind = CollectiveKind::AllToAllV;
  c.dtype = Dtype::BF16;
  c.per_pair_elements = {0, 3, 5, 0};
  CHECK(c.bytes() == 16.0);
}

TEST_CASE("op graph: add_collective_ops adds one op per member with its deps", "[model][op_graph]") {
  OpGraph g;
  g.num_ranks = 3;
  Op a;
  a.rank = 2;
  const OpId first = g.add(a);
  const auto ids = g.add_collective_ops("ar", "tp_comm", group({2, 0}), 1, {{first}, {}});
  REQUIRE(ids.size() == 2);
  CHECK(g.ops[static_cast<std::size_t>(ids[0])].rank == 2);
  CHECK(g.ops[static_cast<std::size_t>(ids[0])].deps == std::vector<OpId>{first});
  CHECK(g.ops[static_cast<std::size_t>(ids[1])].rank == 0);
  CHECK(g.ops[static_cast<std::size_t>(ids[1])].stream == 1);
  CHECK(g.ops[static_cast<std::size_t>(ids[1])].collective == 0);
  CHECK_NOTHROW(validate(g));
  CHECK_THROWS_AS(g.add_collective_ops("bad", "x", group({0, 1}), 1, {{}}), std::invalid_argument);
}

TEST_CASE("op graph: validate names the first problem", "[model][op_graph]") {
  OpGraph g;
  g.num_ranks = 2;
  Op op;
  op.deps = {0};
  g.add(op);
  CHECK_THROWS_WITH(validate(g), Catch::Contains("not an earlier op"));

  OpGraph h;
  h.num_ranks = 2;
  h.add_collective_ops("ar", "tp", group({0, 5}), 1);
  CHECK_THROWS_WITH(validate(h), Catch::Contains("does not exist"));

  OpGraph z;
  z.num_ranks = 2;
  z.add_collective_ops("ar", "tp", group({0, 1}, 0.0), 1);
  CHECK_THROWS_WITH(validate(z), Catch::Contains("zero-size"));

  OpGraph missing;
  missing.num_ranks = 2;
  missing.add_collective(group({0, 1}));
  Op member;
  member.kind = OpKind::Collective;
  member.collective = 0;
  missing.add(member);
  CHECK_THROWS_WITH(validate(missing), Catch::Contains("one op per member"));

  OpGraph v;
  v.num_ranks = 2;
  Collective a2a = group({0, 1});
  a2a.kind = CollectiveKind::AllToAllV;
  a2a.per_pair_elements = {1, 2, 3};
  v.add_collective_ops("a2a", "ep", a2a, 1);
  CHECK_THROWS_WITH(validate(v), Catch::Contains("needs 4 entries"));
}
