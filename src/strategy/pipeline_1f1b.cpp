#include "strategy/pipeline_1f1b.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace moesim::strategy {

std::vector<PipelineTask> OneFOneB::stage_order(int stage, int pp, int vpp, int micro_batches) const {
  if (vpp != 1) {
    throw std::invalid_argument("pipeline schedule 1f1b runs one model chunk per stage, but vpp = " +
                                std::to_string(vpp) + "; use interleaved_1f1b (or vpp 1)");
  }
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
