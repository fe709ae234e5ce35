#pragma once
// Parameter, FLOP, KV-cache and weight-size arithmetic of a ModelConfig: the single source of truth shared by
// `moesim describe` and the training/inference graph builders. Conventions: docs/schema-model.md ("Derived
// statistics"). All counts are doubles (they exceed 2^31); biases, position embeddings and LayerNorm biases
// are not modelled.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "config/common_types.hpp"
#include "config/model_config.hpp"

namespace moesim::model {

using config::Dtype;
using config::ModelConfig;

// One weight matrix applied to every token: y[out_features] = x[in_features] * W.
struct MatmulShape {
  std::string name;  // e.g. "q_proj", "kv_a_proj", "gate_proj"
  double in_features = 0.0;
  double out_features = 0.0;
  double params() const { return in_features * out_features; }
  double flops(double tokens) const { return 2.0 * tokens * in_features * out_features; }  // 2 per MAC
};

// ---- Per-layer building blocks (reused by graph builders) ----

// Attention projections of one layer, in execution order. MHA/GQA: q, k, v, o. MLA (naive, non-absorbed form
// used in training): q_a, q_b (or q_proj when q_lora_rank == 0), kv_a (latent + shared rope key), kv_b, o.
std::vector<MatmulShape> attention_matmuls(const ModelConfig& model);
// Norms inside the attention block: MLA q_a_norm (q_lora_rank) + kv_a_norm (kv_lora_rank); 0 for MHA/GQA.
double attention_inner_norm_params(const ModelConfig& model);
// attention_matmuls + attention_inner_norm_params (the per-layer input RMSNorm is in layer_norm_params).
double attention_params_per_layer(const ModelConfig& model);
// Query-key and value head dimensions (MLA: qk_nope + qk_rope and v_head_dim).
int qk_head_dim(const ModelConfig& model);
int v_head_dim(const ModelConfig& model);
// Score (QK^T) and value (AV) FLOPs of one layer for ONE query token attending to `context_tokens` keys:
// 2 * num_heads * (qk_head_dim + v_head_dim) * context_tokens.
double attention_core_flops(const ModelConfig& model, double context_tokens);

// FFN matrices of width `intermediate`: SwiGLU gate, up, down; GELU up, down.
std::vector<MatmulShape> ffn_matmuls(const ModelConfig& model, int intermediate);
double ffn_params(const ModelConfig& model, int intermediate);
double dense_ffn_params(const ModelConfig& model);      // one dense FFN
double expert_params(const ModelConfig& model);         // one routed expert (0 for dense models)
double shared_expert_params(const ModelConfig& model);  // one shared expert (0 when none)
MatmulShape router_matmul(const ModelConfig& model);    // hidden -> num_routed_experts (0x0 for dense models)
// The two per-layer RMSNorms (before attention and before the FFN): 2 * hidden.
double layer_norm_params(const ModelConfig& model);

// Layer index 0 .. num_layers-1; the first num_dense_layers are dense.
bool is_moe_layer(const ModelConfig& model, int layer);
int num_moe_layers(const ModelConfig& model);

// One whole transformer layer (attention + norms + FFN or MoE block); `active` scales routed experts by
// top_k / num_routed_experts.
double transformer_layer_params(const ModelConfig& model, bool moe_layer, bool active);
// One MTP module (DeepSeek-V3 style): 2 norms + projection 2*hidden -> hidden + one transformer layer (an MoE
// layer for MoE models). Embedding and LM head are shared with the main model and not counted again.
double mtp_module_params(const ModelConfig& model, bool active);

// ---- Whole-model statistics ----

struct ParamBreakdown {
  double embedding = 0.0;       // vocab * hidden
  double attention = 0.0;       // projections + MLA inner norms, all layers
  double dense_ffn = 0.0;       // dense layers' FFNs
  double routed_experts = 0.0;  // all routed experts of all MoE layers
  double shared_experts = 0.0;
  double router = 0.0;
  double norms = 0.0;            // per-layer input/post-attention norms + final norm
  double head = 0.0;             // LM head; 0 when tied to the embedding
  double mtp = 0.0;              // all MTP modules (NOT in total, see total_with_mtp)
  double total = 0.0;            // main model: everything above except mtp (the published convention: 718B, 671B, ...)
  double active = 0.0;           // per token: total with routed experts scaled by top_k / num_routed; embedding and
                                 // head counted in full; MTP excluded
  double total_with_mtp = 0.0;   // total + mtp: what training stores
  double active_with_mtp = 0.0;  // active + the active part of the MTP modules
};
ParamBreakdown param_breakdown(const ModelConfig& model);

// Forward FLOPs for one token of a sequence of `seq_len` tokens (training/prefill), 2 FLOPs per MAC.
struct FlopBreakdown {
  double attention_proj = 0.0;  // attention projections, all layers
  double dense_ffn = 0.0;
  double routed_experts = 0.0;  // top_k experts per MoE layer
  double shared_experts = 0.0;
  double router = 0.0;
  double lm_head = 0.0;         // hidden -> vocab (also when tied)
  double mtp_matmul = 0.0;      // MTP modules: projection + layer matmuls + their LM-head pass
  double matmul = 0.0;          // sum of the matmul fields above
  double attention_core = 0.0;  // QK^T + AV at mean causal context seq_len / 2, main layers + MTP layers
  double total = 0.0;           // matmul + attention_core
};
FlopBreakdown flops_breakdown(const ModelConfig& model, int seq_len, bool include_mtp = true);
// flops_breakdown(model, seq_len, true).total: MTP included since it runs in every training step.
double flops_per_token_forward(const ModelConfig& model, int seq_len);

// KV-cache elements per token per layer: MHA/GQA 2 * num_kv_heads * head_dim; MLA kv_lora_rank + qk_rope_head_dim.
double kv_elements_per_token_per_layer(const ModelConfig& model);
// Bytes of KV cache per token over all num_layers; MTP layers only when include_mtp (speculative decoding).
double kv_bytes_per_token(const ModelConfig& model, Dtype dtype, bool include_mtp = false);
// Bytes of all weights at one element size: param_breakdown().total (or total_with_mtp) * bytes_per_element.
double weight_bytes(const ModelConfig& model, Dtype dtype, bool include_mtp = false);

// ---- describe ----
// Summary object: name, file, seq_len, params_total, params_active, params_total_with_mtp, params_by_component,
// flops_per_token_forward, flops_breakdown, kv_bytes_per_token (bf16), weight_bytes (per dtype), architecture.
// Throws std::invalid_argument when seq_len < 1.
nlohmann::json describe_json(const ModelConfig& model, int seq_len);
// The same numbers as a readable table for the terminal.
std::string describe_text(const ModelConfig& model, int seq_len);

}  // namespace moesim::model
