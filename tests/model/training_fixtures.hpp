#pragma once
// Small models and training scenarios built in code for the training tests (model, strategy and metrics layers).
#include <string>

#include "config/scenario_config.hpp"

namespace moesim::test {

// 8-layer dense GQA transformer, hidden 2048, tiny vocabulary (embedding and head nearly free).
inline config::ModelConfig tiny_dense_model(int layers = 8) {
  config::ModelConfig m;
  m.file = "<tiny-dense>";
  m.name = "tiny-dense";
  m.hidden = 2048;
  m.num_layers = layers;
  m.num_dense_layers = layers;
  m.dense_intermediate = 8192;
  m.vocab = 1024;
  m.attention.kind = config::AttentionKind::GQA;
  m.attention.num_heads = 16;
  m.attention.num_kv_heads = 8;
  m.attention.head_dim = 128;
  m.max_seq_len = 8192;
  return m;
}

// 6-layer MoE (first layer dense) with MLA attention, 16 experts top-2, one shared expert, one MTP layer.
inline config::ModelConfig tiny_moe_model() {
  config::ModelConfig m = tiny_dense_model(6);
  m.name = "tiny-moe";
  m.num_dense_layers = 1;
  m.attention = {};
  m.attention.kind = config::AttentionKind::MLA;
  m.attention.num_heads = 16;
  m.attention.q_lora_rank = 512;
  m.attention.kv_lora_rank = 256;
  m.attention.qk_nope_head_dim = 64;
  m.attention.qk_rope_head_dim = 32;
  m.attention.v_head_dim = 64;
  config::MoeSpec moe;
  moe.num_routed_experts = 16;
  moe.num_shared_experts = 1;
  moe.top_k = 2;
  moe.expert_intermediate = 1024;
  moe.shared_expert_intermediate = 1024;
  m.moe = moe;
  m.mtp_layers = 1;
  return m;
}

inline config::ScenarioConfig training_scenario(const config::ModelConfig& model, config::ParallelLayout parallel,
                                                int seq_len, int micro_batch, int global_batch) {
  config::ScenarioConfig s;
  s.file = "<test-scenario>";
  s.name = "test";
  s.type = config::ScenarioType::Training;
  s.model = model;
  s.parallel = parallel;
  s.ranks = parallel.ranks();
  config::TrainingWorkload t;
  t.seq_len = seq_len;
  t.micro_batch_size = micro_batch;
  t.global_batch_size = global_batch;
  s.training = t;
  s.topology.device.memory_bytes.value = 64.0 * 1024 * 1024 * 1024;
  return s;
}

inline config::ParallelLayout layout(int tp, int pp, int dp, int vpp = 1, int cp = 1, int ep = 1,
                                     bool tp_extend_ep = false, bool sp = false, int padding = 0) {
  config::ParallelLayout p;
  p.tp = tp;
  p.pp = pp;
  p.dp = dp;
  p.vpp = vpp;
  p.cp = cp;
  p.ep = ep;
  p.tp_extend_ep = tp_extend_ep;
  p.sequence_parallel = sp;
  p.padding_layers = padding;
  return p;
}

}  // namespace moesim::test
