#pragma once
// Internal to the inference step builder: emits the ops of one step (embedding, layers, head, MTP draft passes)
// into a StepBuilder under an InferenceStepPlan. Not a public interface; see inference_step_graph.hpp.
#include <optional>
#include <string>
#include <vector>

#include "config/scenario_config.hpp"
#include "model/inference_step_builder.hpp"
#include "model/inference_step_graph.hpp"
#include "model/inference_step_shape.hpp"

namespace moesim::model::detail {

// Cost helpers shared by the emitter files.
inline std::vector<int> rank_range(int first, int count) {
  std::vector<int> ranks(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) ranks[static_cast<std::size_t>(i)] = first + i;
  return ranks;
}

// `cost` with only `fraction` of its `weight_bytes` read (DuoStream chunks streaming the weights once).
inline ComputeCost with_weight_fraction(ComputeCost cost, double weight_bytes, double fraction) {
  cost.bytes -= weight_bytes * (1.0 - fraction);
  return cost;
}

// Width of the first FFN matmul: gate and up (SwiGLU) or up only (GELU).
inline double up_width(const config::ModelConfig& model, double intermediate) {
  return model.activation == config::FfnActivation::SwiGLU ? 2.0 * intermediate : intermediate;
}

// The element-wise activation between the two FFN matmuls over `rows` x `intermediate`.
inline ComputeCost activation_cost(const config::ModelConfig& model, const StepDtypes& d, double rows,
                                   double intermediate) {
  const double in = up_width(model, intermediate);
  return {OpClass::Vector, Dtype::FP16, 5.0 * rows * intermediate, rows * (in + intermediate) * d.act_bytes};
}

class StepEmitter {
 public:
  StepEmitter(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan);
  // The main pass runs `shape` (a mixed step) instead of the scenario's static step.
  StepEmitter(const config::ScenarioConfig& scenario, const InferenceStepPlan& plan, const StepShape& shape);
  OpGraph build();

 private:
  // One forward pass of the main model or of the MTP module; `prefix` names its ops, `phase` overrides the
  // breakdown phase of every op (empty = per op: attention, moe, tp_comm, ...).
  struct Pass {
    StepShape shape;
    std::string prefix;
    std::string phase;
  };

  // `layer`: the model layer (its expert load; the MTP module takes the last layer's)
  void emit_layer(const Pass& pass, const std::string& L, bool moe, int layer);
  void emit_attention(int rank, const Pass& pass, const std::string& L);
  void emit_expert_block(const Pass& pass, const std::string& L, int layer);
  // The expert ops of one rank for a `fraction` of the pass's tokens (DuoStream chunk; 1 = all); `dispatched`:
  // the host launches them (false for DuoStream chunks after the first: one fused kernel per op).
  // Under a skewed expert load the rank's rows (and touched experts) scale with its load factor in `layer`.
  void emit_expert_ops(int rank, const Pass& pass, const std::string& L, double fraction, bool dispatched,
                       int layer);
  void emit_dense_ffn(int rank, const Pass& pass, const std::string& L);
  void emit_head(const Pass& pass);
  void emit_mtp_pass(const Pass& pass);

  // A collective over `ranks` (group order); with a tiered plan it becomes an intra-tier and an inter-tier stage.
  // Returns, per rank of the instance, the member's last op (-1 for non-members).
  // `per_pair`: an AllToAllV's matrix (then `elements` is ignored).
  std::vector<OpId> collective(const std::string& name, const std::string& phase, CollectiveKind kind,
                               const std::vector<int>& ranks, double elements, Dtype dtype, bool async,
                               bool dispatched = true, const std::vector<double>& per_pair = {});
  void tp_collective(const Pass& pass, const std::string& name, CollectiveKind kind, double elements, Dtype dtype);
  std::vector<OpId> global_collective(const Pass& pass, const std::string& name, CollectiveKind kind, double elements,
                                      Dtype dtype, bool async = false, bool dispatched = true,
                                      const std::vector<double>& per_pair = {});
  Dtype allgather_dtype() const;  // payload of AllGathers feeding GEMMs
  std::string phase_of(const Pass& pass, const std::string& own) const;

  const config::ScenarioConfig& scenario_;
  const config::ModelConfig& model_;
  const config::ParallelLayout& p_;
  InferenceStepPlan plan_;
  StepDtypes d_;
  StepBuilder b_;
  std::optional<StepShape> main_shape_;
  ExpertLoad load_;  // the scenario's inference.expert_load under plan_.expert_placement
};

}  // namespace moesim::model::detail
