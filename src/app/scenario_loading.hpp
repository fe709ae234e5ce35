#pragma once
// Loads a scenario and checks its strategies against the catalog: the one entry point for check and run.
#include <string>
#include <vector>

#include "config/scenario_config.hpp"

namespace moesim::app {

config::ScenarioConfig load_checked_scenario(const std::string& path, const std::vector<std::string>& overrides);

// A few readable lines on what a scenario resolved to.
std::string scenario_text(const config::ScenarioConfig& scenario);

}  // namespace moesim::app
