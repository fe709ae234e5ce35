#pragma once
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

// Interleaved 1F1B (virtual pipeline stages) as in Megatron-LM's forward_backward_pipelining_with_interleaving:
// micro-batches go through the vpp chunks of a stage in groups of pp; warm-up (pp - stage - 1) x 2 + (vpp - 1) x pp
// forwards, then 1F1B. Narayanan et al., SC'21 (arXiv 2104.04473) section 2.2.2; needs micro-batches % pp == 0.
class InterleavedOneFOneB final : public PipelineSchedule {
 public:
  std::string name() const override { return "interleaved_1f1b"; }
  std::vector<PipelineTask> stage_order(int stage, int pp, int vpp, int micro_batches) const override;
  std::optional<LayoutProblem> layout_problem(int pp, int vpp, int micro_batches) const override;
};

}  // namespace moesim::strategy
