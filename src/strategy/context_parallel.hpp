#pragma once
// Family "context_parallel": how a training step's attention crosses the context-parallel (CP) group when cp > 1.
// A strategy chooses the algorithm (model::CpAlgorithm) and checks the layout; the attention block
// (model/training_blocks) emits its collectives, and model/cp_ring expands Ring Attention's steps. Selected by
// {"name": "kv_allgather" | "ring_attention" | "ulysses" | "hybrid_cp"}; default kv_allgather. docs/training.md
// ("Context parallelism").
#include "config/config_error.hpp"
#include "config/scenario_config.hpp"
#include "model/training_blocks.hpp"

namespace moesim::strategy {

// The scenario's CP algorithm: its context_parallel strategy's, or KvAllGather.
model::CpAlgorithm cp_algorithm(const config::ScenarioConfig& scenario);

// The query shards a sequence's attention splits into under the scenario's CP: cp for KV AllGather and Ring
// Attention, cp / ulysses_degree for hybrid CP (its ring), 1 for Ulysses (whole sequences, heads split) and cp 1.
int cp_query_shards(const config::ScenarioConfig& scenario);

// Reports a context_parallel strategy that does not fit the scenario (called by validate_strategies).
void check_context_parallel_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues);

}  // namespace moesim::strategy
