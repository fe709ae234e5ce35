#pragma once
// The operator graph of ONE static-batch inference step (prefill of the prompts, or one decode step with the KV
// cache at input_len) of one model instance. Weights are read once per step; decode attention reads the KV cache
// of every sequence. Communication layouts:
//  - TpAllReduce (default): attention tensor-parallel over `tp` ranks, routed experts over the same ranks
//    (ep x expert_tp = tp), a TP AllReduce after attention and after the MoE block (plain Megatron/vLLM).
//  - FlashComm (dp 1) and H2P ([P] §4.2.1, facts section 5): each AllReduce becomes a ReduceScatter, the norm runs
//    on each rank's token shard and an AllGather follows it. H2P adds attention DP x TP with routed experts
//    TP x EP and shared experts TP over all ranks: per layer norm -> TP AllGather -> attention -> TP ReduceScatter
//    -> norm -> global AllGather -> experts -> global ReduceScatter; tokens padded to a multiple of the TP size.
// Per layer and rank the compute ops are those an eager Ascend deployment launches (vLLM-Ascend / MindIE style,
// quantisation fused into the norm and activation kernels): attn_norm, qkv_proj, rope, attn_core, o_proj,
// ffn_norm, router, moe_gating, moe_permute, routed gate_up / swiglu / down, moe_unpermute, shared gate_up /
// swiglu / down. Host dispatch of every op comes from the topology's host_runtime (inference_step_builder.hpp).
// Strategies (strategy/inference_*.cpp) fill an InferenceStepPlan; the model layer knows no strategy.
#include <vector>

#include "config/scenario_config.hpp"
#include "model/expert_load.hpp"
#include "model/op_graph.hpp"

namespace moesim::model {

enum class InferenceComm { TpAllReduce, FlashComm, H2P };

struct InferenceStepPlan {
  InferenceComm comm = InferenceComm::TpAllReduce;
  // H2P only: experts of shared TP groups of this many ranks (must divide the instance's ranks); 0 = all ranks.
  int shared_expert_tp = 0;
  // FlashComm / H2P: the norm runs on each rank's 1/tp token shard before the TP AllGather ([P] §4.2.1: -75% norm
  // compute at tp 4); false = AllGather first, norm on every gathered token (the ablation).
  bool allgather_after_norm = true;
  // AllGathers that feed an INT8 GEMM carry INT8 (quantised before the gather; W8A8 only). ReduceScatters and
  // AllReduces stay fp16 (they sum). FlashComm / TopoComm option.
  bool int8_allgather = false;
  // TopoComm: collectives over a group that spans several tiers of `tier_ranks` consecutive ranks (the 300I Duo's
  // PCIe domains) run as an intra-tier and an inter-tier collective (between same-position peers); 0 = flat.
  // Every collective of the step uses `tier_algorithm` (Auto: the engine's rule).
  int tier_ranks = 0;
  CollectiveAlgorithm tier_algorithm = CollectiveAlgorithm::Auto;
  // DuoStream: the AllGather before and the ReduceScatter after the expert block are split into this many token
  // chunks on the communication stream, so chunk k's collective overlaps chunk k-1's expert compute (1 = off).
  // FlashComm or H2P only.
  int duo_stream_chunks = 1;
  // DuoStream: each chunk re-reads the expert weights its tokens touch (false: the fused kernels stream every
  // weight once per step, split evenly over the chunks).
  bool duo_stream_reread_weights = false;
  // Fused-kernel cost models (MulAttention, SwiftGMM): the operator class whose efficiencies are used.
  OpClass attention_class = OpClass::Attention;
  OpClass grouped_matmul_class = OpClass::GroupedMatmul;
  // MTP speculative decoding (decode only): draft tokens per sequence; the step verifies 1 + draft tokens per
  // sequence and then runs the MTP module `draft_tokens` times (the first pass over the verified positions, the
  // others over one token per sequence). Prefill runs the MTP module once over the prompt.
  int mtp_draft_tokens = 0;
  // Host time per step of the speculative-decoding framework (facts C9: 10 ms -> 1 ms with FusionSpec).
  double speculative_overhead_s = 0;
  // EP all-to-all (H2P layout): each rank sends its token shard's token-expert rows to the experts' ranks and
  // gets them back (two AllToAlls) instead of the global AllGather / ReduceScatter; router and shared experts on
  // the rank's own shard.
  bool moe_alltoall = false;
  // Where the routed experts sit over the EP ranks under a skewed inference.expert_load (strategy balanced:
  // OmniPlacement's rearrangement); the EP index of rank r is r / expert_tp.
  ExpertPlacement expert_placement = ExpertPlacement::Contiguous;
  int redundant_experts_per_rank = 0;  // balanced's redundant_per_rank (OmniPlacement "redundant"; ep_alltoall only)
};

// A mixed (chunked-prefill, Sarathi-Serve / vLLM) step: decoding sequences (one query token each) and prefill
// chunks (C prompt tokens after `offset` tokens already in the KV cache) in one forward pass.
struct PrefillChunk {
  double tokens = 0;
  double offset = 0;
};
struct MixedStepBatch {
  int decode_seqs = 0;
  double decode_kv_len = 0;  // mean KV length of the decoding sequences
  std::vector<PrefillChunk> chunks;
};

// Throws std::invalid_argument for layouts a plan does not cover: pp > 1 or cp > 1 always; attention dp > 1
// without H2P; H2P with ep x expert_tp different from the ranks; FlashComm with dp > 1; DuoStream chunks without
// FlashComm or H2P; a fused operator class the topology does not define.
OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan);
// The default plan (TpAllReduce).
OpGraph build_inference_step_graph(const config::ScenarioConfig& scenario);
// One mixed step of the scenario's instance (its inference phase, batch and input length are ignored): every
// token-proportional op runs over the decode tokens plus the chunk tokens; the attention core is two kernels, the
// decode one (each sequence's KV cache read once) and the chunks' (causal FLOPs of their query-key pairs, the
// cached KV of earlier chunks read once); the head computes one logits row per decode sequence and per chunk.
// Throws std::invalid_argument as above, and for MTP plans (speculative mixed steps are not modelled) or a batch
// with neither decode sequences nor chunk tokens.
OpGraph build_mixed_inference_step_graph(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan,
                                         const MixedStepBatch& batch);

// Tokens per data-parallel attention group, padded to a multiple of `group` (H2P pads so that ReduceScatter and
// AllGather shards are equal).
double padded_tokens(double tokens, int group);

// Expected number of distinct experts, out of `local_experts`, that receive at least one of `tokens`
// tokens when each token selects a given expert with probability `p_per_expert` (top_k / experts).
double expected_touched_experts(double local_experts, double tokens, double p_per_expert);

}  // namespace moesim::model
