#include "serving/kv_capacity.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "config/units.hpp"
#include "model/inference_memory.hpp"

namespace moesim::serving {

namespace {

using config::units::kGibibyte;

// The workspace of an instance: its largest step (max_tokens_per_step) and the logits of max_batch sequences.
double workspace_estimate(const config::ScenarioConfig& s) {
  return model::inference_workspace_bytes(s, s.serving->scheduler.max_tokens_per_step, s.serving->scheduler.max_batch);
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
  return model::inference_kv_bytes_per_rank(s, tokens);
}

KvCapacity kv_capacity(const config::ScenarioConfig& s) {
  KvCapacity k;
  const auto& serving = *s.serving;
  k.device_bytes = s.topology.device.memory_bytes.value;
  k.weight_bytes = model::inference_weight_bytes_per_rank(s);
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
