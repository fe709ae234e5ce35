#pragma once
// The operator graph of ONE static-batch inference step (prefill of the prompts, or one decode token
// with the KV cache at input_len) of one model instance, with attention tensor-parallel over `tp` ranks
// and routed experts expert-parallel over the same ranks (ep x expert_tp = tp), combined by a TP
// AllReduce after attention and after the MoE block (the plain Megatron/vLLM layout).
// Weights are read once per step; decode attention reads the KV cache of every sequence.
#include "config/scenario_config.hpp"
#include "model/op_graph.hpp"

namespace moesim::model {

// Throws std::invalid_argument for layouts this builder does not cover (pp > 1, attention dp > 1: those
// come with the serving strategies).
OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario);

// Expected number of distinct experts, out of `local_experts`, that receive at least one of `tokens`
// tokens when each token selects a given expert with probability `p_per_expert` (top_k / experts).
double expected_touched_experts(double local_experts, double tokens, double p_per_expert);

}  // namespace moesim::model
