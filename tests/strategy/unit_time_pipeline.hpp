#pragma once
// A list simulation of a pipeline schedule without communication: every stage runs its order, a task starts when
// its stage is free and its input (activation from the previous pipeline position, gradient from the next) is
// there; data moves instantly. A task marked Pairing::WithNext runs with the next one as one unit (DualPipe's
// overlapped chunk: it waits for both inputs, both outputs leave at its end). Used to check schedules against the
// papers' bubble formulas. Fails (REQUIRE) when the orders deadlock.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <tuple>
#include <vector>

#include "model/training_layout.hpp"
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

inline UnitTimeRun run_unit_time(const strategy::PipelineSchedule& schedule, int pp, int vpp, int m,
                                 UnitTimes times = {}) {
  using strategy::PipelineTask;
  std::vector<std::vector<PipelineTask>> orders;
  for (int s = 0; s < pp; ++s) orders.push_back(schedule.stage_order(s, pp, vpp, m));
  const auto placement = schedule.placement();
  const int last = pp * vpp - 1;
  std::map<std::tuple<int, int, bool>, double> done;  // (pipeline position, micro-batch, forward) -> data ready
  std::vector<std::size_t> next(static_cast<std::size_t>(pp), 0);
  UnitTimeRun run;
  std::vector<double> clock(static_cast<std::size_t>(pp), 0.0);
  run.busy.assign(static_cast<std::size_t>(pp), 0.0);
  bool progressed = true;
  while (progressed) {
    progressed = false;
    for (int s = 0; s < pp; ++s) {
      const auto u = static_cast<std::size_t>(s);
      const auto& order = orders[u];
      while (next[u] < order.size()) {
        const std::size_t n = order[next[u]].pairing == strategy::Pairing::WithNext ? 2 : 1;
        REQUIRE(next[u] + n <= order.size());
        double ready = 0.0, work = 0.0;
        bool inputs = true;
        for (std::size_t k = next[u]; k < next[u] + n; ++k) {
          const auto& t = order[k];
          const int v = model::pipeline_position(placement, pp, s, t.chunk);
          work += times.of(t) / vpp;
          if (!((t.forward && v > 0) || (t.input_gradient() && v < last))) continue;
          const auto it = done.find({t.forward ? v - 1 : v + 1, t.micro_batch, t.forward});
          if (it == done.end()) {
            inputs = false;
            break;
          }
          ready = std::max(ready, it->second);
        }
        if (!inputs) break;
        clock[u] = std::max(ready, clock[u]) + work;
        run.busy[u] += work;
        for (std::size_t k = next[u]; k < next[u] + n; ++k) {
          const auto& t = order[k];
          if (t.forward || t.input_gradient())
            done[{model::pipeline_position(placement, pp, s, t.chunk), t.micro_batch, t.forward}] = clock[u];
        }
        next[u] += n;
        progressed = true;
      }
    }
  }
  for (int s = 0; s < pp; ++s) REQUIRE(next[static_cast<std::size_t>(s)] == orders[static_cast<std::size_t>(s)].size());
  for (double c : clock) run.makespan = std::max(run.makespan, c);
  return run;
}

}  // namespace moesim::test
