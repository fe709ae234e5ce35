#pragma once
// KV-cache capacity of one serving instance: per rank, device memory - weights - workspace, divided by the KV
// bytes one token takes on that rank, in paged blocks; an attention-DP instance holds dp such pools (one per
// attention group, pooled here). Conventions and estimates: docs/serving.md ("KV cache").
#include <string>

#include "config/scenario_config.hpp"

namespace moesim::serving {

struct KvCapacity {
  double device_bytes = 0;        // per rank
  double weight_bytes = 0;        // per rank, at the scenario's weight dtype
  double workspace_bytes = 0;     // per rank: runtime reserve + HCCL buffers + activations (or the scenario's value)
  std::string workspace_source;   // "estimate: ..." or the scenario's source
  double kv_bytes_per_token = 0;  // per rank (KV heads split over tp; MLA latent replicated)
  int attention_groups = 1;       // dp: independent KV pools in one instance
  int block_tokens = 128;
  long long blocks = 0;  // per instance (all attention groups)
  long long tokens() const { return blocks * block_tokens; }
  double free_bytes() const { return device_bytes - weight_bytes - workspace_bytes; }
  // ", from 64.0 GiB device - 17.1 GiB weights - 2.0 GiB workspace per rank at 48.0 KiB per token per rank": for
  // the "can never fit" error.
  std::string note() const;
};

// Throws std::invalid_argument when the weights and workspace leave no room for one block (naming the figures).
KvCapacity kv_capacity(const config::ScenarioConfig& scenario);

// KV bytes of `tokens` tokens on one rank of the instance (what a P/D transfer moves per rank).
double kv_bytes_per_rank(const config::ScenarioConfig& scenario, double tokens);

}  // namespace moesim::serving
