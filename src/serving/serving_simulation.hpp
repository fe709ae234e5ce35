#pragma once
// A whole serving run: KV capacity from the memory figures, the step-cost profile simulated on the engine (one
// engine run), then the serving loop over the workload, and its metrics.
#include <nlohmann/json.hpp>

#include "config/scenario_config.hpp"
#include "engine/simulation.hpp"
#include "serving/kv_capacity.hpp"
#include "serving/serving_loop.hpp"
#include "serving/step_profile.hpp"

namespace moesim::serving {

struct ServingRun {
  KvCapacity kv;
  ProfileGrids grids;
  ProfileGraph profile;
  engine::SimulationResult profile_result;
  StepProfile step_profile;
  ServingResult result;
  nlohmann::json metrics;  // summary.json "metrics"
  double profile_wall_s = 0;
  double loop_wall_s = 0;
};

// Instances of the scenario: serving.instances, else ranks / (tp x pp x cp x dp).
int serving_instances(const config::ScenarioConfig& scenario);

// Throws std::invalid_argument (bad input) when a request of the workload can never fit an instance's KV cache
// (or, without chunked prefill, its prompt exceeds max_tokens_per_step), naming the limit; checked before the
// engine runs.
void check_workload_fits(const config::ScenarioConfig& scenario, const KvCapacity& kv);

// Contract: scenario.serving is set. One engine simulation (call once per process).
ServingRun simulate_serving(const config::ScenarioConfig& scenario, const engine::EngineOptions& options);

}  // namespace moesim::serving
