#include "strategy/pipeline_interleaved_1f1b.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace moesim::strategy {

std::optional<LayoutProblem> InterleavedOneFOneB::layout_problem(int pp, int vpp, int micro_batches) const {
  if (vpp == 1 || micro_batches % pp == 0) return std::nullopt;
  return LayoutProblem{"/training/global_batch_size", "interleaved pipeline (vpp > 1) needs micro-batches (" +
                                                          std::to_string(micro_batches) + ") to be a multiple of pp (" +
                                                          std::to_string(pp) + ")"};
}

std::vector<PipelineTask> InterleavedOneFOneB::stage_order(int stage, int pp, int vpp, int micro_batches) const {
  if (stage < 0 || stage >= pp || vpp < 1 || micro_batches < 1) {
    throw std::invalid_argument("interleaved_1f1b: bad stage, vpp or micro-batches");
  }
  if (micro_batches % pp != 0) {  // also at vpp 1, where layout_problem lets the default 1f1b take it
    throw std::invalid_argument("interleaved pipeline needs micro-batches (" + std::to_string(micro_batches) +
                                ") to be a multiple of pp (" + std::to_string(pp) + ")");
  }
  const int total = micro_batches * vpp;
  // Virtual micro-batch k: micro-batches advance in groups of pp through the chunks (Megatron's mapping).
  auto task = [&](int k, bool forward) {
    const int group = k / (pp * vpp);
    int chunk = (k / pp) % vpp;
    if (!forward) chunk = vpp - 1 - chunk;
    return PipelineTask{group * pp + k % pp, chunk, forward};
  };
  const int warmup = std::min(total, (pp - stage - 1) * 2 + (vpp - 1) * pp);
  std::vector<PipelineTask> order;
  for (int k = 0; k < warmup; ++k) order.push_back(task(k, true));
  for (int i = 0; i < total - warmup; ++i) {
    order.push_back(task(warmup + i, true));
    order.push_back(task(i, false));
  }
  for (int k = total - warmup; k < total; ++k) order.push_back(task(k, false));
  return order;
}

}  // namespace moesim::strategy
