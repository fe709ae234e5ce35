#pragma once
// Step cost by interpolation in a profile of sample steps simulated on the engine (Vidur-style):
//  - decode steps: bilinear in (batch, mean KV length) over a grid of static decode steps;
//  - prefill: each sample is a static prefill of one prompt of L tokens per attention group (batch = dp); its
//    time splits into the attention-core ops (a function of the attention work W = sum C (offset + C/2)) and
//    the rest (a function of the step's tokens T); both piecewise linear;
//  - mixed (chunked-prefill) steps: rest(T + B) + attention(W) + the attention part of decode(B, L) (checked
//    against direct mixed-step simulations: tests/app/test_serving_mixed_step.cpp);
//  - KV transfer (P/D): piecewise linear in tokens over simulated transfers.
// Decode steps are priced by their sequences; StepShape::decode_tokens (speculative verify tokens) is not priced
// yet (the MTP verify cost belongs to the inference step builder).
// Outside a grid the end segments extrapolate linearly (below the first prefill sample: held constant).
// Every figure carries the per-class busy times of the sample steps (rank 0), interpolated alike.
#include <string>
#include <vector>

#include "model/op_graph.hpp"
#include "serving/step_cost.hpp"

namespace moesim::serving {

// One simulated sample: its step time and busy time per operator class (ProfiledStepCost::kClassNames order).
struct SampleCost {
  double time_s = 0;
  std::vector<double> class_s;
  double attention_s() const;  // the attention-class part (attention core ops)
};

struct StepProfile {
  std::vector<double> decode_batches;     // grid axis 1
  std::vector<double> decode_kv_lens;     // grid axis 2
  std::vector<SampleCost> decode;         // [batch index * kv count + kv index]
  std::vector<double> prefill_tokens;     // T of each prefill sample (whole instance), increasing
  std::vector<double> prefill_attention;  // W of each prefill sample, increasing
  std::vector<SampleCost> prefill;
  std::vector<double> transfer_tokens;  // P/D only, increasing
  std::vector<double> transfer_s;
};

class ProfiledStepCost : public StepCostModel {
 public:
  // The compute operator classes (config::kAllOpClasses: matmul, grouped_matmul, attention, vector), then
  // "communication" (collectives) and "host" (delays); class_index(op) is an op's position in it.
  static const std::vector<std::string>& kClassNames();
  static std::size_t class_index(const model::Op& op);
  explicit ProfiledStepCost(StepProfile profile);
  StepCost step(const StepShape& shape) const override;
  double kv_transfer_s(double tokens) const override;
  std::vector<std::string> class_names() const override { return kClassNames(); }
  const StepProfile& profile() const { return profile_; }

  // The pieces, exposed for tests and reports.
  SampleCost decode(double batch, double kv_len) const;
  SampleCost prefill_rest(double tokens) const;
  SampleCost prefill_attention(double work) const;

 private:
  StepProfile profile_;
  std::vector<SampleCost> rest_;       // prefill samples without their attention-core time
  std::vector<SampleCost> attention_;  // their attention-core time
};

}  // namespace moesim::serving
