#pragma once
// Family "data_balance", strategy "sequence_balance": the data part of Pangu Ultra MoE's EDPB ("reorder sequences
// across DP ranks to balance attention cost", press 2025-05-30; facts section 5): with document-masked attention
// (training.documents) a sequence's attention work is the sum of its documents' squared lengths, so replicas and
// micro-batches differ. The strategy deals the step's sequences out greedily, heaviest first, to the DP replica with
// the least work that still has room, then within each replica to its micro-batches the same way. Without it the
// sequences keep Megatron's order (contiguous blocks). docs/training.md ("Documents and sequence balance").
#include "config/config_error.hpp"
#include "config/json_reader.hpp"
#include "config/scenario_config.hpp"
#include "model/document_packing.hpp"

namespace moesim::strategy {

inline constexpr const char* kSequenceBalanceName = "sequence_balance";
inline constexpr const char* kSequenceBalanceDescription =
    "sequences dealt to DP replicas and micro-batches by attention work (sum of squared document lengths), heaviest "
    "first (EDPB data balancing, Pangu Ultra MoE)";

void check_sequence_balance_params(config::ObjectReader& params);  // no params
// Needs a training scenario with training.documents.
void check_sequence_balance_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                   config::IssueCollector& issues);

// Contract: step `step`'s attention work per (replica, micro-batch) over the scenario's full dp (empty without
// training.documents): contiguous, or balanced by longest-processing-time with sequence_balance (by whole-sequence
// work, also under CP). Under context parallelism also per CP shard pair (cp_query_shards shards,
// strategy/context_parallel). Every sequence is used exactly once; a micro-batch holds micro_batch_size sequences.
// Each step draws its own documents (the scenario seed, then one stream per step).
model::MicroBatchWork scenario_attention_work(const config::ScenarioConfig& scenario, int step = 0);

// Longest-processing-time deal of `work` (per sequence) over dp replicas of micro_batches x micro_batch_size
// sequences, then over each replica's micro-batches. Ties go to the lower index.
model::MicroBatchWork balanced_work(const std::vector<double>& work, int dp, int micro_batches, int micro_batch_size);

}  // namespace moesim::strategy
