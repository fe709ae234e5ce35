#include "serving/kv_capacity.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "config/units.hpp"
#include "model/model_stats.hpp"

namespace moesim::serving {

namespace {

using config::units::kGibibyte;

// Estimates (docs/serving.md "KV cache"), the same conventions as the training memory model: the CANN runtime,
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

// Weights on one rank: attention, embedding, LM head and dense FFNs split over tp (each attention group holds a
// copy), routed and shared experts over every rank of the instance, norms and router replicated.
double weight_bytes_per_rank(const config::ScenarioConfig& s) {
  const auto p = model::param_breakdown(*s.model);
  const double tp = s.parallel.tp;
  const double ranks = s.parallel.ranks();
  const double params = (p.attention + p.embedding + p.head + p.dense_ffn) / tp +
                        (p.routed_experts + p.shared_experts) / ranks + p.norms + p.router;
  return params * config::bytes_per_element(s.inference->weight_dtype);
}

double workspace_estimate(const config::ScenarioConfig& s) {
  const auto& serving = *s.serving;
  const double act_bytes = config::bytes_per_element(
      s.inference->activation_dtype == config::Dtype::INT8 ? config::Dtype::FP16 : s.inference->activation_dtype);
  const int communicators = (s.parallel.tp > 1 ? 1 : 0) + (s.parallel.dp > 1 ? 1 : 0);
  const double activations =
      kActivationBuffers * serving.scheduler.max_tokens_per_step * s.model->hidden * act_bytes / s.parallel.dp;
  const double logits = 4.0 * serving.scheduler.max_batch * s.model->vocab / s.parallel.tp;  // fp32
  return kRuntimeReserveBytes + communicators * kCommBufferPerGroupBytes + activations + logits;
}

std::string gib(double bytes) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f GiB", bytes / kGibibyte);
  return text;
}

}  // namespace

std::string KvCapacity::note() const {
  char kib[32];
  std::snprintf(kib, sizeof kib, "%.1f KiB", kv_bytes_per_token / 1024.0);
  return " (per rank: " + gib(device_bytes) + " device memory - " + gib(weight_bytes) + " weights - " +
         gib(workspace_bytes) + " workspace, at " + kib + " of KV per token" +
         (attention_groups > 1 ? ", x " + std::to_string(attention_groups) + " attention groups" : "") + ")";
}

double kv_bytes_per_rank(const config::ScenarioConfig& s, double tokens) {
  const auto& model = *s.model;
  return tokens * model::kv_bytes_per_token(model, s.inference->kv_dtype) * kv_share(s);
}

KvCapacity kv_capacity(const config::ScenarioConfig& s) {
  KvCapacity k;
  const auto& serving = *s.serving;
  k.device_bytes = s.topology.device.memory_bytes.value;
  k.weight_bytes = weight_bytes_per_rank(s);
  if (serving.kv_cache.workspace_bytes) {
    k.workspace_bytes = serving.kv_cache.workspace_bytes->value;
    k.workspace_source = serving.kv_cache.workspace_bytes->source;
  } else {
    k.workspace_bytes = workspace_estimate(s);
    k.workspace_source =
        "estimate: 1 GiB runtime reserve + 200 MiB HCCL buffer per communicator + 8 x max_tokens_per_step x hidden "
        "activations + fp32 logits of max_batch (docs/serving.md)";
  }
  k.kv_bytes_per_token = kv_bytes_per_rank(s, 1.0);
  k.attention_groups = s.parallel.dp;
  k.block_tokens = serving.kv_cache.block_tokens;
  const double per_group = std::floor(k.free_bytes() / (k.kv_bytes_per_token * k.block_tokens));
  k.blocks = static_cast<long long>(std::max(0.0, per_group)) * k.attention_groups;
  if (k.blocks < 1) {
    throw std::invalid_argument(s.file + ": /serving/kv_cache: no room for the KV cache: the weights and workspace " +
                                "leave no block of " + std::to_string(k.block_tokens) + " tokens" + k.note());
  }
  return k;
}

}  // namespace moesim::serving
