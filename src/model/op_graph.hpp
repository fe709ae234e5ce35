#pragma once
// The operator graph the engine executes: per-rank streams of compute ops, collectives over rank
// groups, and delays, with dependencies across streams and ranks. Pure data; no SimGrid.
#include <cstdint>
#include <string>
#include <vector>

#include "config/common_types.hpp"
#include "model/label.hpp"

namespace moesim::model {

using config::Dtype;
using config::OpClass;

enum class CollectiveKind { SendRecv, Broadcast, AllReduce, ReduceScatter, AllGather, AllToAll, AllToAllV };
enum class CollectiveAlgorithm {
  Auto,             // engine picks: direct on full-mesh/switch fabrics, ring otherwise, hierarchical across nodes
  Ring,             // (p-1) steps around a ring; simulated as one aggregated flow per neighbour pair
  Direct,           // full-mesh: every rank exchanges with every other rank at once
  HalvingDoubling,  // recursive halving-doubling, log2(p) steps
  Hierarchical,     // intra-node phase, inter-node phase among same-local-rank peers, intra-node phase
};

std::string to_string(CollectiveKind kind);
std::string to_string(CollectiveAlgorithm algorithm);
bool parse_collective_kind(const std::string& text, CollectiveKind& out);
bool parse_collective_algorithm(const std::string& text, CollectiveAlgorithm& out);
std::vector<std::string> collective_kind_names();
std::vector<std::string> collective_algorithm_names();

// Sizes follow the nccl-tests convention, counted in elements of `dtype`:
//  AllReduce: buffer of `elements` on every rank.  AllGather: output of `elements` (each rank owns elements/p).
//  ReduceScatter: input of `elements` (each rank keeps elements/p).  AllToAll: each rank sends `elements`
//  in total, elements/p to each rank.  Broadcast: `elements` from `root`.  SendRecv: ranks[0] sends
//  `elements` to ranks[1].  AllToAllV: per_pair_elements[i * p + j] from ranks[i] to ranks[j].
struct Collective {
  CollectiveKind kind = CollectiveKind::AllReduce;
  CollectiveAlgorithm algorithm = CollectiveAlgorithm::Auto;
  std::vector<int> ranks;  // global ranks, in group order
  double elements = 0.0;
  std::vector<double> per_pair_elements;  // AllToAllV only, p*p
  Dtype dtype = Dtype::BF16;
  int root = 0;        // index into ranks (Broadcast)
  std::string fabric;  // optional: force a named fabric (e.g. "rdma" for KV transfer); empty = default route
  double bytes() const;  // elements * bytes_per_element(dtype) (sum of the matrix for AllToAllV)
};

struct ComputeCost {
  OpClass op_class = OpClass::Matmul;
  Dtype dtype = Dtype::BF16;
  double flops = 0.0;  // floating-point (or integer) operations, 2 per multiply-accumulate
  double bytes = 0.0;  // device-memory traffic (weights + activations + KV read/written)
  // false: a later iteration of a kernel that an earlier op launched (a DuoStream chunk after the first inside the
  // fused AGMM / GMMRS kernels), so no device launch overhead is added.
  bool launched = true;
};

enum class OpKind { Compute, Collective, Delay };

using OpId = std::int32_t;

struct Op {
  Label name;   // e.g. "L3.attn.qkv_proj" (interned: model/label.hpp)
  Label phase;  // for breakdowns: "attention", "moe", "ep_comm", "tp_comm", "dp_comm", "pp_comm", ...
  OpKind kind = OpKind::Compute;
  int rank = 0;
  int stream = 0;  // 0 = compute stream; 1.. = communication or other streams
  ComputeCost compute;     // Compute
  int collective = -1;     // Collective: index into OpGraph::collectives; every member rank has one op naming it
  double delay_s = 0.0;    // Delay: host-side time, framework overhead
  std::vector<OpId> deps;  // ops (any rank, any stream) that must finish first; all have smaller ids
};

// Ops run on their (rank, stream) in id order; an op starts when its stream is free and its deps are done.
struct OpGraph {
  int num_ranks = 0;
  std::vector<Op> ops;
  std::vector<Collective> collectives;

  OpId add(Op op);  // returns the new id
  int add_collective(Collective collective);
  // Adds the collective and one op per member rank (on `stream`), each depending on deps_per_member[i]
  // when given. Returns the op ids, in group order.
  std::vector<OpId> add_collective_ops(const std::string& name, const std::string& phase, Collective collective,
                                       int stream, const std::vector<std::vector<OpId>>& deps_per_member = {});
};

// Checks internal consistency (ranks in range, deps earlier, collectives with one op per member);
// throws std::invalid_argument naming the first problem.
void validate(const OpGraph& graph);

}  // namespace moesim::model
