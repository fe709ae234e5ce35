#pragma once
// When one op of the graph ran, in simulated seconds (SimulationResult::ops; the executor records them).

namespace moesim::engine {

struct OpTiming {
  double start_s = 0.0;
  double end_s = 0.0;
};

}  // namespace moesim::engine
