#include "strategy/pipeline_1f1b.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace moesim::strategy {

std::optional<LayoutProblem> OneFOneB::layout_problem(int, int vpp, int) const {
  if (vpp == 1) return std::nullopt;
  return LayoutProblem{"/parallel/vpp", "pipeline schedule 1f1b runs one model chunk per stage, but vpp = " +
                                            std::to_string(vpp) + "; use interleaved_1f1b (or vpp 1)"};
}

std::vector<PipelineTask> OneFOneB::stage_order(int stage, int pp, int vpp, int micro_batches) const {
  if (const auto problem = layout_problem(pp, vpp, micro_batches)) throw std::invalid_argument(problem->message);
  if (stage < 0 || stage >= pp || micro_batches < 1) throw std::invalid_argument("1f1b: bad stage or micro-batches");
  const int warmup = std::min(pp - stage - 1, micro_batches);
  std::vector<PipelineTask> order;
  for (int m = 0; m < warmup; ++m) order.push_back({m, 0, true});
  for (int i = 0; i < micro_batches - warmup; ++i) {
    order.push_back({warmup + i, 0, true});
    order.push_back({i, 0, false});
  }
  for (int m = micro_batches - warmup; m < micro_batches; ++m) order.push_back({m, 0, false});
  return order;
}

}  // namespace moesim::strategy
