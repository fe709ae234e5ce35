#include <catch2/catch.hpp>
#include <map>

#include "engine/collective_plan.hpp"
#include "test_fixtures.hpp"

using namespace moesim;
using model::CollectiveAlgorithm;
using model::CollectiveKind;

namespace {
struct Fixture {
  config::TopologyConfig topo =
      test::tiny_topology(2, 8, {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, 1, 1.0, 2e-6)});
  engine::FabricRouter router{topo, 16, {}, {}};
  engine::PlanContext ctx{router, 0, 8, topo};
};
double total_bytes(const engine::CollectivePlan& plan) {
  double sum = 0.0;
  for (const auto& phase : plan.phases) {
    for (const auto& f : phase.flows) sum += f.bytes;
  }
  return sum;
}
}  // namespace

TEST_CASE("plan: ring all-reduce is one fat flow per neighbour with 2(p-1) latency steps", "[engine][plan]") {
  Fixture fx;
  const auto c = test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, test::range(0, 8), 1e6);
  const auto plan = engine::plan_collective(c, fx.ctx);
  REQUIRE(plan.phases.size() == 1);
  CHECK(plan.phases[0].flows.size() == 8);
  CHECK(plan.phases[0].latency_steps == 14.0);
  CHECK(plan.phases[0].alpha_s == 1e-6);
  for (const auto& f : plan.phases[0].flows) {
    CHECK(f.dst == (f.src + 1) % 8);
    CHECK(f.bytes == Approx(2.0 * 7.0 / 8.0 * 2e6));
  }
}

TEST_CASE("plan: auto picks hierarchical across nodes, direct on a mesh, ring on clos", "[engine][plan]") {
  Fixture fx;
  auto c = test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Auto, test::range(0, 16), 1e6);
  CHECK(engine::resolve_algorithm(c, fx.ctx) == CollectiveAlgorithm::Hierarchical);
  c.ranks = test::range(0, 8);
  CHECK(engine::resolve_algorithm(c, fx.ctx) == CollectiveAlgorithm::Direct);
  c.ranks = {0, 8};  // one rank per node: flat over the clos
  CHECK(engine::resolve_algorithm(c, fx.ctx) == CollectiveAlgorithm::Ring);
  c.ranks = {0, 1, 2, 8};  // uneven nodes: hierarchical does not fit
  c.algorithm = CollectiveAlgorithm::Hierarchical;
  CHECK(engine::resolve_algorithm(c, fx.ctx) == CollectiveAlgorithm::Ring);
  c.ranks = test::range(0, 6);
  c.algorithm = CollectiveAlgorithm::HalvingDoubling;  // not a power of 2
  CHECK(engine::resolve_algorithm(c, fx.ctx) == CollectiveAlgorithm::Ring);
  c.kind = CollectiveKind::AllToAll;
  c.algorithm = CollectiveAlgorithm::Auto;
  CHECK(engine::resolve_algorithm(c, fx.ctx) == CollectiveAlgorithm::Direct);
}

TEST_CASE("plan: hierarchical all-reduce is RS in node, ring AR across, AG in node", "[engine][plan]") {
  Fixture fx;
  const auto c =
      test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Hierarchical, test::range(0, 16), 8e6);
  const auto plan = engine::plan_collective(c, fx.ctx);
  REQUIRE(plan.phases.size() == 3);
  const double s = 16e6;
  CHECK(plan.phases[0].flows.size() == 2 * 56);
  CHECK(plan.phases[0].flows[0].bytes == Approx(s / 8));
  CHECK(plan.phases[0].alpha_s == 1e-6);
  CHECK(plan.phases[1].flows.size() == 16);  // 8 columns x 2 directions
  CHECK(plan.phases[1].flows[0].bytes == Approx(s / 8));
  CHECK(plan.phases[1].latency_steps == 2.0);
  CHECK(plan.phases[1].alpha_s == Approx(7e-6));
  CHECK(plan.phases[2].flows.size() == 2 * 56);
}

TEST_CASE("plan: halving-doubling has log2(p) steps each way", "[engine][plan]") {
  Fixture fx;
  const auto c =
      test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::HalvingDoubling, test::range(0, 8), 8e6);
  const auto plan = engine::plan_collective(c, fx.ctx);
  REQUIRE(plan.phases.size() == 6);
  CHECK(plan.phases[0].flows[0].bytes == Approx(16e6 / 2));
  CHECK(plan.phases[2].flows[0].bytes == Approx(16e6 / 8));
  CHECK(plan.phases[3].flows[0].bytes == Approx(16e6 / 8));
  CHECK(plan.phases[5].flows[0].bytes == Approx(16e6 / 2));
  CHECK(total_bytes(plan) / 8 == Approx(2.0 * 7.0 / 8.0 * 16e6));  // per-rank volume equals the ring's
}

TEST_CASE("plan: hierarchical all-to-all-v sends each cross-node byte once over the network", "[engine][plan]") {
  Fixture fx;
  auto c = test::collective(CollectiveKind::AllToAllV, CollectiveAlgorithm::Hierarchical, test::range(0, 16), 0.0);
  c.per_pair_elements.assign(256, 0.0);
  double cross = 0.0;
  for (int i = 0; i < 16; ++i) {
    for (int j = 0; j < 16; ++j) {
      const double e = (i == j) ? 0.0 : 1000.0 * (1 + (i * 7 + j * 3) % 5);
      c.per_pair_elements[static_cast<std::size_t>(i * 16 + j)] = e;
      if (i / 8 != j / 8) cross += e * 2.0;
    }
  }
  const auto plan = engine::plan_collective(c, fx.ctx);
  REQUIRE(plan.phases.size() == 2);
  double inter = 0.0;
  for (const auto& f : plan.phases[1].flows) {
    CHECK(f.src / 8 != f.dst / 8);
    CHECK(f.src % 8 == f.dst % 8);
    inter += f.bytes;
  }
  CHECK(inter == Approx(cross));
  for (const auto& f : plan.phases[0].flows) CHECK(f.src / 8 == f.dst / 8);
}

TEST_CASE("plan: ring all-to-all-v loads each hop with the pairs that cross it", "[engine][plan]") {
  Fixture fx;
  auto c = test::collective(CollectiveKind::AllToAllV, CollectiveAlgorithm::Ring, {0, 1, 2}, 0.0, config::Dtype::INT8);
  c.per_pair_elements = {0, 10, 20, 30, 0, 40, 50, 60, 0};
  const auto plan = engine::plan_collective(c, fx.ctx);
  REQUIRE(plan.phases.size() == 1);
  std::map<int, double> hop;
  for (const auto& f : plan.phases[0].flows) hop[f.src] = f.bytes;
  // hop 0->1 carries 0->1, 0->2 and 2->1 (which goes 2->0->1); and so on around the ring
  CHECK(hop[0] == Approx(10 + 20 + 60));
  CHECK(hop[1] == Approx(40 + 20 + 30));
  CHECK(hop[2] == Approx(50 + 30 + 60));
}
