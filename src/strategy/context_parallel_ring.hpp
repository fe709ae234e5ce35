#pragma once
// context_parallel "ring_attention": K/V shards passed round the CP ring, one blockwise attention step per shard,
// each shift under the previous block's compute; causal load balance by two mirrored half-chunks per rank (Liu et
// al., Ring Attention, arXiv 2310.01889; MindSpeed megatron_cp_algo, ring-attention-context-parallel.md).
#include "config/config_error.hpp"
#include "config/scenario_config.hpp"

namespace moesim::strategy {

inline constexpr const char* kRingAttentionName = "ring_attention";
inline constexpr const char* kRingAttentionDescription =
    "CP by Ring Attention: K/V blocks passed round the CP ring, each step's shift hidden under the previous "
    "block's attention (arXiv 2310.01889; MindSpeed megatron_cp_algo)";

// Needs seq_len divisible by 2 x cp (two mirrored half-chunks per rank for the causal load balance).
void check_ring_attention_layout(const config::ScenarioConfig& scenario, const config::StrategySpec& spec,
                                 config::IssueCollector& issues);

}  // namespace moesim::strategy
