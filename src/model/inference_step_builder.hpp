#pragma once
// Internal to the inference step builders: appends ops rank by rank (compute on stream 0, collectives on
// stream 1, each compute op waiting for the collectives issued just before it on its rank), and the roofline
// cost of the step's matmul and element-wise ops. Not a public interface.
//
// Host dispatch (when the topology has a host_runtime): every rank has a host stream (kHostStream) of Delay ops,
// one per device op in program order (op_dispatch_s per compute op, collective_dispatch_s per collective), after
// a step-overhead Delay; each device op also waits for its own dispatch. The host runs ahead of the device (an
// unbounded launch queue), so dispatch is hidden when device ops are longer than their launch and exposed (the
// step is host-bound) when they are shorter.
#include <string>
#include <vector>

#include "model/microbenchmark_graph.hpp"
#include "model/op_graph.hpp"

namespace moesim::model::detail {

inline constexpr int kHostStream = 2;

// Host-side costs of issuing the step's work (0 = none).
struct HostCosts {
  double op_dispatch_s = 0;          // per compute op
  double collective_dispatch_s = 0;  // per collective, on each member rank
  double step_overhead_s = 0;        // once per step and rank, before the first dispatch
  bool any() const { return op_dispatch_s > 0 || collective_dispatch_s > 0 || step_overhead_s > 0; }
};

class StepBuilder {
 public:
  explicit StepBuilder(int ranks, HostCosts host = {});
  // Appends a compute op on the rank's compute stream; returns its id. Without `dispatched` the host issues no
  // separate launch for it (a later chunk of a fused kernel launched once).
  OpId compute(int rank, const std::string& name, const std::string& phase, ComputeCost cost, bool dispatched = true);
  // Every member's op waits for the last compute op of its rank (on the compute stream). Unless `async`, the next
  // compute op of each member waits for the collective (async: the caller adds that with wait_for). Without
  // `dispatched` the host issues no separate launch for it (a later stage of one fused collective).
  struct CollectiveOptions {
    bool async = false;
    bool dispatched = true;
  };
  std::vector<OpId> collective(const std::string& name, const std::string& phase, Collective collective,
                               CollectiveOptions options);
  // The next compute op of `rank` also waits for `op`.
  void wait_for(int rank, OpId op);
  // A host-side delay on every rank's host stream (e.g. a speculative-decoding framework's per-step overhead).
  void host_delay(const std::string& name, double seconds);
  // The last compute op of `rank` (-1 when none yet).
  OpId last_compute(int rank) const { return last_[static_cast<std::size_t>(rank)]; }
  int ranks() const { return graph_.num_ranks; }
  OpGraph take() { return std::move(graph_); }

 private:
  // The host op that a device op on `rank` waits for: a new dispatch Delay when the topology has host costs,
  // else the last host delay (or -1).
  OpId dispatch(int rank, const std::string& name, double seconds);

  OpGraph graph_;
  HostCosts host_;
  std::vector<OpId> host_tail_;  // last host op per rank (-1: none); every device op waits for its issuing op
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
