// Ring Attention on the engine (each simulation in a forked child): on a CP4 ring inside one node, block k of the
// attention core waits for the K/V shard that shift k brings and the shifts run one after the other beside the
// blocks; the CP algorithms give the same step FLOPs and different, measured CP communication.
#include <catch2/catch.hpp>

#include "step_sim.hpp"
#include "../model/training_fixtures.hpp"
#include "metrics/training_metrics.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

using namespace moesim;

namespace {

// Tiny dense model (4 layers), CP 4 on one node of 4 ranks, one 8192-token sequence per micro-batch (2048 per
// rank). A 2 GB/s mesh makes a K/V shard shift (2048 x 2 x 8 x 128 bf16 = 8 MiB) about as long as a block.
config::ScenarioConfig ring_scenario(const std::string& algorithm) {
  auto s = test::training_scenario(test::tiny_dense_model(4), test::layout(1, 1, 1, 1, 4), 8192, 1, 1);
  s.topology = test::tiny_topology(1, 4, {test::mesh(2e9, 2e-6)});
  s.strategies = {{algorithm, nlohmann::json::object(), "/strategies/0"}};
  return s;
}

test::SimulatedStep simulate_step(const config::ScenarioConfig& s) { return test::simulate_training_step(s); }

}  // namespace

TEST_CASE("ring_attention: block k starts when shift k has arrived and block k-1 is done, shifts run beside") {
  const auto run = simulate_step(ring_scenario("ring_attention"));
  const double eps = 1e-7;
  const auto b0 = run.times("L0.attn_core#b0");
  CHECK(b0.first == Approx(run.times("L0.attn_in").second).margin(eps));  // the local shard needs no shift
  for (int k = 1; k < 4; ++k) {
    const auto shift = run.times("L0.cp_ring#s" + std::to_string(k));
    const auto prev = run.times("L0.attn_core#b" + std::to_string(k - 1));
    const auto block = run.times("L0.attn_core#b" + std::to_string(k));
    CHECK(block.first == Approx(std::max(shift.second, prev.second)).margin(eps));
    CHECK(shift.first < prev.second);  // under way while the previous block computes
    if (k > 1) CHECK(shift.first >= run.times("L0.cp_ring#s" + std::to_string(k - 1)).second - eps);
  }
  // the output projection waits for the last block only (the shifts are done by then)
  CHECK(run.times("L0.o_proj").first == Approx(run.times("L0.attn_core#b3").second).margin(eps));
}

TEST_CASE("CP algorithms: same FLOPs, and on a slow full mesh the ring's one-link shifts cost more than an AllGather") {
  std::map<std::string, double> step, cp_time, flops;
  for (const char* name : {"kv_allgather", "ring_attention", "ulysses"}) {
    const auto s = ring_scenario(name);
    const auto run = simulate_step(s);
    const auto m = metrics::training_metrics(s, run.step.graph, run.result);
    step[name] = m["step_time_s"].get<double>();
    cp_time[name] = m["phase_time_s"]["cp_comm"].get<double>();
    for (const auto& op : run.step.graph.ops) flops[name] += op.kind == model::OpKind::Compute ? op.compute.flops : 0;
    CHECK(cp_time[name] > 0.0);
  }
  CHECK(flops["ring_attention"] == Approx(flops["kv_allgather"]).epsilon(1e-12));
  CHECK(flops["ulysses"] == Approx(flops["kv_allgather"]).epsilon(1e-12));
  // A full mesh gives each rank a link to every peer: the AllGather uses cp - 1 of them at once, a ring shift one,
  // so the ring's (cp - 1) shifts take ~(cp - 1) x as long and here (shift ~ block) cannot all hide
  CHECK(cp_time["ring_attention"] > 2.0 * cp_time["kv_allgather"]);
  CHECK(step["ring_attention"] > step["kv_allgather"]);
}

TEST_CASE("ring_attention on a fast link: the shifts hide under the blocks, the step is the AllGather's or less") {
  auto fast = [](const std::string& name) {
    auto s = ring_scenario(name);
    s.topology = test::tiny_topology(1, 4, {test::mesh(200e9, 2e-6)});
    return s;
  };
  const auto ring = simulate_step(fast("ring_attention"));
  const auto gather = simulate_step(fast("kv_allgather"));
  // exposed communication of the ring: at most a latency-bound sliver per shift
  CHECK(ring.result.makespan_s < 1.01 * gather.result.makespan_s);
}
