#pragma once
// Conditions and message pointers several strategies' layout checks share.
#include <string>

#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"

namespace moesim::strategy {

// JSON pointer of a strategy's param, for messages: /strategies/<i>/params/<key>.
inline std::string param_pointer(const config::StrategySpec& spec, const std::string& key) {
  return config::pointer_child(config::pointer_child(spec.pointer, "params"), key);
}

// A training scenario of an MoE model whose experts are spread over more than one expert-parallel rank.
inline bool training_moe_with_expert_parallelism(const config::ScenarioConfig& scenario) {
  return scenario.type == config::ScenarioType::Training && scenario.model && scenario.model->moe.has_value() &&
         scenario.parallel.expert_parallel_size() > 1;
}

}  // namespace moesim::strategy
