#pragma once
// The scenario's expert load over its steps (model/expert_load) under its placement strategy (balanced, static or
// dynamic) and hot-expert count (balanced_moe): what the step builder, the memory model and the metrics share.
#include "config/scenario_config.hpp"
#include "model/expert_load.hpp"

namespace moesim::strategy {

model::ExpertLoadSteps scenario_expert_loads(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy
