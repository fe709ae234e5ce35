// Zero-bubble (ZB-H1) schedule: every F, B and W exactly once in a valid order, at most stage 0's 1F1B in-flight
// count on every stage, deadlock-free, and on a unit-time pipeline (F = B = W = 1) the bubble of the paper,
// (p-1)(T_F + T_B - T_W) per stage, i.e. (p-1)/(3m + p-1), against 1F1B's (p-1)/(m + p-1).
#include <catch2/catch.hpp>
#include <set>
#include <tuple>

#include "strategy/catalog.hpp"
#include "strategy/pipeline_1f1b.hpp"
#include "strategy/pipeline_interleaved_1f1b.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/pipeline_zero_bubble.hpp"
#include "unit_time_pipeline.hpp"

using namespace moesim;
using strategy::BackwardPart;
using strategy::PipelineTask;

namespace {

// 0 forward, 1 B, 2 W, 3 Whole backward
int kind_of(const PipelineTask& t) {
  if (t.forward) return 0;
  return t.part == BackwardPart::Input ? 1 : t.part == BackwardPart::Weight ? 2 : 3;
}

void check_split_complete(const strategy::PipelineSchedule& schedule, int pp, int vpp, int m) {
  for (int s = 0; s < pp; ++s) {
    const auto order = schedule.stage_order(s, pp, vpp, m);
    REQUIRE(order.size() == static_cast<std::size_t>(3 * m * vpp));
    std::set<std::tuple<int, int, int>> seen;
    for (const auto& t : order) {
      const int kind = kind_of(t);
      REQUIRE(kind != 3);
      CHECK(seen.insert({t.micro_batch, t.chunk, kind}).second);
      if (kind > 0) CHECK(seen.count({t.micro_batch, t.chunk, kind - 1}) == 1);  // F before B before W
    }
  }
}

// Unit times F = B = W = 1 (whole backward `whole`) per stage; idle fraction averaged over stages.
double unit_time_bubble(const strategy::PipelineSchedule& schedule, int pp, int vpp, int m, double whole = 2.0) {
  return test::run_unit_time(schedule, pp, vpp, m, {1.0, 1.0, 1.0, whole}).bubble();
}

}  // namespace

TEST_CASE("zero_bubble orders hold every F, B and W once, F before B before W, no whole backward") {
  const strategy::ZeroBubbleH1 schedule;
  check_split_complete(schedule, 4, 1, 8);
  check_split_complete(schedule, 4, 1, 2);  // fewer micro-batches than stages
  check_split_complete(schedule, 8, 1, 32);
  check_split_complete(schedule, 4, 2, 8);
  check_split_complete(schedule, 16, 2, 32);
}

TEST_CASE("zero_bubble keeps every stage at stage 0's 1F1B peak in-flight count (same peak memory)") {
  const strategy::ZeroBubbleH1 zb;
  for (int s = 0; s < 4; ++s) CHECK(strategy::peak_in_flight(zb.stage_order(s, 4, 1, 8), 1) == 4);
  const strategy::InterleavedOneFOneB interleaved;
  const int peak0 = strategy::peak_in_flight(interleaved.stage_order(0, 4, 2, 8), 2);
  REQUIRE(peak0 == 11);
  for (int s = 0; s < 4; ++s) CHECK(strategy::peak_in_flight(zb.stage_order(s, 4, 2, 8), 2) == peak0);
}

TEST_CASE("zero_bubble stage order by hand: pp 2, 3 micro-batches") {
  // stage 1 (last) defers 1 W: F0 B0 F1 B1 W0 F2 B2 W1 W2; stage 0 defers none: F0 F1 B0 W0 F2 B1 W1 B2 W2
  const auto last = strategy::ZeroBubbleH1().stage_order(1, 2, 1, 3);
  const std::vector<std::pair<int, int>> expect_last = {{0, 0}, {0, 1}, {1, 0}, {1, 1}, {0, 2},
                                                        {2, 0}, {2, 1}, {1, 2}, {2, 2}};
  REQUIRE(last.size() == expect_last.size());
  for (std::size_t i = 0; i < last.size(); ++i) {
    CHECK(last[i].micro_batch == expect_last[i].first);
    CHECK(kind_of(last[i]) == expect_last[i].second);
  }
  const auto first = strategy::ZeroBubbleH1().stage_order(0, 2, 1, 3);
  const std::vector<std::pair<int, int>> expect_first = {{0, 0}, {1, 0}, {0, 1}, {0, 2}, {2, 0},
                                                         {1, 1}, {1, 2}, {2, 1}, {2, 2}};
  for (std::size_t i = 0; i < first.size(); ++i) {
    CHECK(first[i].micro_batch == expect_first[i].first);
    CHECK(kind_of(first[i]) == expect_first[i].second);
  }
}

TEST_CASE("ZB-H1 bubble on a unit-time pipeline is (p-1)/(3m+p-1), a third of 1F1B's idle time") {
  for (auto [p, m] : {std::pair{4, 8}, std::pair{4, 16}, std::pair{8, 8}, std::pair{8, 32}}) {
    const double zb = unit_time_bubble(strategy::ZeroBubbleH1(), p, 1, m);
    const double plain = unit_time_bubble(strategy::OneFOneB(), p, 1, m);
    CHECK(zb == Approx(double(p - 1) / (3 * m + p - 1)).epsilon(1e-9));
    CHECK(plain == Approx(double(p - 1) / (m + p - 1)).epsilon(1e-9));
    CHECK(zb < plain);
  }
}

TEST_CASE("zero_bubble with vpp 2 (deferred W on the interleaved order) beats interleaved 1F1B") {
  for (auto [p, m] : {std::pair{4, 8}, std::pair{4, 16}, std::pair{16, 32}}) {
    const double zb = unit_time_bubble(strategy::ZeroBubbleH1(), p, 2, m);
    const double interleaved = unit_time_bubble(strategy::InterleavedOneFOneB(), p, 2, m);
    CHECK(zb < 0.75 * interleaved);
  }
  // pp 4, vpp 2, m 8: the W's fill every cool-down gap: (p-1)/(3 vpp m + p-1)
  CHECK(unit_time_bubble(strategy::ZeroBubbleH1(), 4, 2, 8) == Approx(3.0 / 51.0).epsilon(1e-9));
}

TEST_CASE("defer_weight_gradients: deferred 0 puts each W right after its B, the queue drains at the end") {
  const auto order = strategy::OneFOneB().stage_order(3, 4, 1, 4);  // F0 X0 F1 X1 F2 X2 F3 X3
  const auto now = strategy::defer_weight_gradients(order, 0);
  REQUIRE(now.size() == 12);
  CHECK(kind_of(now[1]) == 1);
  CHECK(kind_of(now[2]) == 2);
  CHECK(now[2].micro_batch == 0);
  const auto late = strategy::defer_weight_gradients(order, 10);  // more than there are: all W's at the end
  for (std::size_t i = 8; i < 12; ++i) CHECK(kind_of(late[i]) == 2);
  CHECK_THROWS(strategy::defer_weight_gradients(now, 0));  // already split
}

TEST_CASE("zero_bubble is selectable by name and listed in the catalog") {
  CHECK(strategy::make_pipeline_schedule("zero_bubble")->name() == "zero_bubble");
  config::ScenarioConfig s;
  s.parallel.pp = 4;
  s.strategies.push_back({"zero_bubble", nlohmann::json::object(), "/strategies/0"});
  CHECK(strategy::make_pipeline_schedule(s)->name() == "zero_bubble");
  bool listed = false;
  for (const auto& info : strategy::strategy_catalog())
    listed |= info.family == "pipeline_schedule" && info.name == "zero_bubble";
  CHECK(listed);
  CHECK_THROWS_WITH(strategy::ZeroBubbleH1().stage_order(4, 4, 1, 8), Catch::Contains("zero_bubble"));
  CHECK_THROWS_WITH(strategy::ZeroBubbleH1().stage_order(0, 4, 2, 6), Catch::Contains("multiple of pp"));
}

TEST_CASE("zero_bubble max_deferred_w caps the deferral: 0 keeps the base order's in-flight counts") {
  config::ScenarioConfig s;
  s.parallel.pp = 4;
  s.strategies.push_back({"zero_bubble", {{"max_deferred_w", 0}}, "/strategies/0"});
  const auto capped = strategy::make_pipeline_schedule(s);
  const strategy::OneFOneB plain;
  for (int st = 0; st < 4; ++st) {
    CHECK(strategy::peak_in_flight(capped->stage_order(st, 4, 1, 8), 1) ==
          strategy::peak_in_flight(plain.stage_order(st, 4, 1, 8), 1));
  }
  // still better than 1F1B: the input gradient leaves before W (unit times F = B = W = 1)
  CHECK(unit_time_bubble(*capped, 4, 1, 8) < unit_time_bubble(plain, 4, 1, 8));
  CHECK(unit_time_bubble(*capped, 4, 1, 8) > unit_time_bubble(strategy::ZeroBubbleH1(), 4, 1, 8));
  CHECK(strategy::peak_in_flight(strategy::ZeroBubbleH1(1).stage_order(3, 4, 1, 8), 1) == 2);  // 1 + 1 deferred
  s.file = "x.json";
  s.strategies[0].params = {{"max_deferred_w", -1}};
  config::IssueCollector issues("x.json");
  strategy::validate_strategies(s, issues);
  CHECK_THROWS_WITH(issues.throw_if_any(), Catch::Contains("/strategies/0/params/max_deferred_w"));
}
