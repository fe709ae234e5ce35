#pragma once
// Device memory of an inference rank (static batch steps and serving instances): weights (attention, embedding, LM
// head and dense FFNs over tp, each attention group holding a copy; routed and shared experts over every rank of
// the instance, plus the redundant expert copies of OmniPlacement), the KV cache of the rank's sequences, and a
// workspace estimate (runtime reserve, HCCL buffers, live activations, logits). Conventions: docs/inference.md
// ("Memory"), shared with the serving KV-cache pool (docs/serving.md "KV cache"). Pure.
#include "config/scenario_config.hpp"

namespace moesim::model {

// Weights on one rank at the scenario's weight dtype; each of the `redundant_experts_per_rank` extra slots holds one
// more routed expert (all MoE layers).
double inference_weight_bytes_per_rank(const config::ScenarioConfig& scenario, int redundant_experts_per_rank = 0);
// KV bytes of `tokens` tokens on one rank (KV heads split over tp, at most one head per rank; MLA latent replicated).
double inference_kv_bytes_per_rank(const config::ScenarioConfig& scenario, double tokens);
// Runtime reserve (~1 GiB) + 200 MiB HCCL buffer per communicator + 8 x tokens_per_step / dp x hidden activation
// buffers + fp32 logits of `logit_rows` rows over vocab / tp.
double inference_workspace_bytes(const config::ScenarioConfig& scenario, double tokens_per_step, double logit_rows);

struct InferenceMemory {
  double weights = 0, redundant_expert_weights = 0, kv_cache = 0, workspace = 0;  // bytes per rank
  double device = 0;                                                              // device memory per rank
  double total() const { return weights + redundant_expert_weights + kv_cache + workspace; }
  bool oom() const { return total() > device; }
};

// A static-batch step (inference block): the rank's batch / dp sequences with their KV at the measured step (decode:
// input_len + 1 tokens; prefill: input_len), its activations and its logits.
InferenceMemory static_inference_memory(const config::ScenarioConfig& scenario, int redundant_experts_per_rank);

}  // namespace moesim::model
