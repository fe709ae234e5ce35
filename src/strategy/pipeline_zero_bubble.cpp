#include "strategy/pipeline_zero_bubble.hpp"

#include <algorithm>
#include <deque>
#include <stdexcept>

#include "strategy/pipeline_1f1b.hpp"
#include "strategy/pipeline_interleaved_1f1b.hpp"

namespace moesim::strategy {

std::vector<PipelineTask> defer_weight_gradients(const std::vector<PipelineTask>& order, int deferred) {
  std::vector<PipelineTask> out;
  std::deque<PipelineTask> queued;
  int backwards = 0;
  for (const auto& task : order) {
    if (task.forward) {
      out.push_back(task);
      continue;
    }
    if (task.part != BackwardPart::Whole) throw std::invalid_argument("defer_weight_gradients: already split");
    out.push_back({task.micro_batch, task.chunk, false, BackwardPart::Input});
    queued.push_back({task.micro_batch, task.chunk, false, BackwardPart::Weight});
    if (++backwards > deferred) {
      out.push_back(queued.front());
      queued.pop_front();
    }
  }
  out.insert(out.end(), queued.begin(), queued.end());
  return out;
}

std::optional<LayoutProblem> ZeroBubbleH1::layout_problem(int pp, int vpp, int micro_batches) const {
  return InterleavedOneFOneB().layout_problem(pp, vpp, micro_batches);  // its base order at vpp > 1
}

std::vector<PipelineTask> ZeroBubbleH1::stage_order(int stage, int pp, int vpp, int micro_batches) const {
  if (stage < 0 || stage >= pp || vpp < 1 || micro_batches < 1) {
    throw std::invalid_argument("zero_bubble: bad stage, vpp or micro-batches");
  }
  auto base = [&](int s) {
    return vpp == 1 ? OneFOneB().stage_order(s, pp, vpp, micro_batches)
                    : InterleavedOneFOneB().stage_order(s, pp, vpp, micro_batches);
  };
  const auto order = base(stage);
  int deferred = peak_in_flight(base(0), vpp) - peak_in_flight(order, vpp);
  if (max_deferred_ != kUnlimited) deferred = std::min(deferred, max_deferred_);
  return defer_weight_gradients(order, deferred);
}

void check_zero_bubble_params(config::ObjectReader& params) {
  params.optional_integer("max_deferred_w", config::Range::NonNegative);
  params.finish();
}

std::unique_ptr<PipelineSchedule> make_zero_bubble(const nlohmann::json& params) {
  if (!params.is_object()) return std::make_unique<ZeroBubbleH1>();
  const auto cap = params.find("max_deferred_w");
  if (cap == params.end() || !cap->is_number_integer()) return std::make_unique<ZeroBubbleH1>();
  return std::make_unique<ZeroBubbleH1>(cap->get<int>());
}

}  // namespace moesim::strategy
