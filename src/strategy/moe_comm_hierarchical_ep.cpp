#include "strategy/moe_comm_hierarchical_ep.hpp"

#include <stdexcept>
#include <string>

#include "model/training_layout.hpp"

namespace moesim::strategy {

model::MoeCommPlan HierarchicalEpComm::plan(const config::ScenarioConfig& scenario) const {
  if (scenario.type != config::ScenarioType::Training) {
    throw std::invalid_argument("hierarchical_ep lays out the MoE dispatch of training steps; this scenario is " +
                                config::to_string(scenario.type));
  }
  const auto& p = scenario.parallel;
  if (!scenario.model || !scenario.model->moe) throw std::invalid_argument("hierarchical_ep needs an MoE model");
  if (p.expert_parallel_size() < 2) {
    throw std::invalid_argument("hierarchical_ep needs expert parallelism (expert-parallel size is 1)");
  }
  const int per_node = scenario.topology.ranks_per_node();
  const model::TrainingLayout layout(p, p.dp, per_node);
  model::MoeCommPlan plan;
  plan.dispatch = model::MoeDispatch::HierarchicalEp;
  bool first = true;
  for (int stage = 0; stage < p.pp; ++stage) {
    for (const auto& group : layout.stage_groups(stage, &model::TrainingLayout::ep_group)) {
      std::vector<std::vector<int>> nodes;
      try {
        nodes = layout.ep_group_by_node(group.front());
      } catch (const std::invalid_argument& e) {  // uneven nodes
        throw std::invalid_argument(std::string("hierarchical_ep: ") + e.what());
      }
      if (nodes.size() < 2) {
        throw std::invalid_argument(
            "hierarchical_ep needs an expert-parallel group spanning nodes, but the group of rank " +
            std::to_string(group.front()) + " (" + std::to_string(group.size()) + " ranks) lies inside one node of " +
            std::to_string(per_node) + " ranks: there is no inter-node AllGather to save; use alltoallv");
      }
      const int outer = static_cast<int>(nodes.size());
      const int inner = static_cast<int>(nodes.front().size());
      if (!first && (outer != plan.outer || inner != plan.inner)) {
        throw std::invalid_argument("hierarchical_ep: expert-parallel groups are split differently over nodes (" +
                                    std::to_string(plan.outer) + " x " + std::to_string(plan.inner) + " vs " +
                                    std::to_string(outer) + " x " + std::to_string(inner) + ")");
      }
      plan.outer = outer;
      plan.inner = inner;
      first = false;
    }
  }
  return plan;
}

}  // namespace moesim::strategy
