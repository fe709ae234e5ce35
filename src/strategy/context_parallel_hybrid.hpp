#pragma once
// context_parallel "hybrid_cp": Ulysses over groups of `ulysses_degree` consecutive CP ranks (Q/K/V from sequence to
// head shards and the output back), Ring Attention over the cp / ulysses_degree such groups (each shift carries the
// K/V of the Ulysses group's whole shard for the rank's heads), so the CP size is not bounded by the head count and
// the ring steps are fewer (USP, Fang and Zhao, arXiv 2405.07719; MindSpeed hybrid_cp_algo, hybrid-context-
// parallel.md).
#include "config/config_error.hpp"
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"

namespace moesim::strategy {

inline constexpr const char* kHybridCpName = "hybrid_cp";
inline constexpr const char* kHybridCpDescription =
    "CP by Ulysses x Ring Attention: AllToAll of Q/K/V inside groups of ulysses_degree CP ranks, a ring of those "
    "groups for K/V (USP arXiv 2405.07719; MindSpeed hybrid_cp_algo)";

// params: ulysses_degree (integer >= 2, required; MindSpeed --ulysses-degree-in-cp).
void check_hybrid_cp_params(config::ObjectReader& params);
// Needs 1 < ulysses_degree < cp dividing cp, the heads divisible by tp x ulysses_degree, and seq_len divisible by
// 2 x (cp / ulysses_degree) x ulysses_degree (the ring's mirrored half-chunks).
void check_hybrid_cp_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                            config::IssueCollector& issues);
// The Ulysses degree of the scenario's hybrid_cp strategy; 1 without it.
int cp_ulysses_degree(const config::ScenarioConfig& scenario);

}  // namespace moesim::strategy
