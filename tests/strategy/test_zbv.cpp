// ZB-V: every F, B and W of both chunks once and in order (also with fewer micro-batches than the V needs), the
// order of PyTorch's ScheduleZBVZeroBubble by hand on a small pipeline, 2 pp chunk-micro-batches in flight on every
// stage (1F1B's stage 0), and on a unit-time pipeline the bubble of the paper's ZB-V.
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <tuple>

#include "pipeline_order_text.hpp"
#include "strategy/pipeline_dualpipev.hpp"
#include "strategy/pipeline_interleaved_1f1b.hpp"
#include "strategy/pipeline_zbv.hpp"
#include "strategy/pipeline_zero_bubble.hpp"
#include "unit_time_pipeline.hpp"

using namespace moesim;
using strategy::BackwardPart;
using strategy::PipelineTask;

TEST_CASE("zbv holds every F, B and W of both chunks once, F before B before W, no whole backward") {
  const strategy::ZeroBubbleV schedule;
  for (auto [pp, m] : {std::pair{2, 1}, std::pair{2, 3}, std::pair{4, 3}, std::pair{4, 8}, std::pair{4, 11},
                       std::pair{8, 16}, std::pair{16, 32}}) {
    for (int s = 0; s < pp; ++s) {
      INFO("pp " << pp << " m " << m << " stage " << s);
      const auto order = schedule.stage_order(s, pp, 2, m);
      std::set<std::tuple<int, int, int>> seen;  // (micro-batch, chunk, 0 F / 1 B / 2 W)
      for (const auto& t : order) {
        CHECK(t.pairing == strategy::Pairing::ByStrategy);
        CHECK((t.forward || t.part != BackwardPart::Whole));
        CHECK(t.micro_batch < m);
        const int kind = t.forward ? 0 : t.part == BackwardPart::Input ? 1 : 2;
        CHECK(seen.insert({t.micro_batch, t.chunk, kind}).second);
        if (kind > 0) CHECK(seen.count({t.micro_batch, t.chunk, kind - 1}) == 1);
      }
      CHECK(seen.size() == static_cast<std::size_t>(2 * 3 * m));
    }
  }
}

TEST_CASE("zbv orders of ScheduleZBVZeroBubble by hand, pp 2 and 3 micro-batches") {
  const strategy::ZeroBubbleV schedule;
  // stage 0: 3 F0; 2 x (F1 B1 W1); steady B0 W0 F1 B1 W1 (no F0 left); cool-down 2 x (B0 W0)
  CHECK(test::order_text(schedule.stage_order(0, 2, 2, 3)) == "f0 f0 f0 f1 B1 w1 f1 B1 w1 B0 w0 f1 B1 w1 B0 w0 B0 w0");
  // stage 1: F0; (F1 F0); (F1 B1 W1); steady F0 B0 W0 F1 B1 W1; cool-down (B0 B1), (B0 W0), then W1, W0
  CHECK(test::order_text(schedule.stage_order(1, 2, 2, 3)) == "f0 f1 f0 f1 B1 w1 f0 B0 w0 f1 B1 w1 B0 B1 B0 w0 w1 w0");
}

TEST_CASE("zbv holds 2 pp chunk-micro-batches on every stage: 1F1B's stage-0 peak, below DualPipeV's 2 pp + 1") {
  const strategy::ZeroBubbleV schedule;
  for (int pp : {2, 4, 8}) {
    for (int s = 0; s < pp; ++s) CHECK(strategy::peak_in_flight(schedule.stage_order(s, pp, 2, 3 * pp), 2) == 2 * pp);
  }
  CHECK(strategy::peak_in_flight(strategy::DualPipeV().stage_order(0, 8, 2, 24), 2) == 17);
}

TEST_CASE("zbv unit-time idle is (pp - 1) chunk forwards per stage, the least a pipeline of equal stages allows") {
  // F = B = W = 1 per stage, 1/2 per chunk. The last stage cannot start before the first micro-batch's chunk-0
  // forward has crossed pp - 1 stages, and every stage has the same work (3 m), so no schedule idles less than
  // (pp - 1) / 2 per stage; zbv idles exactly that on every stage.
  const strategy::ZeroBubbleV schedule;
  for (auto [pp, m] :
       {std::pair{2, 4}, std::pair{4, 8}, std::pair{4, 12}, std::pair{8, 16}, std::pair{8, 24}, std::pair{16, 32}}) {
    INFO("pp " << pp << " m " << m);
    const auto run = test::run_unit_time(schedule, pp, 2, m);
    CHECK(run.busy[0] == Approx(3.0 * m));
    for (int s = 0; s < pp; ++s) CHECK(run.idle(s) == Approx(0.5 * (pp - 1)).epsilon(1e-9));
    // ZB-H1 on the interleaved order: never less idle, at 3 pp - 1 in flight; DualPipeV (no F&B overlap here): more
    CHECK(run.bubble() <= test::run_unit_time(strategy::ZeroBubbleH1(), pp, 2, m).bubble() + 1e-12);
    CHECK(run.bubble() < test::run_unit_time(strategy::DualPipeV(), pp, 2, m).bubble());
  }
  // pp 8, m 16: 0.068 against ZB-H1's 0.086 at vpp 2
  CHECK(test::run_unit_time(schedule, 8, 2, 16).bubble() == Approx(3.5 / 51.5));
}

TEST_CASE("zbv refuses vpp other than 2, places its chunks in a V and is selectable by name") {
  const strategy::ZeroBubbleV schedule;
  CHECK_THROWS_WITH(schedule.stage_order(0, 4, 1, 8), Catch::Contains("vpp = 2"));
  CHECK(schedule.placement() == model::ChunkPlacement::VShape);
  CHECK(strategy::make_pipeline_schedule("zbv")->name() == "zbv");
}
