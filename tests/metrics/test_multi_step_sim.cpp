// Several consecutive steps on the engine: with overlap_param_gather each virtual stage's next-step forwards wait only
// for its own parameter AllGathers, so the second chunk's gather hides under the first chunk's forwards.
#include <catch2/catch.hpp>

#include "../model/training_fixtures.hpp"
#include "metrics/training_metrics.hpp"
#include "step_sim.hpp"

using namespace moesim;

namespace {

// Tiny dense model, PP2 x VPP2, DP2 across 2 nodes (the parameter AllGathers cross a 2 GB/s NIC), 4 micro-batches,
// two steps.
config::ScenarioConfig two_steps(bool overlap) {
  auto s = test::training_scenario(test::tiny_dense_model(), test::layout(1, 2, 2, 2), 1024, 1, 8);
  s.topology = test::tiny_topology(2, 2, {test::mesh(400e9, 1e-6), test::clos(2e9, 2e-6, 2, 1.0, 1e-6)});
  s.training->steps = 2;
  s.training->overlap_param_gather = overlap;
  return s;
}

}  // namespace

TEST_CASE("overlap_param_gather: the next step's chunk 1 forwards do not wait for chunk 1's parameters to start") {
  const auto plain_s = two_steps(false), overlap_s = two_steps(true);
  const auto plain = test::simulate_training_step(plain_s);
  const auto overlap = test::simulate_training_step(overlap_s);
  const auto mp = metrics::training_metrics(plain_s, plain.step.graph, plain.result, plain.step.step_first_op);
  const auto mo = metrics::training_metrics(overlap_s, overlap.step.graph, overlap.result, overlap.step.step_first_op);
  REQUIRE(mp["step_times_s"].size() == 2);
  // the first steps are the same; the second is shorter with the overlap, by no more than the gathers took
  CHECK(mo["step_times_s"][0].get<double>() == Approx(mp["step_times_s"][0].get<double>()).epsilon(1e-9));
  CHECK(mo["step_times_s"][1].get<double>() < mp["step_times_s"][1].get<double>());
  // on rank 0, the second step's first forward op starts before its last parameter AllGather ends
  const auto& g = overlap.step.graph;
  const std::size_t second = overlap.step.step_first_op.at(1);
  double first_compute = -1.0, last_gather_end = 0.0;
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    const auto& op = g.ops[i];
    if (op.rank != 0) continue;
    if (op.name == "param_ag" && i < second) last_gather_end = std::max(last_gather_end, overlap.result.ops[i].end_s);
    if (i >= second && op.kind == model::OpKind::Compute && first_compute < 0) first_compute = overlap.result.ops[i].start_s;
  }
  REQUIRE(first_compute > 0.0);
  CHECK(first_compute < last_gather_end);
}
