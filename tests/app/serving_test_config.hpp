#pragma once
// The serving block the serving-profile tests attach to the 300I Duo bs80 calibration scenario: Poisson arrivals,
// prompts 256-4096 and outputs 1-512 tokens (uniform), up to 128 sequences per step.
#include "config/scenario_config.hpp"

namespace moesim::test {

inline config::ServingConfig duo_serving_block(int max_tokens_per_step, bool chunked_prefill) {
  config::ServingConfig serving;
  serving.workload.arrival.kind = config::ArrivalKind::Poisson;
  serving.workload.arrival.rate_per_s = 1;
  serving.workload.prompt_tokens = {config::LengthKind::Uniform, 0, 0, 0, 256, 4096};
  serving.workload.output_tokens = {config::LengthKind::Uniform, 0, 0, 0, 1, 512};
  serving.scheduler.max_batch = 128;
  serving.scheduler.max_tokens_per_step = max_tokens_per_step;
  serving.scheduler.chunked_prefill = chunked_prefill;
  return serving;
}

}  // namespace moesim::test
