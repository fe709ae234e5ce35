#include "model/inference_memory.hpp"

#include <algorithm>

#include "config/units.hpp"
#include "model/model_stats.hpp"

namespace moesim::model {

namespace {

using config::units::kGibibyte;

// Estimates (docs/inference.md "Memory"), the same conventions as the training memory model: the CANN runtime,
// operator workspaces and allocator fragmentation take ~1 GiB; HCCL reserves HCCL_BUFFSIZE (default 200 MB) per
// communicator.
constexpr double kRuntimeReserveBytes = 1.0 * kGibibyte;
constexpr double kCommBufferPerGroupBytes = 200.0 * 1024 * 1024;
// Live activation buffers of the largest step, in units of tokens x hidden (residual, norm output, attention
// output, MoE dispatch/combine buffers, GEMM output, ...).
constexpr double kActivationBuffers = 8.0;

double kv_share(const config::ScenarioConfig& s) {
  const auto& model = *s.model;
  if (model.attention.kind == config::AttentionKind::MLA) return 1.0;
  return std::max(1.0 / s.parallel.tp, 1.0 / model.attention.num_kv_heads);
}

}  // namespace

double inference_weight_bytes_per_rank(const config::ScenarioConfig& s, int redundant_experts_per_rank) {
  const auto p = param_breakdown(*s.model);
  const double tp = s.parallel.tp;
  const double ranks = s.parallel.ranks();
  double params = (p.attention + p.embedding + p.head + p.dense_ffn) / tp +
                  (p.routed_experts + p.shared_experts) / ranks + p.norms + p.router;
  if (s.model->moe && redundant_experts_per_rank > 0) {
    params += redundant_experts_per_rank * p.routed_experts / s.model->moe->num_routed_experts;
  }
  return params * config::bytes_per_element(s.inference->weight_dtype);
}

double inference_kv_bytes_per_rank(const config::ScenarioConfig& s, double tokens) {
  return tokens * kv_bytes_per_token(*s.model, s.inference->kv_dtype) * kv_share(s);
}

double inference_workspace_bytes(const config::ScenarioConfig& s, double tokens_per_step, double logit_rows) {
  const double act_bytes = config::bytes_per_element(
      s.inference->activation_dtype == config::Dtype::INT8 ? config::Dtype::FP16 : s.inference->activation_dtype);
  const int communicators = (s.parallel.tp > 1 ? 1 : 0) + (s.parallel.dp > 1 ? 1 : 0);
  const double activations = kActivationBuffers * tokens_per_step * s.model->hidden * act_bytes / s.parallel.dp;
  const double logits = 4.0 * logit_rows * s.model->vocab / s.parallel.tp;  // fp32
  return kRuntimeReserveBytes + communicators * kCommBufferPerGroupBytes + activations + logits;
}

InferenceMemory static_inference_memory(const config::ScenarioConfig& s, int redundant_experts_per_rank) {
  const auto& w = *s.inference;
  const bool decode = w.phase == config::InferencePhase::Decode;
  const double sequences = double(w.batch_size) / s.parallel.dp;  // per attention group, i.e. per rank's KV
  InferenceMemory m;
  m.device = s.topology.device.memory_bytes.value;
  m.weights = inference_weight_bytes_per_rank(s);
  m.redundant_expert_weights = inference_weight_bytes_per_rank(s, redundant_experts_per_rank) - m.weights;
  m.kv_cache = inference_kv_bytes_per_rank(s, sequences * (decode ? w.input_len + 1.0 : double(w.input_len)));
  const double tokens_per_step = decode ? double(w.batch_size) : double(w.batch_size) * w.input_len;
  m.workspace = inference_workspace_bytes(s, tokens_per_step, sequences);
  return m;
}

}  // namespace moesim::model
