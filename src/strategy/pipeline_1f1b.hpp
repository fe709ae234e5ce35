#pragma once
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

// 1F1B (PipeDream-Flush) as in Megatron-LM: pp - stage - 1 warm-up forwards, then one forward / one backward
// alternating, then the remaining backwards. Narayanan et al., SC'21 (arXiv 2104.04473) section 2.2.1.
class OneFOneB final : public PipelineSchedule {
 public:
  std::string name() const override { return "1f1b"; }
  std::vector<PipelineTask> stage_order(int stage, int pp, int vpp, int micro_batches) const override;
  std::optional<LayoutProblem> layout_problem(int pp, int vpp, int micro_batches) const override;
};

}  // namespace moesim::strategy
