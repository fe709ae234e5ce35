// ep_overlap against hand-computed intervals: EP time hidden under compute over the step, and restricted to a
// stage's steady (1F1B) phase window (first to last compute op of the rank among the phase's ops).
#include <catch2/catch.hpp>

#include "metrics/ep_overlap.hpp"

using namespace moesim;

namespace {

// One rank: compute / EP ops with the given [start, end] times, in id order.
struct Timeline {
  model::OpGraph graph;
  engine::SimulationResult result;
  void add(bool ep, double start, double end) {
    model::Op op;
    op.name = ep ? "dispatch" : "attn";
    op.kind = ep ? model::OpKind::Collective : model::OpKind::Compute;
    op.phase = ep ? "ep_comm" : "attention";
    graph.ops.push_back(op);
    result.ops.push_back({start, end});
  }
};

Timeline three_exchanges() {
  Timeline t;
  t.graph.num_ranks = 1;
  t.add(false, 0, 2);  // 0
  t.add(true, 1, 3);   // 1: covered on [1, 2]
  t.add(false, 3, 5);  // 2: first compute op of the steady phase
  t.add(true, 4, 6);   // 3: covered on [4, 5]
  t.add(false, 6, 7);  // 4: last compute op of the steady phase
  t.add(true, 7, 9);   // 5: not covered, after the window [3, 7]
  return t;
}

}  // namespace

TEST_CASE("EP hiding over the step and in the steady phase, on a hand-computed timeline") {
  const auto t = three_exchanges();
  const auto all = metrics::ep_overlap(t.graph, t.result);
  REQUIRE(all.ranks == 1);
  CHECK(all.ep_time_s == Approx(6.0));
  CHECK(all.exposed_s == Approx(4.0));
  CHECK(all.hidden_fraction == Approx(2.0 / 6.0));
  CHECK(all.steady_ranks == 0);  // no steady phase given
  CHECK(all.steady_share == 0.0);

  const strategy::SteadyPhase phase{0, {0}, 2, 5};  // ops 2..4: window [3, 7]
  const auto steady = metrics::ep_overlap(t.graph, t.result, {phase});
  CHECK(steady.hidden_fraction == Approx(2.0 / 6.0));  // unchanged
  REQUIRE(steady.steady_ranks == 1);
  CHECK(steady.steady_hidden_fraction == Approx(0.5));  // [4, 6] inside, [4, 5] covered
  CHECK(steady.steady_share == Approx(2.0 / 6.0));

  // a phase of another stage's ranks does not open a window on this rank
  const auto other = metrics::ep_overlap(t.graph, t.result, {strategy::SteadyPhase{1, {}, 0, 6}});
  CHECK(other.steady_ranks == 0);
}
