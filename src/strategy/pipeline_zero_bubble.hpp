#pragma once
#include <memory>
#include <vector>

#include "config/json_reader.hpp"
#include "strategy/pipeline_schedule.hpp"

namespace moesim::strategy {

// ZB-H1 (Qi et al., "Zero Bubble Pipeline Parallelism", ICLR 2024, arXiv 2401.10241, section 3.1): the 1F1B order
// with every backward split into B (input gradient, sent on at once) and W (weight gradient). Stage s defers its
// first d_s W's and then runs the oldest deferred W after each B; the d_s left run at the end, filling the
// cool-down bubbles. d_s = peak in-flight of stage 0 minus that of stage s (= s for 1F1B), so that every stage
// holds at most what stage 0 holds under 1F1B: the same peak activation memory. Bubble (p-1)(T_F + T_B - T_W)
// instead of (p-1)(T_F + T_B + T_W) (tested on a unit-time pipeline).
// vpp > 1 (our generalisation, not in the paper): the same deferral rule applied to the interleaved 1F1B order
// (d_s = 2s); the paper's own vpp variant (ZB-V) needs a V-shaped layer placement and is not modelled.
// Param "max_deferred_w" (integer >= 0) caps d_s: with unequal stages (embedding, dense layers or padding on
// stage 0) the later stages hold larger micro-batches than stage 0 and the rule above raises their memory above
// 1F1B's worst stage; 0 = B and W split with no W deferred (the input gradient still leaves before W; in-flight
// counts equal to the base order's).
class ZeroBubbleH1 final : public PipelineSchedule {
 public:
  static constexpr int kUnlimited = -1;
  explicit ZeroBubbleH1(int max_deferred = kUnlimited) : max_deferred_(max_deferred) {}
  std::string name() const override { return "zero_bubble"; }
  std::vector<PipelineTask> stage_order(int stage, int pp, int vpp, int micro_batches) const override;
  std::optional<LayoutProblem> layout_problem(int pp, int vpp, int micro_batches) const override;

 private:
  int max_deferred_;
};

// Params: {"max_deferred_w": integer >= 0}.
void check_zero_bubble_params(config::ObjectReader& params);
std::unique_ptr<PipelineSchedule> make_zero_bubble(const nlohmann::json& params);

// Replaces every Whole backward of `order` by its B; the first `deferred` W's wait in a FIFO queue, after that each
// B is followed by the oldest queued W, and the queue is drained at the end.
std::vector<PipelineTask> defer_weight_gradients(const std::vector<PipelineTask>& order, int deferred);

}  // namespace moesim::strategy
