#pragma once
// The operator graph of ONE static-batch inference step (prefill of the prompts, or one decode token
// with the KV cache at input_len) of one model instance. Weights are read once per step; decode attention
// reads the KV cache of every sequence. Two communication layouts:
//  - TpAllReduce (default): attention tensor-parallel over `tp` ranks, routed experts over the same ranks
//    (ep x expert_tp = tp), a TP AllReduce after attention and after the MoE block (plain Megatron/vLLM).
//  - H2P ([P] §4.2.1, facts section 5; chosen by the `h2p` strategy): attention DP x TP, routed experts
//    TP x EP over all ranks, shared experts TP over all ranks; per layer norm -> TP AllGather -> attention
//    -> TP ReduceScatter -> norm -> global AllGather -> experts -> global ReduceScatter; tokens padded to a
//    multiple of the TP group size.
// Strategies (strategy/inference_*.cpp) fill an InferenceStepPlan; the model layer knows no strategy.
#include "config/scenario_config.hpp"
#include "model/op_graph.hpp"

namespace moesim::model {

enum class InferenceComm { TpAllReduce, H2P };

struct InferenceStepPlan {
  InferenceComm comm = InferenceComm::TpAllReduce;
  // H2P only: experts of shared TP groups of this many ranks (must divide the instance's ranks); 0 = all ranks.
  int shared_expert_tp = 0;
  // H2P only: the norm runs on each rank's 1/tp token shard before the TP AllGather ([P] §4.2.1: -75% norm
  // compute at tp 4); false = AllGather first, norm on every gathered token (the ablation).
  bool allgather_after_norm = true;
};

// Throws std::invalid_argument for layouts a plan does not cover: pp > 1 or cp > 1 always; attention dp > 1
// without H2P; H2P with ep x expert_tp different from the ranks.
OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan);
// The default plan (TpAllReduce).
OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario);

// Tokens per data-parallel attention group, padded to a multiple of `group` (H2P pads so that ReduceScatter and
// AllGather shards are equal).
double padded_tokens(double tokens, int group);

// Expected number of distinct experts, out of `local_experts`, that receive at least one of `tokens`
// tokens when each token selects a given expert with probability `p_per_expert` (top_k / experts).
double expected_touched_experts(double local_experts, double tokens, double p_per_expert);

}  // namespace moesim::model
