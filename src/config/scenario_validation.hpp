#pragma once
// Cross-checks of a scenario against its model and topology (layout divisibility, sizes, groups).
#include "config/config_error.hpp"
#include "config/scenario_config.hpp"

namespace moesim::config {

// Adds an issue for every inconsistency; trims scenario.topology.nodes to the nodes the ranks need.
void validate_scenario(ScenarioConfig& scenario, IssueCollector& issues);

}  // namespace moesim::config
