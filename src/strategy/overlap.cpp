#include "strategy/overlap.hpp"

#include "strategy/overlap_adaptive_pipe.hpp"

namespace moesim::strategy {

std::unique_ptr<OverlapStrategy> make_overlap_strategy(const config::ScenarioConfig& scenario) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kAdaptivePipeName)
      return std::make_unique<AdaptivePipe>(adaptive_pipe_options(spec.params, scenario.parallel));
  }
  return nullptr;
}

void check_overlap_layout(const config::ScenarioConfig& scenario, config::IssueCollector& issues) {
  for (const auto& spec : scenario.strategies) {
    if (spec.name == kAdaptivePipeName) check_adaptive_pipe_layout(scenario, spec, issues);
  }
}

std::vector<PlannedOp> sequential_plan(const std::vector<const std::vector<model::BlockOp>*>& lists) {
  std::vector<PlannedOp> plan;
  for (std::size_t t = 0; t < lists.size(); ++t) {
    for (std::size_t i = 0; i < lists[t]->size(); ++i) plan.push_back({static_cast<int>(t), i, false, true});
  }
  return plan;
}

bool is_ep_comm(const model::BlockOp& op) {
  return op.collective && op.phase == "ep_comm";
}

}  // namespace moesim::strategy
