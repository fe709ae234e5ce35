#pragma once
// context_parallel "ulysses": an AllToAll turns each rank's sequence shard of Q, K, V into the whole sequence of
// 1/cp of the heads, the attention core runs per head shard, and a second AllToAll returns the output to sequence
// shards; the backward mirrors both (DeepSpeed-Ulysses, arXiv 2309.14509; MindSpeed ulysses_cp_algo, its default).
#include "config/config_error.hpp"
#include "config/scenario_config.hpp"

namespace moesim::strategy {

inline constexpr const char* kUlyssesName = "ulysses";
inline constexpr const char* kUlyssesDescription =
    "CP by Ulysses: AllToAll of Q/K/V from sequence shards to head shards, attention per head shard, AllToAll of "
    "the output back (DeepSpeed-Ulysses arXiv 2309.14509; MindSpeed ulysses_cp_algo)";

// Needs the attention heads divisible by tp x cp (MindSpeed ulysses-context-parallel.md).
void check_ulysses_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                          config::IssueCollector& issues);

}  // namespace moesim::strategy
