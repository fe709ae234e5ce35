#pragma once
// How the MoE token dispatch and combine of a training step cross the expert-parallel (EP) group. Chosen by the
// strategy family "moe_comm" (strategy/moe_comm.hpp); the blocks (model/moe_dispatch_blocks) turn it into
// collectives. docs/training.md ("MoE communication").

namespace moesim::model {

enum class MoeDispatch {
  AllToAllV,       // one AllToAllV of the routed token-expert rows over the whole EP group, each way
  HierarchicalEp,  // AllGather of the tokens across nodes (outer group), then AllToAllV inside the node (inner)
};

struct MoeCommPlan {
  MoeDispatch dispatch = MoeDispatch::AllToAllV;
  // HierarchicalEp only: the EP group spans `outer` nodes with `inner` members on each (outer x inner = EP size).
  int outer = 1;
  int inner = 1;
};

}  // namespace moesim::model
