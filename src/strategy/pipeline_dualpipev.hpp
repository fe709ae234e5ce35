#pragma once
// DualPipeV: the V-shaped DualPipe schedule (DeepSeek-AI, DualPipe repository, dualpipev.py, after the DeepSeek-V3
// report's DualPipe, arXiv 2412.19437; MindSpeed `--schedules-method dualpipev`, docs/features/dualpipev.md).
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

// Each stage holds two chunks placed in a V (model::ChunkPlacement::VShape): chunk 0 runs down the stages, chunk 1
// back up, so stage 0 holds the first and the last layers and the last stage turns a micro-batch around itself.
// Per stage s of pp, with m >= 2 pp micro-batches, the order of dualpipev.py (F0/F1 = forward of chunk 0/1, B =
// backward, W = deferred weight gradient, "&" = one overlapped forward-backward chunk, Pairing::WithNext):
//   1. 2 (pp - s - 1) x F0           2. (s + 1) x (F0, F1)        3. (pp - s - 1) x (B1 as B, its W, F1)
//   4. (m - 2 pp + s + 1) x (F0 & B1, F1 & B0), the last stage's first F0, B1 not overlapped
//   5. (pp - s - 1) x (B1, F1 & B0)  6. (s + 1) x (B1, B0), the second half split into B and a queued W
//   7. (pp - s - 1) x (W, B0 as B)   8. (s + 1) x W
// W's run in the order their B's ran. Needs vpp = 2.
class DualPipeV final : public PipelineSchedule {
 public:
  std::string name() const override { return "dualpipev"; }
  std::vector<PipelineTask> stage_order(int stage, int pp, int vpp, int micro_batches) const override;
  std::optional<LayoutProblem> layout_problem(int pp, int vpp, int micro_batches) const override;
  model::ChunkPlacement placement() const override { return model::ChunkPlacement::VShape; }
};

}  // namespace moesim::strategy
