// Microbenchmark graphs: one op per member per iteration, chained; bus-bandwidth factors.
#include <catch2/catch.hpp>

#include "model/microbenchmark_graph.hpp"

using namespace moesim;

TEST_CASE("a microbenchmark graph has one collective op per member per iteration") {
  config::MicrobenchmarkWorkload w;
  w.operation = "all_gather";
  w.size_bytes = 1 << 20;
  w.ranks = {0, 1, 2, 3};
  w.group_size = 4;
  w.iterations = 3;
  w.dtype = config::Dtype::INT8;
  const auto graph = model::build_microbenchmark_graph(w, 8, 1);
  CHECK(graph.num_ranks == 8);
  CHECK(graph.ops.size() == 12);
  CHECK(graph.collectives.size() == 3);
  CHECK(graph.collectives[0].elements == Approx(1 << 20));  // int8: one byte per element
  CHECK(graph.collectives[0].bytes() == Approx(1 << 20));
  CHECK(graph.ops[4].deps == std::vector<model::OpId>{0});  // iteration 1 of rank 0 waits for iteration 0
  model::validate(graph);
}

TEST_CASE("alltoallv pairs are skewed, seeded and deterministic") {
  config::MicrobenchmarkWorkload w;
  w.operation = "all_to_all_v";
  w.size_bytes = 8e6;
  w.ranks = {0, 1, 2, 3, 4, 5, 6, 7};
  const auto a = model::build_microbenchmark_graph(w, 8, 7);
  const auto b = model::build_microbenchmark_graph(w, 8, 7);
  const auto c = model::build_microbenchmark_graph(w, 8, 8);
  const auto& m = a.collectives[0].per_pair_elements;
  REQUIRE(m.size() == 64);
  CHECK(m == b.collectives[0].per_pair_elements);
  CHECK(m != c.collectives[0].per_pair_elements);
  CHECK(m[0] == 0.0);
  const double mean_pair = 8e6 / 2 / 8;  // bf16 elements per rank / ranks
  for (int i = 1; i < 8; ++i) {
    CHECK(m[static_cast<std::size_t>(i)] >= 0.5 * mean_pair);
    CHECK(m[static_cast<std::size_t>(i)] <= 1.5 * mean_pair);
  }
}

TEST_CASE("bus bandwidth factors follow nccl-tests") {
  CHECK(model::bus_bandwidth_factor(model::CollectiveKind::AllReduce, 8) == Approx(1.75));
  CHECK(model::bus_bandwidth_factor(model::CollectiveKind::AllGather, 8) == Approx(0.875));
  CHECK(model::bus_bandwidth_factor(model::CollectiveKind::AllToAll, 64) == Approx(63.0 / 64));
  CHECK(model::bus_bandwidth_factor(model::CollectiveKind::Broadcast, 8) == Approx(1.0));
}
