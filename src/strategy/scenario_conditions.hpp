#pragma once
// Conditions several strategies' layout checks share.
#include "config/scenario_config.hpp"

namespace moesim::strategy {

// A training scenario of an MoE model whose experts are spread over more than one expert-parallel rank.
inline bool training_moe_with_expert_parallelism(const config::ScenarioConfig& scenario) {
  return scenario.type == config::ScenarioType::Training && scenario.model && scenario.model->moe.has_value() &&
         scenario.parallel.expert_parallel_size() > 1;
}

}  // namespace moesim::strategy
