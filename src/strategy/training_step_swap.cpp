// Training step builder: swapped activations copied over the host link (selective recompute / swap).
#include "strategy/training_step_builder_internal.hpp"

namespace moesim::strategy::training_step_detail {

// Swapped activations over the host link (one direction per stream, bytes / host-link bandwidth): copied out once
// the part's forward ends; copied back from the start of the previous part's backward (the first part's from the
// start of the stage's previous task), and only after they are out; the part's backward waits for them.
void Builder::host_transfer(const Task& task, const BlockOp& op, const std::vector<int>& ranks,
                            std::map<int, std::vector<OpId>>& prefetched) {
  const SwapKey key{task.virtual_stage, task.micro_batch, op.part};
  if (op.host_copy == model::HostCopy::Wait) {
    const auto& ids = prefetched.at(op.part);
    for (std::size_t i = 0; i < ranks.size(); ++i) pending_[static_cast<std::size_t>(ranks[i])].push_back(ids[i]);
    return;
  }
  const double bandwidth = scenario_.topology.device.host_link_bandwidth_bytes_per_s.value;
  if (!(bandwidth > 0.0)) throw std::invalid_argument("swapping activations needs the device's host link bandwidth");
  const bool out = op.host_copy == model::HostCopy::Out;
  std::vector<OpId> ids;
  for (std::size_t i = 0; i < ranks.size(); ++i) {
    const auto r = static_cast<std::size_t>(ranks[i]);
    Op copy;
    copy.name = op.name;
    copy.phase = out ? "swap_out" : "swap_in";
    copy.kind = model::OpKind::Delay;
    copy.rank = ranks[i];
    copy.stream = out ? kSwapOut : kSwapIn;
    copy.delay_s = op.cost.bytes / bandwidth;
    if (out) {  // after the part's forward, including its async EP work
      if (last_compute_[r] >= 0) copy.deps.push_back(last_compute_[r]);
      copy.deps.insert(copy.deps.end(), in_flight_[r].begin(), in_flight_[r].end());
    } else {
      copy.deps.push_back(swapped_out_.at(key)[i]);
      const OpId trigger = task_first_[r] >= 0 ? last_compute_[r] : prev_task_first_[r];
      if (trigger >= 0) copy.deps.push_back(trigger);
    }
    ids.push_back(graph_.add(std::move(copy)));
  }
  if (out) {
    swapped_out_[key] = std::move(ids);
  } else {
    swapped_out_.erase(key);
    prefetched[op.part] = std::move(ids);
  }
}

}  // namespace moesim::strategy::training_step_detail
