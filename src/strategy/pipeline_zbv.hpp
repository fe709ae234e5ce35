#pragma once
// ZB-V: the zero-bubble schedule on a V-shaped chunk placement (Qi et al., "Zero Bubble Pipeline Parallelism",
// ICLR 2024, arXiv 2401.10241, section 6 "ZB-V"; the order of PyTorch's ScheduleZBVZeroBubble,
// torch.distributed.pipelining). Peak activation memory of 1F1B, bubble near zero when F, B and W take alike.
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

// Each stage holds two chunks placed in a V (model::ChunkPlacement::VShape, as DualPipeV): chunk 0 runs down the
// stages, chunk 1 back up. Every backward is split into B (input gradient) and W (weight gradient). Per stage s of
// pp, with n = max(m, 2 pp - 1) micro-batch slots (F0/F1 = forward of chunk 0/1, B, W as above):
//   warm-up:   (2 (pp - s) - 1) x F0;  s x (F1, F0);  (pp - s) x (F1, B1, W1)
//   steady:    while F1 lags F0 or F0 < n: [F0], B0, W0, F1, B1, W1
//   cool-down: s x (B0, B1);  (pp - s) x (B0, the oldest pending W0);  the W1's left, then the W0's left
// then every task of a micro-batch >= m is dropped (PyTorch's max(): fewer micro-batches than the V needs).
// Every stage peaks at 2 pp chunk-micro-batches in flight (= 1F1B's stage 0). Needs vpp = 2.
class ZeroBubbleV final : public PipelineSchedule {
 public:
  std::string name() const override { return "zbv"; }
  std::vector<PipelineTask> stage_order(int stage, int pp, int vpp, int micro_batches) const override;
  std::optional<LayoutProblem> layout_problem(int pp, int vpp, int micro_batches) const override;
  model::ChunkPlacement placement() const override { return model::ChunkPlacement::VShape; }
};

}  // namespace moesim::strategy
