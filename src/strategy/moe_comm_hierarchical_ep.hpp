#pragma once
// moe_comm "hierarchical_ep": Hierarchical EP All-to-All of Pangu Ultra MoE ([U] arXiv 2505.04519, "separates
// inter-node AllGather from intra-node All-to-All"; mechanism of MindSpeed moe-hierarchical-alltoallv, facts
// section 5). The EP group is split by node: dispatch = AllGather of the tokens across nodes (outer group: the
// members at the same position on each node, RoCE) then AllToAllV inside the node (inner group, HCCS); combine =
// AllToAllV inside the node then ReduceScatter across nodes (assumed symmetric). Volumes:
// model/moe_dispatch_blocks.hpp. Needs an EP group spanning >= 2 nodes with the same number of members on each.
#include "strategy/moe_comm.hpp"

namespace moesim::strategy {

inline constexpr const char* kHierarchicalEpName = "hierarchical_ep";
inline constexpr const char* kHierarchicalEpDescription =
    "hierarchical EP all-to-all: AllGather of the tokens across nodes, then AllToAllV inside the node (combine: "
    "reverse, ReduceScatter across nodes); a token crosses the network once per node, not once per expert "
    "([U] arXiv 2505.04519; MindSpeed moe-hierarchical-alltoallv)";

class HierarchicalEpComm final : public MoeCommStrategy {
 public:
  std::string name() const override { return kHierarchicalEpName; }
  // outer = nodes the EP group spans, inner = its members per node, checked over every EP group of the layout.
  model::MoeCommPlan plan(const config::ScenarioConfig& scenario) const override;
};

}  // namespace moesim::strategy
