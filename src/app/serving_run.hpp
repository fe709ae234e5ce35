#pragma once
// `moesim run` for inference scenarios with a `serving` block (docs/serving.md).
#include <chrono>

#include "app/commands.hpp"
#include "config/scenario_config.hpp"
#include "engine/simulation.hpp"

namespace moesim::app {

int run_serving_scenario(const RunOptions& options, const config::ScenarioConfig& scenario,
                         const engine::EngineOptions& engine_options, std::chrono::steady_clock::time_point wall_start);

}  // namespace moesim::app
