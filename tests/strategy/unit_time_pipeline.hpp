#pragma once
// A list simulation of a pipeline schedule without communication (strategy::CompactTimeline): every stage runs its
// order, a task starts when its stage is free and its input (activation from the previous pipeline position,
// gradient from the next) is there; data moves instantly. A task marked Pairing::WithNext runs with the next one as
// one unit (DualPipe's overlapped chunk: it waits for both inputs, both outputs leave at its end). Used to check
// schedules against the papers' bubble formulas. Fails (REQUIRE) when the orders deadlock.
#include <catch2/catch.hpp>
#include <vector>

#include "strategy/pipeline_compact_timeline.hpp"
#include "strategy/pipeline_schedule.hpp"

namespace moesim::test {

// Time of a whole stage's share of each kind; a chunk's task takes it / vpp.
struct UnitTimes {
  double forward = 1.0, input = 1.0, weight = 1.0, whole = 2.0;
  double of(const strategy::PipelineTask& t) const {
    if (t.forward) return forward;
    switch (t.part) {
      case strategy::BackwardPart::Input:
        return input;
      case strategy::BackwardPart::Weight:
        return weight;
      case strategy::BackwardPart::Whole:
        break;
    }
    return whole;
  }
};

struct UnitTimeRun {
  double makespan = 0.0;
  std::vector<double> busy;  // per stage
  double idle(int stage) const { return makespan - busy[static_cast<std::size_t>(stage)]; }
  // idle time over [0, makespan], averaged over stages
  double bubble() const {
    double work = 0.0;
    for (double b : busy) work += b;
    return 1.0 - work / (makespan * static_cast<double>(busy.size()));
  }
};

// On strategy::CompactTimeline (the timeline stage_balance scores cuts with), so the schedules' formulas check it too.
inline UnitTimeRun run_unit_time(const strategy::PipelineSchedule& schedule, int pp, int vpp, int m,
                                 UnitTimes times = {}) {
  using strategy::PipelineTask;
  std::vector<std::vector<PipelineTask>> orders;
  for (int s = 0; s < pp; ++s) orders.push_back(schedule.stage_order(s, pp, vpp, m));
  const strategy::CompactTimeline timeline(
      std::move(orders), schedule.placement(), vpp, m, [](const std::vector<PipelineTask>& order, std::size_t i) {
        return order[i].pairing == strategy::Pairing::WithNext ? std::size_t{2} : std::size_t{1};
      });
  strategy::CompactRun compact;
  REQUIRE_NOTHROW(compact = timeline.run([&](int, const PipelineTask& t) { return times.of(t) / vpp; }));
  UnitTimeRun run;
  run.makespan = compact.makespan_s;
  run.busy = compact.busy_s;
  return run;
}

}  // namespace moesim::test
