#pragma once
// A training step built and simulated in a forked child (SimGrid allows one simulation per process), with the
// per-op times of the result, for the metrics-layer tests.
#include <catch2/catch.hpp>
#include <string>
#include <utility>

#include "../engine/test_fixtures.hpp"
#include "strategy/pipeline_schedule.hpp"
#include "strategy/training_step_builder.hpp"

namespace moesim::test {

struct SimulatedStep {
  strategy::TrainingStep step;
  engine::SimulationResult result;
  // (start, end) of the first op of `rank` with this name; fails the test when there is none
  std::pair<double, double> times(const std::string& name, int rank = 0) const {
    for (std::size_t i = 0; i < step.graph.ops.size(); ++i) {
      const auto& op = step.graph.ops[i];
      if (op.rank == rank && op.name == name) return {result.ops[i].start_s, result.ops[i].end_s};
    }
    FAIL("no op " << name << " on rank " << rank);
    return {0.0, 0.0};
  }
};

inline SimulatedStep simulate_training_step(const config::ScenarioConfig& s, const engine::EngineOptions& engine = {}) {
  SimulatedStep run{strategy::build_training_step(s, *strategy::make_pipeline_schedule(s)), {}};
  REQUIRE_NOTHROW(model::validate(run.step.graph));
  const auto times = simulate_in_child(s.topology, run.step.graph, engine);
  run.result.makespan_s = times.at(0);
  for (std::size_t i = 1; i + 1 < times.size(); i += 2) run.result.ops.push_back({times[i], times[i + 1]});
  return run;
}

}  // namespace moesim::test
