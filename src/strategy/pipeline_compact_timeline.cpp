#include "strategy/pipeline_compact_timeline.hpp"

#include <algorithm>
#include <stdexcept>

namespace moesim::strategy {

CompactTimeline::CompactTimeline(std::vector<std::vector<PipelineTask>> orders, model::ChunkPlacement placement,
                                 int vpp, int micro_batches, const TaskGrouping& grouping)
    : orders_(std::move(orders)),
      placement_(placement),
      pp_(static_cast<int>(orders_.size())),
      positions_(pp_ * vpp),
      micro_batches_(micro_batches) {
  for (const auto& order : orders_) {
    groups_.emplace_back();
    for (std::size_t i = 0; i < order.size();) {
      const std::size_t n = grouping ? std::max<std::size_t>(1, grouping(order, i)) : 1;
      groups_.back().push_back(std::min(n, order.size() - i));
      i += groups_.back().back();
    }
  }
}

std::size_t CompactTimeline::cell(const PipelineTask& task, int stage) const {
  const int position = model::pipeline_position(placement_, pp_, stage, task.chunk);
  return static_cast<std::size_t>(position * micro_batches_ + task.micro_batch);
}

double CompactTimeline::input_ready(const PipelineTask& task, int stage, const std::vector<double>& forward_end,
                                    const std::vector<double>& input_end) const {
  const int position = model::pipeline_position(placement_, pp_, stage, task.chunk);
  const std::size_t c = cell(task, stage);
  const auto step = static_cast<std::size_t>(micro_batches_);
  if (task.forward) return position > 0 ? forward_end[c - step] : 0.0;
  if (task.part == BackwardPart::Weight) return input_end[c];
  return position + 1 < positions_ ? input_end[c + step] : forward_end[c];
}

void CompactTimeline::mark(const PipelineTask& task, int stage, std::vector<double>& forward_end,
                           std::vector<double>& input_end, double at) const {
  if (task.forward) {
    forward_end[cell(task, stage)] = at;
  } else if (task.part != BackwardPart::Weight) {
    input_end[cell(task, stage)] = at;
  }
}

CompactRun CompactTimeline::run(const TaskDuration& duration) const {
  const std::size_t cells = static_cast<std::size_t>(positions_ * micro_batches_);
  std::vector<double> forward_end(cells, -1.0), input_end(cells, -1.0);  // -1: not yet
  std::vector<std::size_t> next_group(orders_.size(), 0), next_task(orders_.size(), 0);
  std::vector<double> free_at(orders_.size(), 0.0);
  CompactRun out;
  out.busy_s.assign(orders_.size(), 0.0);
  for (bool progress = true; progress;) {
    progress = false;
    for (std::size_t s = 0; s < orders_.size(); ++s) {
      const int stage = static_cast<int>(s);
      for (; next_group[s] < groups_[s].size(); ++next_group[s]) {
        const std::size_t first = next_task[s], count = groups_[s][next_group[s]];
        // the unit's own outputs count as there (a W after its B in one unit)
        for (std::size_t k = first; k < first + count; ++k) mark(orders_[s][k], stage, forward_end, input_end, 0.0);
        double ready = 0.0, work = 0.0;
        bool waiting = false;
        for (std::size_t k = first; k < first + count; ++k) {
          const double input = input_ready(orders_[s][k], stage, forward_end, input_end);
          waiting = waiting || input < 0.0;
          ready = std::max(ready, input);
          work += duration(stage, orders_[s][k]);
        }
        for (std::size_t k = first; k < first + count; ++k) mark(orders_[s][k], stage, forward_end, input_end, -1.0);
        if (waiting) break;  // an input from another stage is still missing
        free_at[s] = std::max(ready, free_at[s]) + work;
        out.busy_s[s] += work;
        for (std::size_t k = first; k < first + count; ++k)
          mark(orders_[s][k], stage, forward_end, input_end, free_at[s]);
        next_task[s] += count;
        out.makespan_s = std::max(out.makespan_s, free_at[s]);
        progress = true;
      }
    }
  }
  for (std::size_t s = 0; s < orders_.size(); ++s) {
    if (next_group[s] < groups_[s].size()) throw std::logic_error("pipeline timeline: the stage orders deadlock");
  }
  return out;
}

}  // namespace moesim::strategy
