// Static inference steps on the engine (each simulation in a forked child): a host-bound step takes the step
// overhead plus one dispatch per device op; DuoStream chunks hide expert-block collectives behind expert compute.
#include <catch2/catch.hpp>

#include "../engine/test_fixtures.hpp"
#include "../model/inference_fixtures.hpp"
#include "model/inference_step_graph.hpp"

using namespace moesim;

namespace {

config::ScenarioConfig tiny_on_mesh(int tp, int dp, int batch, double link_bytes_per_s) {
  auto s = test::tiny_inference_scenario(tp, dp, batch);
  s.topology = test::tiny_topology(1, tp * dp, {test::mesh(link_bytes_per_s, 1e-6)});
  return s;
}

int device_ops_on_rank(const model::OpGraph& g, int rank) {
  int count = 0;
  for (const auto& op : g.ops) count += op.rank == rank && op.kind != model::OpKind::Delay ? 1 : 0;
  return count;
}

}  // namespace

TEST_CASE("a host-bound step lasts the step overhead plus one dispatch per device op, plus the last op") {
  auto s = tiny_on_mesh(2, 1, 4, 100e9);
  const double plain_s = test::simulate_in_child(s.topology, model::build_inference_step_graph(s)).at(0);
  config::HostRuntimeSpec host;
  host.op_dispatch_s = test::fixture_value(100e-6);  // far longer than any device op of the tiny model
  host.collective_dispatch_s = test::fixture_value(100e-6);
  host.step_overhead_s = test::fixture_value(1e-3);
  s.topology.host_runtime = host;
  const auto g = model::build_inference_step_graph(s);
  const int dispatches = device_ops_on_rank(g, 0);
  REQUIRE(dispatches == 2 * 18 + 4);  // 16 compute + 2 AllReduces per layer; embedding, norm, head, logits
  const double host_s = 1e-3 + dispatches * 100e-6;
  const double step_s = test::simulate_in_child(s.topology, g).at(0);
  INFO("plain " << plain_s << " s, host-bound " << step_s << " s");
  CHECK(plain_s < 0.2 * host_s);  // the device alone is much faster than the host
  CHECK(step_s >= host_s);
  CHECK(step_s <= host_s + 30e-6);  // only the last op (the logits AllGather) runs after the last dispatch
}

TEST_CASE("duo_stream chunks hide expert-block collectives on a slow link") {
  // 8 ranks, H2P (attention 2 x TP 4); wide experts (weights of ~50 us per rank) and a 1 GB/s fabric, so that the
  // global AllGather/ReduceScatter (~60 us each) are as long as the expert compute.
  auto s = tiny_on_mesh(4, 2, 64, 1e9);
  s.model->hidden = 2048;
  s.model->moe->expert_intermediate = 8192;
  model::InferenceStepPlan plan;
  plan.comm = model::InferenceComm::H2P;
  const double whole_s = test::simulate_in_child(s.topology, model::build_inference_step_graph(s, plan)).at(0);
  plan.duo_stream_chunks = 2;
  const double chunked_s = test::simulate_in_child(s.topology, model::build_inference_step_graph(s, plan)).at(0);
  INFO("whole " << whole_s << " s, 2 chunks " << chunked_s << " s");
  CHECK(chunked_s < whole_s);
}
