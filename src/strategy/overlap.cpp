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

namespace {

// A token (un)permutation that may sit inside an EP stage: vector-class compute (not a swap marker).
bool stage_compute_candidate(const model::BlockOp& op) {
  return !op.collective && op.host_copy == model::HostCopy::None && op.cost.op_class == config::OpClass::Vector;
}

}  // namespace

std::vector<EpStage> ep_stages(const std::vector<model::BlockOp>& ops) {
  std::vector<EpStage> stages;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    if (!is_ep_comm(ops[i])) continue;
    EpStage stage{i, i};
    for (std::size_t k = i + 1; k < ops.size(); ++k) {
      if (is_ep_comm(ops[k])) {
        stage.last = k;
      } else if (!stage_compute_candidate(ops[k])) {
        break;
      }
    }
    stages.push_back(stage);
    i = stage.last;
  }
  return stages;
}

std::vector<bool> ep_stage_compute(const std::vector<model::BlockOp>& ops) {
  std::vector<bool> inside(ops.size(), false);
  for (const auto& stage : ep_stages(ops)) {
    for (std::size_t k = stage.first; k <= stage.last; ++k) inside[k] = !ops[k].collective;
  }
  return inside;
}

}  // namespace moesim::strategy
