#pragma once
// A transformer model (MoE or dense) as read from models/*.json. Schema: docs/schema-model.md.
#include <cstdint>
#include <optional>
#include <string>

namespace moesim::config {

enum class AttentionKind { MHA, GQA, MLA };
enum class FfnActivation { SwiGLU /* 3 matrices: gate, up, down */, GELU /* 2 matrices: up, down */ };
enum class RoutingKind { TopK, MoGE /* grouped: top-k per group, Pangu Pro MoE */ };

struct AttentionSpec {
  AttentionKind kind = AttentionKind::GQA;
  int num_heads = 0;
  int num_kv_heads = 0;  // MHA: == num_heads; MLA: unused (latent cache)
  int head_dim = 0;      // MHA/GQA
  // MLA (DeepSeek-V3 / Pangu Ultra MoE style); 0 when not MLA. q_lora_rank 0 means no query compression.
  int q_lora_rank = 0;
  int kv_lora_rank = 0;
  int qk_nope_head_dim = 0;
  int qk_rope_head_dim = 0;
  int v_head_dim = 0;
};

struct MoeSpec {
  int num_routed_experts = 0;
  int num_shared_experts = 0;
  int top_k = 0;                    // routed experts per token
  int expert_intermediate = 0;      // width of one routed expert
  int shared_expert_intermediate = 0;  // width of one shared expert
  RoutingKind routing = RoutingKind::TopK;
  int num_groups = 1;               // MoGE: experts split into groups
  int top_k_per_group = 0;          // MoGE: experts chosen in each group (top_k == num_groups * top_k_per_group)
};

struct ModelConfig {
  std::string file;
  std::string name;
  std::string description;
  std::string source;  // citation for the architecture numbers
  int hidden = 0;
  int num_layers = 0;        // transformer layers, excluding MTP layers
  int num_dense_layers = 0;  // the first layers with a dense FFN (all of them for a dense model)
  int dense_intermediate = 0;
  int vocab = 0;
  bool tied_embeddings = false;
  FfnActivation activation = FfnActivation::SwiGLU;
  AttentionSpec attention;
  std::optional<MoeSpec> moe;  // absent for dense models
  int mtp_layers = 0;          // multi-token-prediction modules (each: projection + one transformer layer)
  int max_seq_len = 0;
};

std::string to_string(AttentionKind kind);
std::string to_string(FfnActivation activation);
std::string to_string(RoutingKind routing);

// Reads and validates a model file; throws ConfigError listing every issue.
ModelConfig load_model(const std::string& path);

}  // namespace moesim::config
