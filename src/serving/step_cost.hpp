#pragma once
// What one scheduler step of one model instance costs. The serving loop asks a StepCostModel; the real one
// (ProfiledStepCost, serving/profiled_step_cost.hpp) interpolates in step times simulated on the engine, tests use
// ConstantStepCost.
#include <string>
#include <vector>

namespace moesim::serving {

// The work of one step: decoding sequences (one query token each, or 1 + draft tokens under speculation) and
// prefill chunks (a chunk of C prompt tokens after `offset` tokens already in the KV cache).
struct StepShape {
  int decode_seqs = 0;
  double decode_tokens = 0;     // their query tokens: decode_seqs x (1 + draft tokens) under speculation
  double decode_kv_tokens = 0;  // sum of the decoding sequences' KV lengths
  int prefill_seqs = 0;
  double prefill_tokens = 0;     // sum of C
  double prefill_attention = 0;  // sum of C * (offset + C / 2): query-key pairs (causal), the attention work
  double mean_decode_kv() const { return decode_seqs > 0 ? decode_kv_tokens / decode_seqs : 0.0; }
};

struct StepCost {
  double time_s = 0;
  std::vector<double> class_s;  // busy time per operator class (StepCostModel::class_names), rank 0
};

class StepCostModel {
 public:
  virtual ~StepCostModel() = default;
  // Contract: shape has at least one decode sequence or one prefill token; time_s > 0.
  virtual StepCost step(const StepShape& shape) const = 0;
  // Time to move the KV cache of `tokens` tokens of one request from a prefill to a decode instance.
  virtual double kv_transfer_s(double tokens) const = 0;
  virtual std::vector<std::string> class_names() const { return {}; }
};

// Fixed times, for hand-computable tests: a decode step costs decode_s, a step with prefill tokens costs
// prefill_s + prefill_per_token_s * tokens (plus decode_s when it also decodes: chunked prefill).
class ConstantStepCost : public StepCostModel {
 public:
  double decode_s = 0.01;
  double prefill_s = 0.05;
  double prefill_per_token_s = 0.0;
  double transfer_s = 0.0;
  double transfer_per_token_s = 0.0;
  StepCost step(const StepShape& shape) const override {
    double time = shape.decode_seqs > 0 ? decode_s : 0.0;
    if (shape.prefill_tokens > 0) time += prefill_s + prefill_per_token_s * shape.prefill_tokens;
    return {time, {}};
  }
  double kv_transfer_s(double tokens) const override { return transfer_s + transfer_per_token_s * tokens; }
};

}  // namespace moesim::serving
