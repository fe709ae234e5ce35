#include <catch2/catch.hpp>

#include "engine/fabric_router.hpp"
#include "test_fixtures.hpp"

using namespace moesim;
using engine::FabricRouter;
using engine::Route;

namespace {
std::vector<std::string> names(const FabricRouter& router, const Route& route) {
  std::vector<std::string> out;
  for (int i = 0; i < route.count; ++i) out.push_back(router.links()[static_cast<std::size_t>(route.links[i])].name);
  return out;
}
}  // namespace

TEST_CASE("router: full mesh in node, clos across leaves with spine latency", "[engine][router]") {
  const auto topo = test::tiny_topology(4, 4, {test::mesh(50e9, 1e-6), test::clos(25e9, 5e-6, 2, 2.0, 3e-6)});
  const FabricRouter router(topo, 16, {}, {});
  Route r = router.route_or_throw(0, 1, 2);
  CHECK(names(router, r) == std::vector<std::string>{"hccs.r1>r2"});
  CHECK(r.latency_s == 1e-6);
  CHECK(router.links()[static_cast<std::size_t>(r.links[0])].bandwidth_bytes_per_s == 50e9);
  r = router.route_or_throw(0, 2, 1);
  CHECK(names(router, r) == std::vector<std::string>{"hccs.r2>r1"});
  r = router.route_or_throw(0, 13, 14);  // last node
  CHECK(names(router, r) == std::vector<std::string>{"hccs.r13>r14"});
  r = router.route_or_throw(0, 1, 5);  // nodes 0 and 1 share leaf 0
  CHECK(names(router, r) == std::vector<std::string>{"roce.nic.r1.up", "roce.nic.r5.down"});
  CHECK(r.latency_s == 5e-6);
  r = router.route_or_throw(0, 1, 9);  // leaf 0 -> leaf 1
  CHECK(names(router, r) ==
        std::vector<std::string>{"roce.nic.r1.up", "roce.leaf0.up", "roce.leaf1.down", "roce.nic.r9.down"});
  CHECK(r.latency_s == Approx(8e-6));
  // leaf uplink = nodes_per_leaf * ranks_per_node * NIC / oversubscription = 2 * 4 * 25e9 / 2
  CHECK(router.links()[static_cast<std::size_t>(r.links[1])].bandwidth_bytes_per_s == 100e9);
}

TEST_CASE("router: aggregated mesh ports keep the pair bandwidth as a per-flow cap", "[engine][router]") {
  const auto topo = test::tiny_topology(1, 8, {test::mesh(50e9, 1e-6)});
  engine::RouterOptions options;
  options.aggregated_node_ports = true;
  const FabricRouter router(topo, 8, {}, options);
  const Route r = router.route_or_throw(0, 3, 6);
  CHECK(names(router, r) == std::vector<std::string>{"hccs.port.r3.up", "hccs.port.r6.down"});
  CHECK(router.links()[static_cast<std::size_t>(r.links[0])].bandwidth_bytes_per_s == 7 * 50e9);
  CHECK(r.rate_bound_bytes_per_s == 50e9);
  CHECK(router.links().size() == 16);
}

TEST_CASE("router: pcie tree crosses the inter-domain link between CPU domains", "[engine][router]") {
  auto pcie = test::fabric("pcie", config::FabricKind::PcieTree, config::FabricScope::Node, 32e9, 2e-6);
  pcie.domains = 2;
  pcie.inter_domain_bandwidth_bytes_per_s = test::sv(20e9);
  pcie.inter_domain_latency_s = test::sv(3e-6);
  const auto topo = test::tiny_topology(2, 8, {pcie});
  const FabricRouter router(topo, 16, {}, {});
  Route r = router.route_or_throw(0, 1, 2);
  CHECK(names(router, r) == std::vector<std::string>{"pcie.r1.up", "pcie.r2.down"});
  r = router.route_or_throw(0, 9, 14);  // node 1: domains 2 (ranks 8-11) and 3 (12-15)
  CHECK(names(router, r) ==
        std::vector<std::string>{"pcie.r9.up", "pcie.domain2.up", "pcie.domain3.down", "pcie.r14.down"});
  CHECK(r.latency_s == Approx(5e-6));
  CHECK(router.links()[static_cast<std::size_t>(r.links[1])].bandwidth_bytes_per_s == 20e9);
  Route none;
  CHECK_FALSE(router.route(0, 1, 9, none));  // node-scoped fabric only: no route across nodes
  CHECK_THROWS_AS(router.route_or_throw(0, 1, 9), std::invalid_argument);
}

TEST_CASE("router: a forced fabric gets its own plane, and unknown names are rejected", "[engine][router]") {
  auto ub = test::fabric("ub", config::FabricKind::Switch, config::FabricScope::Cluster, 196e9, 1e-6);
  const auto topo = test::tiny_topology(2, 4, {ub, test::clos(25e9, 4e-6, 1, 1.0, 2e-6, "rdma")});
  const FabricRouter router(topo, 8, {"rdma"}, {});
  REQUIRE(router.num_planes() == 2);
  CHECK(router.plane_of("rdma") == 1);
  CHECK(names(router, router.route_or_throw(0, 0, 5)) == std::vector<std::string>{"ub.port.r0.up", "ub.port.r5.down"});
  const Route r = router.route_or_throw(1, 0, 5);
  CHECK(names(router, r) ==
        std::vector<std::string>{"rdma.nic.r0.up", "rdma.leaf0.up", "rdma.leaf1.down", "rdma.nic.r5.down"});
  CHECK(r.latency_s == Approx(6e-6));
  CHECK_THROWS_AS(FabricRouter(topo, 8, {"nvlink"}, {}), std::invalid_argument);
  CHECK_THROWS_AS(FabricRouter(topo, 9, {}, {}), std::invalid_argument);
}
