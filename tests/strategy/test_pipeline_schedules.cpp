// Pipeline schedules: completeness, in-flight counts, and bubbles on a unit-time list simulation (forward 1,
// backward 2, no communication): 1F1B reaches the (p-1)/(m+p-1) bubble exactly, interleaved is smaller.
#include <catch2/catch.hpp>
#include <set>
#include <tuple>

#include "strategy/catalog.hpp"
#include "strategy/pipeline_1f1b.hpp"
#include "strategy/pipeline_interleaved_1f1b.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "unit_time_pipeline.hpp"

using namespace moesim;
using strategy::PipelineTask;

namespace {

void check_complete(const strategy::PipelineSchedule& schedule, int pp, int vpp, int m) {
  for (int s = 0; s < pp; ++s) {
    const auto order = schedule.stage_order(s, pp, vpp, m);
    REQUIRE(order.size() == static_cast<std::size_t>(2 * m * vpp));
    std::set<std::tuple<int, int, bool>> seen;
    for (const auto& t : order) {
      CHECK(seen.insert({t.micro_batch, t.chunk, t.forward}).second);
      if (!t.forward) CHECK(seen.count({t.micro_batch, t.chunk, true}) == 1);  // backward after its forward
    }
  }
}

// forward = 1, backward = 2 time units per stage (a chunk's task 1/vpp of that)
double unit_time_bubble(const strategy::PipelineSchedule& schedule, int pp, int vpp, int m) {
  return test::run_unit_time(schedule, pp, vpp, m).bubble();
}

}  // namespace

TEST_CASE("1f1b and interleaved_1f1b orders contain every forward and backward once, backward after forward") {
  check_complete(strategy::OneFOneB(), 4, 1, 8);
  check_complete(strategy::OneFOneB(), 4, 1, 2);  // fewer micro-batches than stages still completes
  check_complete(strategy::InterleavedOneFOneB(), 4, 2, 8);
  check_complete(strategy::InterleavedOneFOneB(), 16, 2, 32);
  check_complete(strategy::InterleavedOneFOneB(), 5, 5, 10);
}

TEST_CASE("1f1b holds at most pp - stage micro-batches in flight") {
  const strategy::OneFOneB schedule;
  for (int s = 0; s < 4; ++s) CHECK(strategy::peak_in_flight(schedule.stage_order(s, 4, 1, 8), 1) == 4 - s);
  CHECK(strategy::peak_in_flight(schedule.stage_order(0, 4, 1, 2), 1) == 2);
}

TEST_CASE("interleaved 1f1b in-flight count follows Megatron's warm-up") {
  const strategy::InterleavedOneFOneB schedule;
  std::vector<int> per_chunk;
  // stage 0 of pp 4, vpp 2: warm-up (4-1)x2 + (2-1)x4 = 10 forwards, then one more before the first backward
  CHECK(strategy::peak_in_flight(schedule.stage_order(0, 4, 2, 8), 2, &per_chunk) == 11);
  CHECK(per_chunk[0] + per_chunk[1] == 11);
  CHECK(strategy::peak_in_flight(schedule.stage_order(3, 4, 2, 8), 2) == 5);
}

TEST_CASE("1f1b bubble equals (p-1)/(m+p-1) on a unit-time pipeline") {
  const strategy::OneFOneB schedule;
  for (auto [p, m] : {std::pair{4, 8}, std::pair{4, 16}, std::pair{8, 8}}) {
    CHECK(unit_time_bubble(schedule, p, 1, m) == Approx(double(p - 1) / (m + p - 1)).epsilon(1e-9));
  }
}

TEST_CASE("interleaved 1f1b has a smaller bubble than 1f1b, about (p-1)/(vpp m + p-1)") {
  const double plain = unit_time_bubble(strategy::OneFOneB(), 4, 1, 8);
  const double interleaved = unit_time_bubble(strategy::InterleavedOneFOneB(), 4, 2, 8);
  CHECK(interleaved < plain);
  CHECK(interleaved == Approx(3.0 / (2 * 8 + 3)).epsilon(0.02));
}

TEST_CASE("schedules reject layouts they do not cover") {
  CHECK_THROWS_WITH(strategy::OneFOneB().stage_order(0, 4, 2, 8), Catch::Contains("interleaved_1f1b"));
  CHECK_THROWS_WITH(strategy::InterleavedOneFOneB().stage_order(0, 4, 2, 6), Catch::Contains("multiple of pp"));
  CHECK_THROWS_WITH(strategy::make_pipeline_schedule("gpipe"), Catch::Contains("1f1b, interleaved_1f1b"));
}

TEST_CASE("the scenario picks the schedule: explicit strategy, else 1f1b for vpp 1 and interleaved for vpp > 1") {
  config::ScenarioConfig s;
  s.parallel.pp = 4;
  CHECK(strategy::make_pipeline_schedule(s)->name() == "1f1b");
  s.parallel.vpp = 2;
  CHECK(strategy::make_pipeline_schedule(s)->name() == "interleaved_1f1b");
  s.strategies.push_back({"1f1b", nlohmann::json::object(), "/strategies/0"});
  CHECK(strategy::make_pipeline_schedule(s)->name() == "1f1b");
}

TEST_CASE("the catalog lists the five schedules and rejects two schedules in one scenario") {
  int found = 0;
  for (const auto& info : strategy::strategy_catalog()) found += info.family == "pipeline_schedule";
  CHECK(found == 5);
  config::ScenarioConfig s;
  s.file = "x.json";
  s.strategies.push_back({"1f1b", nlohmann::json::object(), "/strategies/0"});
  s.strategies.push_back({"interleaved_1f1b", nlohmann::json::object(), "/strategies/1"});
  config::IssueCollector issues("x.json");
  strategy::validate_strategies(s, issues);
  CHECK_THROWS_WITH(issues.throw_if_any(), Catch::Contains("more than one \"pipeline_schedule\""));
}
