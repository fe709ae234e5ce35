#include <catch2/catch.hpp>

#include "config/topology_config.hpp"
#include "test_fixtures.hpp"

using namespace moesim;

// Integration with the real topology loader: an Atlas 800T A2 node (topologies/atlas_800t_a2.json: HCCS full mesh,
// 56 GB/s per pair, 1.2 us). A TP all-reduce on 8 ranks resolves to Direct: every pair carries 2S/8 at once on its
// own link, plus 2 latency steps.
TEST_CASE("sim: TP all-reduce on the Atlas 800T A2 topology file uses the HCCS mesh", "[engine][sim][topology]") {
  const auto topology = config::load_topology(std::string(MOESIM_SOURCE_DIR) + "/topologies/atlas_800t_a2.json");
  REQUIRE(topology.total_ranks() == 8);
  const auto* hccs = topology.fabric_between(0, 1);
  REQUIRE(hccs != nullptr);
  const double bw = hccs->link_bandwidth_bytes_per_s.value;
  const double lat = hccs->latency_s.value;
  model::OpGraph g;
  g.num_ranks = 8;
  const double s = 64e6;  // bytes (32 M bf16 elements)
  g.add_collective_ops(
      "tp_ar", "tp_comm",
      test::collective(model::CollectiveKind::AllReduce, model::CollectiveAlgorithm::Auto, test::range(0, 8), s / 2),
      1);
  const auto r = engine::simulate(topology, g);
  CHECK(r.makespan_s == Approx(2 * s / 8 / bw + 2 * lat).epsilon(1e-6));
  CHECK(r.links.size() == 56);  // every directed HCCS pair link carried 2S/8
  for (const auto& link : r.links) CHECK(link.bytes == Approx(2 * s / 8));
}
