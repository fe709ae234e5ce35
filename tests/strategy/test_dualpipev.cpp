// DualPipeV: every F, B and W of both chunks once and in order, the orders of dualpipev.py by hand on a small
// pipeline, deadlock-free on the V-shaped placement, and on a unit-time pipeline (F = B = W = 1 per stage) a bubble
// of (pp - 1)(F&B + B - 3W) per stage, DualPipe's figure (DeepSeek-AI DualPipe README) for its 2 pp half-stages,
// whatever the micro-batch count; 2 pp + 1 chunk-micro-batches in flight on every stage.
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <tuple>

#include "pipeline_order_text.hpp"
#include "strategy/pipeline_dualpipev.hpp"
#include "strategy/pipeline_interleaved_1f1b.hpp"
#include "strategy/pipeline_zero_bubble.hpp"
#include "unit_time_pipeline.hpp"

using namespace moesim;
using strategy::BackwardPart;
using strategy::Pairing;
using strategy::PipelineTask;

TEST_CASE("dualpipev holds every forward and backward of both chunks once, in order") {
  const strategy::DualPipeV schedule;
  for (auto [pp, m] : {std::pair{2, 4}, std::pair{4, 8}, std::pair{4, 11}, std::pair{8, 16}, std::pair{16, 32}}) {
    for (int s = 0; s < pp; ++s) {
      INFO("pp " << pp << " m " << m << " stage " << s);
      const auto order = schedule.stage_order(s, pp, 2, m);
      std::set<std::tuple<int, int, int>> seen;  // (micro-batch, chunk, 0 F / 1 input gradient / 2 W)
      int weights = 0, splits = 0;
      for (std::size_t i = 0; i < order.size(); ++i) {
        const auto& t = order[i];
        CHECK(t.pairing != Pairing::ByStrategy);
        if (t.pairing == Pairing::WithNext) {  // an overlapped chunk: a forward, then a whole backward
          REQUIRE(i + 1 < order.size());
          CHECK((t.forward && !order[i + 1].forward && order[i + 1].part == BackwardPart::Whole));
        }
        const int kind = t.forward ? 0 : t.part == BackwardPart::Weight ? 2 : 1;
        CHECK(seen.insert({t.micro_batch, t.chunk, kind}).second);
        if (kind > 0) CHECK(seen.count({t.micro_batch, t.chunk, kind - 1}) == 1);
        weights += kind == 2;
        splits += !t.forward && t.part == BackwardPart::Input;
      }
      CHECK(seen.size() == static_cast<std::size_t>(2 * 2 * m + weights));
      CHECK(weights == splits);
    }
  }
}

TEST_CASE("dualpipev orders of dualpipev.py, pp 2 and 4 micro-batches") {
  const strategy::DualPipeV schedule;
  // stage 0: 2 F0, (F0 F1), (B1 W F1), (F0&B1, F1&B0), (B1, F1&B0), (B1, B0 split), (W, B0 split), W
  CHECK(test::order_text(schedule.stage_order(0, 2, 2, 4)) ==
        "f0 f0 f0 f1 B1 w1 f1 f0* b1 f1* b0 b1 f1* b0 b1 B0 w0 B0 w0");
  // last stage: 2 x (F0 F1), its first F0 B1 not overlapped, F1&B0, F0&B1, F1&B0, (B1, B0) x 2 with the second
  // pair split, W, W
  CHECK(test::order_text(schedule.stage_order(1, 2, 2, 4)) ==
        "f0 f1 f0 f1 f0 b1 f1* b0 f0* b1 f1* b0 b1 b0 B1 B0 w1 w0");
  CHECK(schedule.stage_order(1, 2, 2, 4)[8].micro_batch == 3);  // the fourth chunk-0 forward
}

TEST_CASE("dualpipev: unit-time bubble (pp - 1)(F&B + B - 3W) per stage, below interleaved 1F1B") {
  const strategy::DualPipeV schedule;
  for (auto [pp, m] :
       {std::pair{2, 4}, std::pair{4, 8}, std::pair{4, 10}, std::pair{8, 16}, std::pair{8, 20}, std::pair{16, 32}}) {
    INFO("pp " << pp << " m " << m);
    const auto run = test::run_unit_time(schedule, pp, 2, m, {1.0, 1.0, 1.0, 2.0});
    // chunk times: F = B = W = 1/2, a whole backward 1, an overlapped chunk F&B = 3/2 (no overlap in this model)
    const double expected = (pp - 1) * (1.5 + 1.0 - 3 * 0.5);
    for (int s = 0; s < pp; ++s) CHECK(run.idle(s) == Approx(expected).epsilon(1e-9));
    CHECK(run.busy[0] == Approx(3.0 * m));
    if (m % pp == 0) CHECK(run.bubble() < test::run_unit_time(strategy::InterleavedOneFOneB(), pp, 2, m).bubble());
  }
}

TEST_CASE("dualpipev holds 2 pp + 1 chunk-micro-batches on every stage (interleaved 1F1B and ZB-H1: 3 pp - 1)") {
  // ZB-H1 on the interleaved order (our generalisation) has the smaller unit-time bubble, at stage 0's interleaved
  // peak on every stage: 23 against 17 here
  const strategy::DualPipeV schedule;
  for (int s = 0; s < 8; ++s) CHECK(strategy::peak_in_flight(schedule.stage_order(s, 8, 2, 24), 2) == 17);
  CHECK(strategy::peak_in_flight(strategy::InterleavedOneFOneB().stage_order(0, 8, 2, 24), 2) == 23);
  CHECK(strategy::peak_in_flight(strategy::ZeroBubbleH1().stage_order(7, 8, 2, 24), 2) == 23);
}

TEST_CASE("dualpipev refuses vpp other than 2 and fewer than 2 pp micro-batches, and places its chunks in a V") {
  const strategy::DualPipeV schedule;
  CHECK_THROWS_WITH(schedule.stage_order(0, 4, 1, 8), Catch::Contains("vpp = 2"));
  CHECK_THROWS_WITH(schedule.stage_order(0, 4, 2, 7), Catch::Contains("at least 2 x pp = 8"));
  CHECK(schedule.placement() == model::ChunkPlacement::VShape);
  CHECK(strategy::make_pipeline_schedule("dualpipev")->name() == "dualpipev");
}
