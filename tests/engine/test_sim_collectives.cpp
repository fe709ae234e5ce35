#include <catch2/catch.hpp>

#include "test_fixtures.hpp"

using namespace moesim;
using model::CollectiveAlgorithm;
using model::CollectiveKind;

namespace {
constexpr double kBw = 100e9;  // switch port, bytes/s
constexpr double kLat = 2e-6;  // one-way latency
constexpr double kS = 800e6;   // collective size, bytes (400 M bf16 elements)

double run_one(const model::Collective& c, int ranks) {
  const auto topo = test::tiny_topology(1, ranks, {test::node_switch(kBw, kLat)});
  model::OpGraph g;
  g.num_ranks = ranks;
  g.add_collective_ops("c", "tp_comm", c, 1);
  return engine::simulate(topo, g).makespan_s;
}
}  // namespace

TEST_CASE("sim: ring all-reduce = 2(p-1)/p S/B + 2(p-1) latency", "[engine][sim][collective]") {
  const double p = 8;
  const double t =
      run_one(test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Ring, test::range(0, 8), kS / 2), 8);
  CHECK(t == Approx(2 * (p - 1) / p * kS / kBw + 2 * (p - 1) * kLat).epsilon(0.02));
  CHECK(t == Approx(2 * (p - 1) / p * kS / kBw + 2 * (p - 1) * kLat).epsilon(1e-6));
}

TEST_CASE("sim: ring all-gather = (p-1)/p S/B + (p-1) latency", "[engine][sim][collective]") {
  const double p = 8;
  const double t =
      run_one(test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Ring, test::range(0, 8), kS / 2), 8);
  CHECK(t == Approx((p - 1) / p * kS / kBw + (p - 1) * kLat).epsilon(1e-6));
}

TEST_CASE("sim: ring reduce-scatter = (p-1)/p S/B + (p-1) latency", "[engine][sim][collective]") {
  const double p = 4;
  const double t =
      run_one(test::collective(CollectiveKind::ReduceScatter, CollectiveAlgorithm::Ring, test::range(0, 4), kS / 2), 4);
  CHECK(t == Approx((p - 1) / p * kS / kBw + (p - 1) * kLat).epsilon(1e-6));
}

TEST_CASE("sim: two flows into one port each get half its bandwidth, whatever their latency",
          "[engine][sim][collective]") {
  // Ranks 0 (same leaf) and 8 (other leaf, +spine latency) both send to rank 1's NIC.
  const auto topo = test::tiny_topology(4, 4, {test::clos(kBw, kLat, 2, 1.0, 20e-6)});
  model::OpGraph g;
  g.num_ranks = 16;
  g.add_collective_ops("a", "pp_comm",
                       test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {0, 1}, kS / 2), 1);
  g.add_collective_ops("b", "pp_comm",
                       test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {8, 1}, kS / 2), 2);
  const auto r = engine::simulate(topo, g);
  CHECK(r.ops[0].end_s == Approx(kS / (kBw / 2) + kLat).epsilon(1e-6));
  CHECK(r.ops[2].end_s == Approx(kS / (kBw / 2) + kLat + 20e-6).epsilon(1e-6));
}

TEST_CASE("sim: hierarchical all-reduce on 2 nodes x 8 ranks (full mesh + clos) matches its derivation",
          "[engine][sim][collective]") {
  // Phase 1 RS in node (direct): S/8 per pair link -> S/8/Bm + lat_m. Phase 2 ring AR over 2 nodes per local
  // rank: S/8 each way through the NICs -> S/8/Bc + 2 (lat_c + spine). Phase 3 AG in node: S/8/Bm + lat_m.
  const double bm = 50e9, lm = 1e-6, bc = 25e9, lc = 5e-6, spine = 2e-6;
  const auto topo = test::tiny_topology(2, 8, {test::mesh(bm, lm), test::clos(bc, lc, 1, 1.0, spine)});
  model::OpGraph g;
  g.num_ranks = 16;
  g.add_collective_ops(
      "ar", "dp_comm",
      test::collective(CollectiveKind::AllReduce, CollectiveAlgorithm::Auto, test::range(0, 16), kS / 2), 1);
  const auto r = engine::simulate(topo, g);
  const double expected = 2 * (kS / 8) / bm + (kS / 8) / bc + 2 * lm + 2 * (lc + spine);
  CHECK(r.makespan_s == Approx(expected).epsilon(0.02));
  CHECK(r.makespan_s == Approx(expected).epsilon(1e-6));
}

TEST_CASE("sim: skewed all-to-all-v ends when its most loaded link does", "[engine][sim][collective]") {
  const auto topo = test::tiny_topology(1, 4, {test::node_switch(kBw, kLat)});
  auto c = test::collective(CollectiveKind::AllToAllV, CollectiveAlgorithm::Direct, test::range(0, 4), 0.0,
                            config::Dtype::INT8);
  c.per_pair_elements.assign(16, 1e6);
  for (int i = 0; i < 4; ++i) c.per_pair_elements[static_cast<std::size_t>(i * 5)] = 0.0;
  c.per_pair_elements[0 * 4 + 3] = 100e6;  // rank 0 -> rank 3 carries 100 MB
  model::OpGraph g;
  g.num_ranks = 4;
  g.add_collective_ops("a2a", "ep_comm", c, 1);
  const auto r = engine::simulate(topo, g);
  CHECK(r.makespan_s == Approx(102e6 / kBw + kLat).epsilon(1e-6));
  bool found = false;
  for (const auto& link : r.links) {
    if (link.name == "sw.port.r0.up") {
      found = true;
      CHECK(link.bytes == Approx(102e6));
      CHECK(link.bandwidth_bytes_per_s == kBw);
    }
  }
  CHECK(found);
}

TEST_CASE("sim: a forced fabric routes over its own links", "[engine][sim][collective]") {
  auto ub = test::fabric("ub", config::FabricKind::Switch, config::FabricScope::Cluster, 200e9, 1e-6);
  const auto topo = test::tiny_topology(2, 4, {ub, test::clos(25e9, 4e-6, 1, 1.0, 2e-6, "rdma")});
  model::OpGraph g;
  g.num_ranks = 8;
  const auto first = g.add_collective_ops(
      "kv", "kv", test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {0, 5}, kS / 2), 1);
  auto forced = test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {0, 5}, kS / 2);
  forced.fabric = "rdma";
  g.add_collective_ops("kv_rdma", "kv", forced, 1, {{first[0]}, {first[1]}});
  const auto r = engine::simulate(topo, g);
  const double t_ub = kS / 200e9 + 1e-6;
  CHECK(r.ops[1].end_s == Approx(t_ub).epsilon(1e-6));
  CHECK(r.ops[3].end_s - r.ops[3].start_s == Approx(kS / 25e9 + 6e-6).epsilon(1e-6));
}

TEST_CASE("sim: overlap on separate streams takes the max, on one stream the sum", "[engine][sim][collective]") {
  const auto topo = test::tiny_topology(1, 2, {test::node_switch(kBw, kLat)});
  const double t_comm = kS / kBw + kLat;      // 8 ms
  const double t_comp = 4e12 / 80e12 + 2e-6;  // 50 ms
  for (const int comm_stream : {1, 0}) {
    model::OpGraph g;
    g.num_ranks = 2;
    g.add(test::compute_op(0, 0, 4e12, 0));
    g.add_collective_ops("send", "pp_comm",
                         test::collective(CollectiveKind::SendRecv, CollectiveAlgorithm::Auto, {0, 1}, kS / 2),
                         comm_stream);
    const auto t = test::simulate_in_child(topo, g);
    if (comm_stream == 1) CHECK(t[0] == Approx(std::max(t_comm, t_comp)).epsilon(1e-6));
    if (comm_stream == 0) CHECK(t[0] == Approx(t_comm + t_comp).epsilon(1e-6));
  }
}

TEST_CASE("sim: an int8 payload halves a bandwidth-bound collective vs fp16", "[engine][sim][collective]") {
  const auto topo = test::tiny_topology(1, 8, {test::node_switch(kBw, kLat)});
  std::vector<double> t;
  for (const auto dtype : {config::Dtype::FP16, config::Dtype::INT8}) {
    model::OpGraph g;
    g.num_ranks = 8;
    g.add_collective_ops(
        "ag", "tp_comm",
        test::collective(CollectiveKind::AllGather, CollectiveAlgorithm::Ring, test::range(0, 8), 400e6, dtype), 1);
    t.push_back(test::simulate_in_child(topo, g)[0]);
  }
  CHECK(t[0] == Approx(7.0 / 8.0 * 800e6 / kBw + 7 * kLat).epsilon(1e-6));
  CHECK(t[1] == Approx(7.0 / 8.0 * 400e6 / kBw + 7 * kLat).epsilon(1e-6));
  CHECK(t[1] / t[0] == Approx(0.5).epsilon(0.01));
}
