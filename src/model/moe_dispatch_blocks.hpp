#pragma once
// The collectives that move a MoE layer's tokens to their experts and back, for ONE micro-batch on ONE rank, per
// the step's MoeCommPlan (strategy family "moe_comm"). Uniform routing (expected load): a rank routes T = tokens /
// tp tokens (tokens_moe) and sends T x top_k token-expert rows of `hidden` elements.
//  - AllToAllV: dispatch = AllToAllV of the T x top_k rows over the EP group (1/EP to each member), combine = the
//    same back. A token crosses the network once per selected expert on another node.
//  - HierarchicalEp ([U] "Hierarchical EP All-to-All", mechanism of MindSpeed moe-hierarchical-alltoallv): gather =
//    AllGather of the rank's T tokens over the outer group (same position on each of the `outer` nodes: RoCE), so
//    a token crosses the network once per node of the group whatever its experts; dispatch = AllToAllV inside the
//    node (inner group, HCCS) of the rows for this node's experts: outer x T tokens x top_k x 1/outer = T x top_k
//    rows, 1/inner to each member. Combine = the reverse: AllToAllV inside the node, then (after the unpermute has
//    summed each token's local experts) a ReduceScatter over the outer group returns each token's sum to its
//    owner. The combine side is assumed symmetric (MindSpeed documents only the dispatch).
// Routing metadata (top-k indices and scores, ~top_k x 12 bytes per token vs hidden x 2) is not sent.
// The backward mirrors every op (model/training_blocks backward_ops). docs/training.md ("MoE communication").
#include <vector>

#include "config/model_config.hpp"
#include "model/training_blocks.hpp"

namespace moesim::model {

struct MoeCommOps {
  std::vector<BlockOp> gather;    // before the permute: hierarchical AllGather over the outer group
  std::vector<BlockOp> dispatch;  // after the permute: AllToAllV over the EP group, or inside the node
  std::vector<BlockOp> combine;   // after the routed experts: the reverse AllToAllV
  std::vector<BlockOp> reduce;    // after the unpermute: hierarchical ReduceScatter over the outer group
};
// Empty lists when the EP group has one member.
MoeCommOps moe_comm_ops(const config::ModelConfig& model, const TrainingShape& shape);

// Bytes one MoE layer keeps per micro-batch on a rank for the backward because of the dispatch scheme (activation
// module "ep_allgather"): hierarchical: the outer x T gathered tokens plus their top-k scores (fp32) and expert
// indices (int64), which the backward's permute needs (MindSpeed saves them); 0 for AllToAllV (its rows are the
// "permute" module either way).
double moe_dispatch_activation_bytes(const config::ModelConfig& model, const TrainingShape& shape);

}  // namespace moesim::model
