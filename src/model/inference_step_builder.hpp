#pragma once
// Internal to the inference step builders: appends ops rank by rank (compute on stream 0, collectives on
// stream 1, each compute op waiting for the collectives issued just before it on its rank), and the roofline
// cost of the step's matmul and element-wise ops. Not a public interface.
#include <string>
#include <vector>

#include "model/op_graph.hpp"

namespace moesim::model::detail {

class StepBuilder {
 public:
  explicit StepBuilder(int ranks);
  void compute(int rank, const std::string& name, const std::string& phase, ComputeCost cost);
  // Every member rank's op waits for the last compute op of that rank.
  void collective(const std::string& name, const std::string& phase, Collective collective);
  OpGraph take() { return std::move(graph_); }

 private:
  OpGraph graph_;
  std::vector<std::vector<OpId>> pending_;
  std::vector<OpId> last_;
};

// Element types and sizes of one step.
struct StepDtypes {
  Dtype gemm = Dtype::BF16;  // INT8 when both weights and activations are INT8 (W8A8)
  double weight_bytes = 2;   // per weight element
  double act_bytes = 2;      // per activation element (fp16/bf16 outside int8 GEMMs)
  double kv_bytes = 2;       // per KV-cache element
  Dtype comm = Dtype::BF16;  // collective payloads (fp16 activations under W8A8)
};

// `tokens` rows through a weight of `params_local` elements (in -> out features, activations read and written).
ComputeCost matmul_cost(const StepDtypes& d, double tokens, double params_local, double in, double out,
                        OpClass op_class = OpClass::Matmul);
// An element-wise op (norm, residual, embedding gather) over `tokens` x `elements_per_token`.
ComputeCost vector_cost(const StepDtypes& d, double tokens, double elements_per_token);

}  // namespace moesim::model::detail
